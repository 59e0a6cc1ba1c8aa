"""The built-in text model's bulk TF-IDF features (`models_registry.backends.text_features`) are
scikit-learn's own, number for number, and the model's probabilities do not change with them."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from models_registry.backends import text_features
from models_registry.backends.text import TextBackend
from tests.models_registry import NEGATIVE, POSITIVE

# Texts that trip naive tokenizers: case, accents, Greek final sigma (str.lower depends on the
# neighbours), tabs, runs of whitespace, non-breaking and em spaces, empty and one-letter texts,
# a very long word, repeated words and n-grams, digits and punctuation.
AWKWARD = ["", " ", "a", "ab", "I", "ΣΟΦΟΣ Σ ς σ", "ὈΔΥΣΣΕΎΣ", "İstanbul ıi", "tab\there  two\n\nlines\r\nend",
           "nbsp\u00a0and\u2003em\u2009thin", "word word word word", "x" * 300, "café CAFÉ Café",
           "don't stop-me now!!", "3 films, 2 hours: 1 star",
           "the the the the the the", "a b c d e f g h", "ß straße STRASSE", "😀 emoji 😀😀"]
TRAIN = [*POSITIVE, *NEGATIVE, "ΣΟΦΟΣ ς", "İstanbul café", "tab\there", "the the the", "x" * 40, "3 films, 2 hours"]


def fitted_union(**overrides) -> FeatureUnion:
    words = dict(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=200_000)
    chars = dict(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, max_features=200_000)
    union = FeatureUnion([("words", TfidfVectorizer(**{**words, **overrides})),
                          ("chars", TfidfVectorizer(**{**chars, **overrides}))])
    return union.fit(TRAIN)


def texts() -> list[str]:
    rng = np.random.default_rng(3)
    pool = " ".join([*POSITIVE, *NEGATIVE, *AWKWARD]).split(" ")
    mixed = [" ".join(rng.choice(pool, size=rng.integers(0, 25))) for _ in range(300)]
    return [*AWKWARD, *POSITIVE, *NEGATIVE, *mixed]


@pytest.mark.parametrize("overrides", [{}, {"sublinear_tf": False}, {"norm": "l1"}, {"norm": None},
                                       {"use_idf": False}, {"lowercase": False}])
def test_the_bulk_features_are_scikit_learns(overrides):
    union = fitted_union(**overrides)
    docs = texts()

    expected = sp.csr_matrix(union.transform(docs))
    got = text_features.union_transform(union, docs)
    again = text_features.union_transform(union, docs)  # from the word cache this time

    assert got.shape == expected.shape
    assert abs(got - expected).max() < 1e-12
    assert abs(again - expected).max() < 1e-12


def test_a_word_ngram_range_of_one_and_a_char_wb_range_from_one_are_reproduced_too():
    for vec in (TfidfVectorizer(ngram_range=(1, 1)), TfidfVectorizer(ngram_range=(2, 2)),
                TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3))):
        vec.fit(TRAIN)
        assert text_features.supports(vec)
        assert abs(text_features.transform(vec, texts()) - vec.transform(texts())).max() < 1e-12


def test_settings_it_does_not_reproduce_keep_scikit_learns_transform():
    for vec in (TfidfVectorizer(analyzer="char", ngram_range=(2, 3)), TfidfVectorizer(stop_words="english"),
                TfidfVectorizer(ngram_range=(1, 3)), TfidfVectorizer(strip_accents="unicode"),
                TfidfVectorizer(binary=True), TfidfVectorizer(preprocessor=str.upper)):
        assert not text_features.supports(vec.fit(TRAIN))
    assert not text_features.supports(TfidfVectorizer())  # not fitted


def test_the_word_cache_starts_afresh_past_its_bound(monkeypatch):
    monkeypatch.setattr(text_features, "MAX_CACHED_WORDS", 10)
    union = fitted_union()
    for _ in range(3):
        got = text_features.union_transform(union, texts())
        assert abs(got - sp.csr_matrix(union.transform(texts()))).max() < 1e-12
    plan = text_features._plan(union.transformer_list[1][1])
    assert len(plan.words) <= 10 + len(set(" ".join(texts()).lower().split()))


def test_the_text_models_probabilities_are_the_pipelines():
    backend = TextBackend("classification", ["pos", "neg"])
    data = [{"text": t} for t in POSITIVE * 3 + NEGATIVE * 3]
    model = backend.fit(data, ["pos"] * 18 + ["neg"] * 18)
    docs = [{"text": t} for t in texts()]

    fast = backend.predict(model, docs)
    assert text_features.supported_union(model)
    slow = model.predict_proba([d["text"] for d in docs])
    order = [list(model.classes_).index(label) for label in ["pos", "neg"]]
    np.testing.assert_allclose(fast.probs, slow[:, order], rtol=0, atol=1e-12)
