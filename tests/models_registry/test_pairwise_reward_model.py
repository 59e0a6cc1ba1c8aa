"""The built-in reward model of pairwise projects and its held-out metrics. No database."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest

from models_registry.backends import BACKENDS, BackendError
from models_registry.backends.pairwise import RewardBackend, preference
from models_registry.learners import learner_for
from models_registry.learners.pairwise import check, count_labels, metrics
from models_registry.scoring import priorities
from tests.models_registry.preference_pairs import warmer_pairs

LEARNER = learner_for("pairwise")


def backend() -> RewardBackend:
    return RewardBackend("pairwise", [])


def swapped(data: list[dict]) -> list[dict]:
    return [{**d, "a": d["b"], "b": d["a"]} for d in data]


@pytest.fixture(scope="module")
def pairs() -> list[dict]:
    return warmer_pairs(800, seed=3)


@pytest.fixture(scope="module")
def trained(pairs):
    train = pairs[:600]
    return backend().fit([p["data"] for p in train], [p["meta_choice"] for p in train])


def test_the_pairwise_learner_uses_the_reward_backend_and_decides_on_accuracy():
    assert LEARNER.backend({"prompt": "p", "a": "x", "b": "y"}) is RewardBackend
    assert BACKENDS["builtin_reward"] is RewardBackend
    assert LEARNER.deciding_metric == "accuracy"
    assert LEARNER.headline == ("accuracy", "log_loss", "ece")
    assert LEARNER.has_classes is False  # no probabilities over project labels: no cleanlab label issues
    assert [LEARNER.target(v) for v in ({"choice": "a"}, {"choice": "tie"}, {"choice": "c"}, None)] == \
        ["a", "tie", None, None]


def test_swapping_the_sides_gives_exactly_the_other_probability(pairs, trained):
    data = [p["data"] for p in pairs[600:]]

    forward = backend().predict_values(trained, data)
    backward = backend().predict_values(trained, swapped(data))

    assert np.abs(forward.probs[:, 0] - backward.probs[:, 1]).max() < 1e-12
    assert [v["choice"] for v in backward.values] == [{"a": "b", "b": "a"}[v["choice"]] for v in forward.values]
    # A pair of identical answers is an even bet.
    same = {"prompt": "Which review is warmer?", "a": "A fine film.", "b": "A fine film."}
    assert preference(trained, [same])[0] == pytest.approx(0.5)


def test_it_learns_which_real_review_is_warmer_with_calibrated_probabilities(pairs, trained):
    held = pairs[600:]

    predicted = backend().predict_values(trained, [p["data"] for p in held])
    scores = LEARNER.evaluate(predicted, [p["meta_choice"] for p in held])

    assert scores["test_size"] == 200 and scores["ties"] == 0
    assert scores["accuracy"] >= 0.68  # about 0.73 at 600 pairs, 0.82 at 1,800 (bench/README.md)
    assert scores["log_loss"] < math.log(2) - 0.1  # clearly better than a coin
    assert scores["ece"] < 0.1
    assert trained.calibrated and trained.pairs == 600
    assert predicted.classes == ["a", "b"]
    assert np.allclose(predicted.probs.sum(axis=1), 1.0)
    assert np.allclose(predicted.confidence, predicted.probs.max(axis=1))
    first = predicted.scores[0]
    assert set(first) == {"a", "b"} and first["a"] + first["b"] == pytest.approx(1.0)
    assert predicted.values[0] == {"choice": "a" if first["a"] >= 0.5 else "b"}


def test_it_prefers_the_answer_about_the_prompt_on_topics_it_never_saw():
    topics = ["volcanoes", "penguins", "violins", "glaciers", "tomatoes", "bicycles", "lighthouses", "comets",
              "beekeeping", "origami", "submarines", "cactuses", "telescopes", "harpsichords", "tornadoes",
              "pyramids", "otters", "sourdough", "kayaks", "meteorites", "jellyfish", "windmills", "chess",
              "tapestries", "avalanches", "parrots", "trombones", "mangroves", "zeppelins", "fjords"]
    rng = random.Random(0)

    def pair(topic: str) -> tuple[dict, str]:
        off = rng.choice([t for t in topics if t != topic])
        good, bad = f"Here is what matters about {topic}: {topic} are fascinating.", f"Let me tell you about {off}."
        side = rng.choice("ab")
        a, b = (good, bad) if side == "a" else (bad, good)
        return {"prompt": f"Tell me about {topic}.", "a": a, "b": b}, side

    seen, unseen = topics[:20], topics[20:]
    train = [pair(t) for t in seen for _ in range(4)]
    test = [pair(t) for t in unseen for _ in range(3)]
    model = backend().fit([d for d, _ in train], [s for _, s in train])

    scores = metrics(preference(model, [d for d, _ in test]), [s for _, s in test])
    assert scores["accuracy"] >= 0.9


def test_ties_are_fitted_as_half_a_vote_for_each_side():
    # "excellent" beats "awful" far more often than "superb" beats "dull": alone, the model ranks
    # "excellent" well above "superb"; ties between the two pull that pair back to even.
    better = [("An excellent, moving film.", "An awful film.")] * 16 + [("A superb film.", "A dull film.")] * 4
    decided = [({"prompt": "p", "a": good, "b": bad}, "a") for good, bad in better]
    even = {"prompt": "p", "a": "An excellent, moving film.", "b": "A superb film."}

    without = preference(backend().fit([d for d, _ in decided], [t for _, t in decided]), [even])[0]
    with_ties = preference(backend().fit([d for d, _ in decided] + [even] * 10,
                                         [t for _, t in decided] + ["tie"] * 10), [even])[0]

    assert without > 0.9
    assert with_ties == pytest.approx(0.5, abs=0.05)


def test_only_ties_cannot_train_a_model():
    with pytest.raises(BackendError, match="pairs where a or b was chosen; there are none"):
        backend().fit([{"prompt": "p", "a": "x", "b": "y"}], ["tie"])


def test_too_few_decided_choices_are_refused_with_the_ties_named():
    with pytest.raises(BackendError) as error:
        check(["a", "b", "a", "tie", "tie"], 10)
    assert str(error.value) == ("Training needs at least 10 items where a or b was chosen; the project has 3 "
                                "(and 2 ties, which prefer neither).")
    with pytest.raises(BackendError, match=r"^Training needs at least 10 items where a or b was chosen; "
                                           r"the project has 9\.$"):
        check(["a", "b"] * 4 + ["a"], 10)


def test_choices_of_one_side_only_are_refused():
    with pytest.raises(BackendError, match="choices of both sides; all 12 chose 'a'"):
        check(["a"] * 12 + ["tie"], 10)
    check(["a"] * 9 + ["b"], 10)  # enough, and both sides


def test_metrics_score_the_decided_items_and_count_the_ties():
    p_a = np.array([0.9, 0.2, 0.6, 0.4, 0.7])
    targets = ["a", "b", "b", "tie", "a"]

    scores = metrics(p_a, targets)

    assert scores["test_size"] == 4 and scores["ties"] == 1
    assert scores["accuracy"] == 0.75  # 0.6 for a true "b" is the one mistake
    expected = -np.mean(np.log([0.9, 0.8, 0.4, 0.7]))
    assert scores["log_loss"] == pytest.approx(expected, abs=1e-4)
    # Confidences 0.9, 0.8, 0.6, 0.7 (one per bin), right, right, wrong, right: (0.1 + 0.2 + 0.6 + 0.3) / 4.
    assert scores["ece"] == pytest.approx(0.3, abs=1e-4)
    assert scores["per_class"]["a"] == {"precision": round(2 / 3, 4), "recall": 1.0, "support": 2}
    assert scores["per_class"]["b"] == {"precision": 1.0, "recall": 0.5, "support": 2}
    assert sum(row["count"] for row in scores["calibration"]) == 4
    assert scores["confusion"] == {"labels": ["a", "b"], "matrix": [[2, 0], [1, 1]]}
    assert count_labels(targets) == {"a": 2, "b": 2, "tie": 1}


def test_metrics_of_ties_only_have_no_accuracy():
    scores = metrics(np.array([0.7, 0.4]), ["tie", "tie"])

    assert (scores["accuracy"], scores["log_loss"], scores["test_size"], scores["ties"]) == (None, None, 0, 2)


def test_least_confidence_serves_the_pairs_closest_to_even_first():
    p_a = np.array([0.95, 0.52, 0.10, 0.45, 0.70])
    probs = np.column_stack([p_a, 1 - p_a])

    order = np.argsort(-priorities("least_confidence", probs), kind="stable")

    assert list(order) == [1, 3, 4, 2, 0]
