"""Project instructions written in Markdown, rendered to HTML that is safe to put in a page.

markdown-it-py renders CommonMark (plus tables and strikethrough) with raw HTML off: HTML typed into the
instructions shows as the text it is (as it did before they were Markdown), never as markup. nh3 (the Rust
`ammonia` sanitizer) then keeps only an allow-list of tags, attributes and URL schemes, so neither a
`<script>`, an `on*` attribute, a `style` nor a `javascript:` link reaches the browser: the sanitizer is
the wall, and the Markdown step is not trusted to be safe on its own.
"""
from __future__ import annotations

from html.parser import HTMLParser

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])

TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr", "th", "td",
}
# No `style` (the Content-Security-Policy refuses inline styles anyway): a table column's alignment is lost.
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}
MAX_LENGTH = 100_000


def render(text: str) -> str:
    """Sanitized HTML of Markdown `text` ("" for none); safe to put in a page unescaped."""
    if not text:
        return ""
    return sanitize(_md.render(text[:MAX_LENGTH]))


def sanitize(html: str) -> str:
    """`html` with only the allowed tags, attributes and link schemes left (no scripts, handlers, styles)."""
    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES,
                     link_rel="noopener noreferrer nofollow")


VOID = {"br", "hr", "img"}
Node = str | dict


def render_tree(text: str) -> list[Node]:
    """`render(text)` as a tree a script builds with createElement: text nodes are strings, elements are
    `{"tag", "attrs", "children"}` (only the sanitizer's tags and attributes), so no page writes HTML."""
    builder = _TreeBuilder()
    builder.feed(render(text))
    builder.close()
    return builder.root


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: list[Node] = []
        self.stack: list[list[Node]] = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        children: list[Node] = []
        self.stack[-1].append({"tag": tag, "attrs": {k: v or "" for k, v in attrs}, "children": children})
        if tag not in VOID:
            self.stack.append(children)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].append({"tag": tag, "attrs": {k: v or "" for k, v in attrs}, "children": []})

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and len(self.stack) > 1:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].append(data)
