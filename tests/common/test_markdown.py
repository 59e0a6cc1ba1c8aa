"""Instructions in Markdown become sanitized HTML: formatting kept, scripts, handlers and unsafe links gone."""
from __future__ import annotations

import re

from common.markdown import render, render_tree, sanitize

ATTACKS = ('<script>alert(1)</script>\n\nHi <img src="x.png" onerror="alert(2)"> '
           '<a href="javascript:alert(3)" onclick="alert(4)">click</a> [md](javascript:alert(5)) '
           '![pic](javascript:alert(8)) <b style="color:red" onmouseover="alert(6)">b</b> '
           '<iframe src="https://evil"></iframe>\n\n<svg onload="alert(7)"></svg>')


def tags_of(html: str) -> list[str]:
    """The markup of `html`: its tags with their attributes (escaped text left out)."""
    return re.findall(r"<[a-zA-Z/][^>]*>", html)


def test_markdown_is_rendered():
    html = render("# Rules\n\n**Sarcasm** is *neg*.\n\n- one\n- two\n\n[guide](https://example.com/g)\n\n"
                  "| a | b |\n|---|---|\n| 1 | 2 |\n\n![logo](https://example.com/l.png)")
    assert "<h1>Rules</h1>" in html and "<strong>Sarcasm</strong>" in html and "<em>neg</em>" in html
    assert "<li>one</li>" in html and "<td>1</td>" in html
    assert '<a href="https://example.com/g" rel="noopener noreferrer nofollow">guide</a>' in html
    assert '<img src="https://example.com/l.png" alt="logo">' in html


def test_scripts_event_handlers_and_javascript_links_are_stripped():
    html = render(ATTACKS)
    markup = " ".join(tags_of(html)).lower()
    for bad in ("<script", "onerror", "onclick", "onmouseover", "onload", "javascript:", "<iframe", "<svg",
                "style=", "<img"):
        assert bad not in markup, (bad, html)
    # HTML typed into the instructions shows as the text it is, never as markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_sanitizer_strips_what_markup_gets_through():
    html = sanitize('<p>ok</p><script>alert(1)</script><img src="x.png" onerror="alert(2)">'
                    '<a href="javascript:alert(3)" onclick="alert(4)">click</a><b style="x" onmouseover="y">b</b>'
                    '<iframe src="https://evil"></iframe><svg onload="alert(7)"></svg>')
    assert html == '<p>ok</p><img src="x.png"><a rel="noopener noreferrer nofollow">click</a>b'


def test_the_tree_holds_the_same_sanitized_elements():
    assert render_tree("**Hi** <script>x</script> [a](https://e.org)") == [
        {"tag": "p", "attrs": {}, "children": [
            {"tag": "strong", "attrs": {}, "children": ["Hi"]}, " <script>x</script> ",
            {"tag": "a", "attrs": {"href": "https://e.org", "rel": "noopener noreferrer nofollow"},
             "children": ["a"]}]},
        "\n"]


def test_no_text_is_no_html():
    assert render("") == "" and render_tree("") == []
