"""The built-in text model's TF-IDF features, computed in bulk: the same numbers as scikit-learn's
`TfidfVectorizer.transform`, many times faster on large batches (pre-labeling a million items).

scikit-learn builds every n-gram of every document as a Python string and counts them in a Python
loop: about 0.1 ms a snippet for the character 3-5-grams alone (105 s for a million items). Here:

- character n-grams within word boundaries (`analyzer="char_wb"`) depend only on the word, so each
  distinct word's n-gram counts are computed once and cached (`_WordNgrams`), and a batch's count
  matrix is (documents x words) @ (words x n-grams), one sparse product;
- word n-grams (`analyzer="word"`, n <= 2): the tokens of a whole batch are mapped to ids in one pass
  (`map` over a dict, no Python frame per token), and bigrams are found with numpy by a sorted key
  array of the vocabulary's bigrams.

Then the same sublinear tf, idf and norm as `TfidfTransformer.transform`. `supports` says whether a
fitted vectorizer is one this module reproduces exactly (default preprocessing, no stop words, no
custom analyzer...); anything else keeps scikit-learn's own transform. `tests/models_registry/
test_text_features.py` pins the equality on awkward texts (accents, Greek final sigma, tabs, empty).
"""
from __future__ import annotations

import weakref
from array import array
from itertools import chain, repeat

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import normalize

# Distinct words whose character n-grams are kept per vectorizer; past that the cache starts afresh
# (memory stays bounded whatever the project's size; a word's entry is ~40 n-gram indices).
MAX_CACHED_WORDS = 300_000


def supports(vec) -> bool:
    """Whether `vec` is a fitted TfidfVectorizer whose transform this module reproduces."""
    if type(vec) is not TfidfVectorizer or not hasattr(vec, "vocabulary_") or not hasattr(vec, "_tfidf"):
        return False
    p = vec.get_params()
    if (p["input"] != "content" or p["preprocessor"] is not None or p["tokenizer"] is not None
            or p["strip_accents"] is not None or p["stop_words"] is not None or p["binary"]
            or p["dtype"] not in (np.float64, "float64") or p["norm"] not in ("l2", "l1", None)):
        return False
    lo, hi = p["ngram_range"]
    if p["analyzer"] == "char_wb":
        return 1 <= lo <= hi
    if p["analyzer"] == "word":
        return 1 <= lo <= hi <= 2
    return False


def supported_union(pipeline) -> bool:
    """A Pipeline([FeatureUnion of supported vectorizers, classifier]), as `TextBackend.fit` builds it."""
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        return False
    union = pipeline.steps[0][1]
    return (type(union) is FeatureUnion and union.transformer_weights is None
            and all(supports(t) for _, t in union.transformer_list))


def union_transform(union: FeatureUnion, texts: list[str]) -> sp.csr_matrix:
    """`union.transform(texts)` for a FeatureUnion that `supported_union` accepted."""
    vectorizers = [vec for _, vec in union.transformer_list]
    lowered = [t.lower() for t in texts] if any(v.lowercase for v in vectorizers) else texts
    pair = _pair(vectorizers)
    counts: dict[int, sp.csr_matrix] = {}
    if pair is not None:  # the word tokens come from the character plan's word cache too
        w, c = pair
        counts[c], counts[w] = _plan(vectorizers[c]).counts(lowered, tokens_for=_plan(vectorizers[w]))
    blocks = [_tfidf(vec, counts[k] if k in counts else _plan(vec).counts(lowered if vec.lowercase else texts))
              for k, vec in enumerate(vectorizers)]
    return sp.hstack(blocks, format="csr")


DEFAULT_TOKEN_PATTERN = TfidfVectorizer().token_pattern


def _pair(vectorizers: list) -> tuple[int, int] | None:
    """(word vectorizer, char_wb vectorizer) positions when the word one's tokens can be read word by word:
    both lowercase, and the default token pattern (`\\b\\w\\w+\\b` never spans whitespace, and a word's
    edges are boundaries alone as in its text), so a text's tokens are its whitespace-split words' tokens."""
    words = [k for k, v in enumerate(vectorizers) if v.analyzer == "word"]
    chars = [k for k, v in enumerate(vectorizers) if v.analyzer == "char_wb"]
    if len(words) != 1 or len(chars) != 1:
        return None
    w, c = vectorizers[words[0]], vectorizers[chars[0]]
    if not (w.lowercase and c.lowercase and w.token_pattern == DEFAULT_TOKEN_PATTERN):
        return None
    return words[0], chars[0]


def transform(vec: TfidfVectorizer, texts: list[str]) -> sp.csr_matrix:
    """`vec.transform(texts)` for a vectorizer that `supports` accepted."""
    return _tfidf(vec, _plan(vec).counts([t.lower() if vec.lowercase else t for t in texts]))


