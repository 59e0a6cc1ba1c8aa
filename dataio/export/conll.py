"""CoNLL-2003-style IOB2 (spans projects), from the items' final values.

One document per item with a final value, documents separated by a blank line:

    # id = 17
    # external_id = review-42
    Great\tB-PRAISE
    acting\tI-PRAISE
    ,\tO            (only if "," stood apart: tokens are runs of non-whitespace)

The text is split on whitespace; each token keeps its character offsets to be matched with the
spans. The rules:

- a token that overlaps a span (shares at least one character with it) gets the span's label, so a
  span that starts or ends inside a token tags the whole token;
- a token overlapping several spans goes to the span that starts first (the longer one on a tie);
  flat IOB cannot hold nested or crossing spans, so the other span keeps only its remaining tokens;
- a token is B- when the token before it is not in the same span, I- otherwise, so the tags are
  valid IOB2 whatever the spans;
- whitespace inside a label becomes "_", to keep the two tab-separated columns;
- the `# external_id` line is left out when the item has none.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from dataio.export import Spec

TOKEN = re.compile(r"\S+")
_SPACE = re.compile(r"\s+")


def tags(text: str, spans: list[dict]) -> list[tuple[str, str]]:
    """(token, IOB2 tag) for every whitespace-separated token of `text`."""
    tokens = [(m.start(), m.end(), m.group()) for m in TOKEN.finditer(text)]
    ends = [end for _, end, _ in tokens]
    owner: list[int | None] = [None] * len(tokens)
    ordered = sorted(spans, key=lambda s: (s["start"], -s["end"]))
    for k, span in enumerate(ordered):
        # The first token ending after the span's start, then every token starting before its end.
        i = bisect_right(ends, span["start"])
        while i < len(tokens) and tokens[i][0] < span["end"]:
            if owner[i] is None:
                owner[i] = k
            i += 1
    out = []
    for i, (_, _, token) in enumerate(tokens):
        k = owner[i]
        if k is None:
            out.append((token, "O"))
            continue
        label = _SPACE.sub("_", ordered[k]["label"])
        out.append((token, f"{'I' if i > 0 and owner[i - 1] == k else 'B'}-{label}"))
    return out


def _comment(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def document(row) -> str:
    """One item row's document: its comment lines, a token a line, and the blank line that ends it."""
    data = orjson.loads(row.data_json)
    value = orjson.loads(row.final_value_json) if row.final_value_json else {}
    lines = [f"# id = {row.id}"]
    if row.external_id is not None:
        lines.append(f"# external_id = {_comment(row.external_id)}")
    lines.extend(f"{token}\t{tag}" for token, tag in tags(str(data.get("text", "")), (value or {}).get("spans", [])))
    return "\n".join(lines) + "\n\n"


def write(spec: Spec) -> Iterator[bytes]:
    """The documents of the selected items, a chunk at a time."""
    for chunk in spec.chunks(annotations=False, reviews=False):
        yield "".join(document(row) for row in chunk.items).encode()
