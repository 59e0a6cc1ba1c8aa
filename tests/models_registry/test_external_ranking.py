"""A team's own ranking model over HTTP: its answer parsed into orders with a confidence, or refused by field."""
from __future__ import annotations

import json

import pytest

from models_registry.backends import BackendError
from models_registry.backends.external_http import ExternalHTTPBackend

DATA = [{"prompt": "p", "responses": [{"id": f"r{i}", "text": f"t{i}"} for i in range(1, 4)]},
        {"prompt": "q", "responses": [{"id": "x", "text": "x"}, {"id": "y", "text": "y"}]}]
IDS = [11, 12]


def parse(*predictions: dict):
    raw = json.dumps({"predictions": list(predictions)}).encode()
    return ExternalHTTPBackend("ranking", [])._parse_rankings(raw, IDS, DATA)


def test_rankings_become_values_with_the_models_confidence():
    result = parse({"id": 12, "ranking": [["y", "x"]]},
                   {"id": 11, "ranking": [["r2"], ["r1", "r3"]], "confidence": 0.85})

    assert result.values == [{"ranking": [["r2"], ["r1", "r3"]]}, {"ranking": [["y", "x"]]}]
    assert result.confidence.tolist() == [0.85, 0.5]  # no confidence: never accepted unseen
    assert result.ok.tolist() == [True, True]


@pytest.mark.parametrize(("first", "says"), [
    ({"id": 11, "ranking": [["r2"], ["r1"]]}, "predictions[0].ranking: response 'r3' is not ranked"),
    ({"id": 11, "ranking": [["r2"], ["r1", "r2"], ["r3"]]},
     "predictions[0].ranking[1][1]: response 'r2' is ranked twice"),
    ({"id": 11, "ranking": [["r2"], ["r1", "r9", "r3"]]}, "predictions[0].ranking[1][1]: unknown response 'r9'"),
    ({"id": 11, "ranking": [["r1", "r2", "r3"]], "confidence": 1.5},
     "predictions[0].confidence: must be a probability"),
    ({"id": 99, "ranking": [["r1", "r2", "r3"]]}, "predictions[0]: needs the 'id' of an item that was sent"),
    ({"id": 11, "scores": {"r1": 0.9}}, "predictions[0]: needs the 'id' of an item that was sent and a 'ranking'"),
])
def test_a_ranking_that_breaks_the_protocol_is_refused_naming_the_field(first, says):
    with pytest.raises(BackendError) as info:
        parse(first, {"id": 12, "ranking": [["x"], ["y"]]})

    assert says in str(info.value)


def test_an_item_without_a_ranking_fails_the_batch():
    with pytest.raises(BackendError, match=r"no prediction for items \[12\]"):
        parse({"id": 11, "ranking": [["r1", "r2", "r3"]]})