def _tfidf(vec: TfidfVectorizer, counts: sp.csr_matrix) -> sp.csr_matrix:
    """`TfidfTransformer.transform` of the count matrix (in place)."""
    tf = vec._tfidf
    if tf.sublinear_tf:
        np.log(counts.data, counts.data)
        counts.data += 1.0
    if hasattr(tf, "idf_"):
        counts.data *= tf.idf_[counts.indices]
    if tf.norm is not None:
        counts = normalize(counts, norm=tf.norm, copy=False)
    return counts


# One plan per fitted vectorizer (its vocabulary's arrays and, for characters, the word cache);
# weak keys: a model that is no longer loaded takes its plan with it.
_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _plan(vec: TfidfVectorizer):
    plan = _PLANS.get(vec)
    if plan is None:
        plan = _WordNgrams(vec) if vec.analyzer == "word" else _CharWbNgrams(vec)
        _PLANS[vec] = plan
    return plan


def _matrix(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> sp.csr_matrix:
    """Counts of (row, col) pairs as a float64 CSR matrix with sorted indices."""
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(n_rows, n_cols))
    m.sum_duplicates()
    return m


class _WordNgrams:
    """Word unigrams and bigrams of lowercased documents, by token ids."""

    def __init__(self, vec: TfidfVectorizer):
        self.lo, self.hi = vec.ngram_range
        self.n_features = len(vec.vocabulary_)
        self.tokenize = vec.build_tokenizer()
        tokens: dict[str, int] = {}
        parts = [(term.split(" "), j) for term, j in vec.vocabulary_.items()]
        for words, _ in parts:
            for w in words:
                tokens.setdefault(w, len(tokens))
        self.tokens = tokens
        t = max(len(tokens), 1)
        self.unigram = np.full(t, -1, dtype=np.int64)
        bigram_keys, bigram_features = [], []
        for words, j in parts:
            if len(words) == 1:
                self.unigram[tokens[words[0]]] = j
            elif len(words) == 2:
                bigram_keys.append(tokens[words[0]] * t + tokens[words[1]])
                bigram_features.append(j)
        order = np.argsort(np.asarray(bigram_keys, dtype=np.int64), kind="stable")
        self.bigram_keys = np.asarray(bigram_keys, dtype=np.int64)[order]
        self.bigram_features = np.asarray(bigram_features, dtype=np.int64)[order]
        self.t = t

    def token_ids(self, text: str) -> list[int]:
        """The ids of a text's tokens (-1: a token no feature has)."""
        return [self.tokens.get(t, -1) for t in self.tokenize(text)]

    def counts(self, lowered: list[str]) -> sp.csr_matrix:
        n = len(lowered)
        per_doc = list(map(self.tokenize, lowered))
        lengths = np.fromiter(map(len, per_doc), dtype=np.int64, count=n)
        total = int(lengths.sum())
        ids = np.fromiter(map(self.tokens.get, chain.from_iterable(per_doc), repeat(-1)), dtype=np.int64,
                          count=total)
        return self.from_tokens(ids, np.repeat(np.arange(n, dtype=np.int64), lengths), n)

    def from_tokens(self, ids: np.ndarray, doc: np.ndarray, n: int) -> sp.csr_matrix:
        """Counts of n documents whose token ids, in order, are `ids` (`doc`: each one's document)."""
        total = len(ids)
        rows, cols = [], []
        if self.lo == 1:
            known = ids >= 0
            f = self.unigram[ids[known]]
            keep = f >= 0
            rows.append(doc[known][keep])
            cols.append(f[keep])
        if self.hi == 2 and total > 1 and len(self.bigram_keys):
            a, b = ids[:-1], ids[1:]
            valid = (doc[:-1] == doc[1:]) & (a >= 0) & (b >= 0)
            keys = a[valid] * self.t + b[valid]
            pos = np.searchsorted(self.bigram_keys, keys)
            pos[pos == len(self.bigram_keys)] = 0
            hit = self.bigram_keys[pos] == keys
            rows.append(doc[:-1][valid][hit])
            cols.append(self.bigram_features[pos[hit]])
        if not rows:
            return sp.csr_matrix((n, self.n_features), dtype=np.float64)
        return _matrix(np.concatenate(rows), np.concatenate(cols), n, self.n_features)


