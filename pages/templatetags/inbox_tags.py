"""`{% inbox_unread as n %}`: how many of the user's feedback entries are unread, for the header's link."""
from __future__ import annotations

from django import template

from accounts import permissions
from annotations import rework

register = template.Library()


@register.simple_tag(takes_context=True)
def inbox_unread(context) -> int | None:
    """The unread count for a user who labels; None for anyone else (no inbox link)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_role(*permissions.LABEL):
        return None
    return rework.unread_count(user)
