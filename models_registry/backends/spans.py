"""Built-in sequence model for spans (named entities): a linear-chain CRF over word features.

Text is cut into words and punctuation marks (`tokenize`, which keeps each token's character
offsets), the final spans become BIO tags on those tokens, and a CRF (sklearn-crfsuite) learns the
tags from word features (lowercase form, shape, prefixes and suffixes, and the same for the
neighbouring words). Predicted tags become spans again, in character offsets of the text.

Confidences are the CRF's own probabilities given the whole text. A span is as sure as its least
sure token (the marginal probability of the token's predicted tag). An item's confidence is the
probability of its whole predicted tag sequence: that every span is right and no word outside them
is an entity, which is what accepting the item takes (for an item without spans, that all its words
are O). It is never above the least sure token's marginal, so never above any span's confidence,
and it is the better calibrated of the two: on the WNUT tweets of `bench/spans_active_learning.py`
its expected calibration error against "the item's spans are exactly right" is 0.13, the least
token marginal's 0.17. `uncertainty` is the mean token entropy of the marginals, normalised to
[0, 1], for the entropy and margin queue orders; least confidence orders by 1 - the item's
confidence, the classic sequence least-confidence.
"""
from __future__ import annotations

import bisect
import functools
import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from models_registry.backends.base import Backend, BackendError, Predictions

# Runs of letters and digits, and every other non-space character alone (`tokenize` then joins
# combining marks to their word: Python's \w has no accents written apart nor Indic vowel signs).
_TOKEN = re.compile(r"[^\W_]+|\S")
OUTSIDE = "O"