class _CharWbNgrams:
    """Character n-grams inside word boundaries: a document's counts are the sum of its words'.

    Each distinct word's (n-gram index, count) pairs sit in two flat arrays, at `start[word]` for
    `length[word]` entries; a batch gathers the rows of its words with numpy.
    """

    def __init__(self, vec: TfidfVectorizer):
        self.lo, self.hi = vec.ngram_range
        self.vocabulary = vec.vocabulary_
        self.n_features = len(vec.vocabulary_)
        self._reset()

    def _reset(self) -> None:
        self.words: dict[str, int] = {}
        self.grams = array("i")  # n-gram (feature) indices of every cached word, word after word
        self.times = array("i")  # how often each occurs in its word
        self.start = array("q")
        self.length = array("q")
        # With a word plan (`counts(tokens_for=...)`): each word's token ids, the same way.
        self.token_plan: _WordNgrams | None = None
        self.tokens = array("q")
        self.token_start = array("q")
        self.token_length = array("q")

    def _ngrams(self, word: str) -> list[str]:
        """scikit-learn's `_char_wb_ngrams` of one word (already split on whitespace)."""
        w = " " + word + " "
        w_len = len(w)
        out = []
        for n in range(self.lo, self.hi + 1):
            offset = 0
            out.append(w[offset:offset + n])
            while offset + n < w_len:
                offset += 1
                out.append(w[offset:offset + n])
            if offset == 0:  # a short word (w_len < n) counts only once
                break
        return out

    def _add(self, word: str) -> int:
        found: dict[int, int] = {}
        vocabulary = self.vocabulary
        for gram in self._ngrams(word):
            j = vocabulary.get(gram)
            if j is not None:
                found[j] = found.get(j, 0) + 1
        self.start.append(len(self.grams))
        self.length.append(len(found))
        self.grams.extend(found.keys())
        self.times.extend(found.values())
        if self.token_plan is not None:
            tokens = self.token_plan.token_ids(word)
            self.token_start.append(len(self.tokens))
            self.token_length.append(len(tokens))
            self.tokens.extend(tokens)
        self.words[word] = len(self.start) - 1
        return len(self.start) - 1

    def counts(self, lowered: list[str], tokens_for: _WordNgrams | None = None):
        """The n-gram count matrix; with `tokens_for`, also that word plan's count matrix (a pair)."""
        n = len(lowered)
        if len(self.words) > MAX_CACHED_WORDS or tokens_for is not self.token_plan:
            self._reset()
            self.token_plan = tokens_for
        # sklearn collapses runs of whitespace, then splits on whitespace: the same words as split().
        per_doc = list(map(str.split, lowered))
        lengths = np.fromiter(map(len, per_doc), dtype=np.int64, count=n)
        words = list(chain.from_iterable(per_doc))
        del per_doc
        ids = np.fromiter(map(self.words.get, words, repeat(-1)), dtype=np.int64, count=len(words))
        for k in np.flatnonzero(ids < 0).tolist():
            word = words[k]
            cached = self.words.get(word)
            ids[k] = cached if cached is not None else self._add(word)
        del words
        word_doc = np.repeat(np.arange(n, dtype=np.int64), lengths)
        grams = self._grams(ids, word_doc, n)
        if tokens_for is None:
            return grams
        start = np.frombuffer(self.token_start, dtype=np.int64)[ids] if len(ids) else np.zeros(0, np.int64)
        length = np.frombuffer(self.token_length, dtype=np.int64)[ids] if len(ids) else np.zeros(0, np.int64)
        tokens = np.frombuffer(self.tokens, dtype=np.int64)[_ranges(start, length)] if len(self.tokens) else \
            np.zeros(0, np.int64)
        return grams, tokens_for.from_tokens(tokens, np.repeat(word_doc, length), n)

    def _grams(self, ids: np.ndarray, word_doc: np.ndarray, n: int) -> sp.csr_matrix:
        if not len(ids) or not len(self.grams):
            return sp.csr_matrix((n, self.n_features), dtype=np.float64)
        used, column = np.unique(ids, return_inverse=True)
        doc_words = _matrix(word_doc, column, n, len(used))
        # The rows of the used words, gathered from the flat arrays (copies: the arrays keep growing).
        start = np.frombuffer(self.start, dtype=np.int64)[used]
        length = np.frombuffer(self.length, dtype=np.int64)[used]
        indptr = np.zeros(len(used) + 1, dtype=np.int64)
        np.cumsum(length, out=indptr[1:])
        gather = _ranges(start, length)
        grams = np.frombuffer(self.grams, dtype=np.int32)[gather]
        times = np.frombuffer(self.times, dtype=np.int32)[gather].astype(np.float64)
        word_grams = sp.csr_matrix((times, grams, indptr), shape=(len(used), self.n_features))
        # A product has no duplicate entries; its column order within a row does not matter downstream
        # (sorting it cost a tenth of the transform).
        return (doc_words @ word_grams).tocsr()


def _ranges(start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The concatenated ranges start[i] .. start[i] + length[i] - 1, as one index array."""
    ends = np.cumsum(length)
    return np.repeat(start - (ends - length), length) + np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64)
