"""`{{ text|markdown }}`: Markdown rendered to sanitized HTML (common.markdown), safe to put in a page."""
from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from common.markdown import render

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str | None) -> SafeString:
    """Sanitized HTML of Markdown `text`; nh3 has removed scripts, event handlers and unsafe links."""
    return mark_safe(render(text or ""))  # noqa: S308 - sanitized by common.markdown.render