def _mark(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "M"


def tokenize(text: str) -> list[tuple[int, int]]:
    """Character offsets (start, end) of the words and punctuation marks of `text`, in order."""
    out: list[tuple[int, int]] = []
    for m in _TOKEN.finditer(text):
        a, b = m.span()
        if out and out[-1][1] == a and ((_mark(text[a]) and (text[a - 1].isalnum() or _mark(text[a - 1])))
                                        or (_mark(text[a - 1]) and text[a].isalnum())):
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _shape(word: str) -> str:
    out = []
    for ch in word:
        if ch.isupper():
            out.append("X")
        elif ch.islower():
            out.append("x")
        elif ch.isdigit():
            out.append("d")
        else:
            out.append(ch)
    return "".join(out)


_REPEATS = re.compile(r"(.)\1+")


def _short(shape: str) -> str:
    """The shape with repeats collapsed: "Xxxxx" -> "Xx", "dddd-dd" -> "d-d"."""
    return _REPEATS.sub(r"\1", shape)


# Words repeat (Zipf): the features of the most recent ones are kept, read-only, in a bounded cache.
@functools.lru_cache(maxsize=20_000)
def _word(word: str) -> dict[str, Any]:
    lower = word.lower()
    shape = _shape(word)
    return {"w": lower, "shape": _short(shape), "long": shape[:8], "p2": lower[:2], "p3": lower[:3],
            "s2": lower[-2:], "s3": lower[-3:], "title": word.istitle(), "upper": word.isupper(),
            "digit": word.isdigit(), "alpha": word.isalpha(), "len": min(len(word), 8)}


def features(words: list[str]) -> list[dict[str, Any]]:
    """Each word's features, with those of the words around it (pycrfsuite's dict format)."""
    own = [_word(w) for w in words]
    out = []
    n = len(words)
    for i in range(n):
        f: dict[str, Any] = {"bias": 1.0, **own[i]}
        for d in (-2, -1, 1, 2):
            j = i + d
            if 0 <= j < n:
                o = own[j]
                f.update({f"{d}:w": o["w"], f"{d}:shape": o["shape"], f"{d}:title": o["title"],
                          f"{d}:upper": o["upper"], f"{d}:s3": o["s3"]})
            elif abs(d) == 1:
                f["BOS" if d < 0 else "EOS"] = True
        out.append(f)
    return out


def bio_tags(tokens: list[tuple[int, int]], spans: list[dict]) -> list[str]:
    """BIO tags of the tokens: a token belongs to a span when their characters overlap.

    The spans must not overlap one another (`check_spans`); a span that touches only a part of a
    token takes the whole token.
    """
    tags = [OUTSIDE] * len(tokens)
    starts = [t[0] for t in tokens]
    for span in sorted(spans, key=lambda s: (s["start"], s["end"])):
        first = None
        for k in range(_first_token_ending_after(tokens, starts, span["start"]), len(tokens)):
            a, b = tokens[k]
            if a >= span["end"]:
                break
            if b <= span["start"] or tags[k] != OUTSIDE:
                continue  # a token two spans cut into goes to the first of them
            tags[k] = ("B-" if first is None else "I-") + span["label"]
            first = k if first is None else first
    return tags


def _first_token_ending_after(tokens, starts, offset: int) -> int:
    k = max(bisect.bisect_right(starts, offset) - 1, 0)
    while k < len(tokens) and tokens[k][1] <= offset:
        k += 1
    return k


def spans_of(tokens: list[tuple[int, int]], tags: list[str]) -> list[tuple[int, int, str]]:
    """(first token, last token + 1, label) of each span the tags mark (an I- without B- starts one)."""
    out: list[tuple[int, int, str]] = []
    start, label = -1, ""
    for k, tag in enumerate([*tags, OUTSIDE]):
        inside = tag != OUTSIDE and tag[2:] == label and tag.startswith("I-") and start >= 0
        if inside:
            continue
        if start >= 0:
            out.append((start, k, label))
            start, label = -1, ""
        if tag != OUTSIDE:
            start, label = k, tag[2:]
    return out


def check_spans(spans: list[dict], text: str | None = None) -> str | None:
    """Why these spans cannot be BIO tags (overlapping, or past the end of `text`), or None."""
    ordered = sorted(spans, key=lambda s: (s["start"], s["end"]))
    for before, after in zip(ordered, ordered[1:]):
        if after["start"] < before["end"]:
            return (f"spans overlap: {before['label']} {before['start']}–{before['end']} and "
                    f"{after['label']} {after['start']}–{after['end']}")
    if text is not None:
        for s in ordered:
            if s["end"] > len(text) or s["start"] < 0:
                return (f"span {s['label']} {s['start']}–{s['end']} is outside its text "
                        f"({len(text)} characters)")
    return None


@dataclass
class _Tagged:
    spans: list[dict]
    confidence: float
    uncertainty: float


def _tag(tagger, labels: set[str], text: str) -> _Tagged:
    """The spans one text gets, with confidences, from an open pycrfsuite tagger."""
    tokens = tokenize(text)
    if not tokens:
        return _Tagged([], 1.0, 0.0)
    tagger.set(features([text[a:b] for a, b in tokens]))
    tags = tagger.tag()
    names = tagger.labels()
    # marginals[k, j]: P(token k has tag names[j] | the whole text)
    marginals = np.array([[tagger.marginal(name, k) for name in names] for k in range(len(tokens))])
    column = {name: j for j, name in enumerate(names)}
    sure = marginals[np.arange(len(tokens)), [column[t] for t in tags]]
    p = np.clip(marginals, 1e-12, 1.0)
    entropy = -(p * np.log(p)).sum(axis=1) / math.log(len(names)) if len(names) > 1 else np.zeros(len(tokens))
    spans = []
    for first, end, label in spans_of(tokens, tags):
        if label not in labels:
            continue  # a label the project no longer has
        spans.append({"start": tokens[first][0], "end": tokens[end - 1][1], "label": label,
                      "score": round(float(sure[first:end].min()), 6)})
    return _Tagged(spans, float(tagger.probability(tags)), float(entropy.mean()))


class SpansBackend(Backend):
    name = "builtin_spans"

    def fit(self, data: list[dict], targets: list[Any]) -> Any:
        """Fit a CRF on the texts of `data` and their spans (`targets`: lists of {start, end, label})."""
        import sklearn_crfsuite

        xs, ys = [], []
        for d, spans in zip(data, targets):
            text = d.get("text") if isinstance(d, dict) else None
            if not isinstance(text, str):
                raise BackendError("Every spans item needs a text; one of the labeled items has none.")
            problem = check_spans(spans, text)
            if problem:
                raise BackendError(f"A final value cannot train the sequence model: {problem}. "
                                   f"Text: {text[:80]!r}")
            tokens = tokenize(text)
            xs.append(features([text[a:b] for a, b in tokens]))
            ys.append(bio_tags(tokens, spans))
        if not any(tag != OUTSIDE for tags in ys for tag in tags):
            raise BackendError("Training needs at least one marked span in the labeled items.")
        crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.05, c2=0.05, max_iterations=100,
                                   all_possible_transitions=True)
        crf.fit(xs, ys)
        return crf

    def predict_values(self, model: Any, data: list[dict], ids: list[int] | None = None) -> Predictions:
        """Spans per text, one text at a time: nothing but the batch's results is kept."""
        values: list[dict] = []
        scores: list[dict] = []
        n = len(data)
        confidence, uncertainty = np.zeros(n), np.zeros(n)
        ok = np.ones(n, dtype=bool)
        for k, tagged in enumerate(self._tag_all(model, data)):
            if tagged is None:
                ok[k] = False
                values.append({"spans": []})
                scores.append({})
                continue
            values.append({"spans": [{key: s[key] for key in ("start", "end", "label")} for s in tagged.spans]})
            scores.append({"spans": tagged.spans})
            confidence[k], uncertainty[k] = tagged.confidence, tagged.uncertainty
        return Predictions(values, confidence, ok, scores, uncertainty=uncertainty)

    def _tag_all(self, model: Any, data: list[dict]) -> Iterator[_Tagged | None]:
        tagger = model.tagger_
        labels = set(self.labels)
        for d in data:
            text = d.get("text") if isinstance(d, dict) else None
            yield _tag(tagger, labels, text) if isinstance(text, str) else None
