"""A team's own box model over HTTP: a real HTTP server on loopback plays the model.

The endpoint answers boxes with a score each; an item's value is its boxes, its confidence the least
sure box (or the item-level confidence if lower; 0.5 with no box), and routing follows that. An
answer that breaks the protocol fails pre-labeling with a message naming the field, and changes nothing.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from models_registry.backends import BackendError
from models_registry.backends.external_http import ExternalHTTPBackend
from models_registry.models import ModelVersion, Prediction
from models_registry.prelabel import prelabel
from models_registry.structured import with_own_scores
from tasks.models import FinalSource, Item, ItemStatus
from tasks.values import ValueShapeError
from tests.conftest import make_project
from tests.servers import json_endpoint

LABELS = ["digit", "letter"]


class Endpoint:
    """Answers each item with the boxes its data names (`data["answer"]`), then applies `mode`."""

    def __init__(self):
        self.mode = "ok"
        self.requests: list[dict] = []
        self.url = ""

    def answer(self, body: dict) -> tuple[int, bytes]:
        self.requests.append(body)
        predictions = [{"id": item["id"], **item["data"]["answer"]} for item in body["items"]]
        first = predictions[0]
        mode = self.mode
        if mode == "unknown_label":
            first["boxes"][0]["label"] = "cat"
        elif mode == "score_out_of_range":
            first["boxes"][0]["score"] = 1.5
        elif mode == "score_missing":
            del first["boxes"][0]["score"]
        elif mode == "score_text":
            first["boxes"][0]["score"] = "high"
        elif mode == "negative_width":
            first["boxes"][0]["w"] = -4
        elif mode == "negative_x":
            first["boxes"][0]["x"] = -1
        elif mode == "missing_h":
            del first["boxes"][0]["h"]
        elif mode == "box_not_object":
            first["boxes"][0] = [1, 2, 3, 4]
        elif mode == "boxes_not_list":
            first["boxes"] = {"x": 1}
        elif mode == "scores_instead":
            predictions[0] = {"id": first["id"], "scores": {"digit": 0.9}}
        elif mode == "twice":
            predictions.append(dict(first))
        elif mode == "missing_item":
            predictions.pop()
        elif mode == "bad_confidence":
            first["confidence"] = 2
        elif mode == "nan":
            return 200, json.dumps({"predictions": predictions}).replace("0.97", "NaN").encode()
        return 200, json.dumps({"predictions": predictions}).encode()


@pytest.fixture
def endpoint():
    with json_endpoint(Endpoint()) as state:
        yield state


@pytest.fixture
def boxes_project(admin, annotator, endpoint):
    return make_project(admin, [annotator], name="Boxes", task_type="boxes", labels=LABELS, model_backend="http",
                        model_endpoint=endpoint.url, model_timeout=2, auto_accept_threshold=0.9,
                        escalation_threshold=0.6, audit_rate=0.0)


def box(x, y, w, h, score, label="digit") -> dict:
    return {"x": x, "y": y, "w": w, "h": h, "label": label, "score": score}


def item(project, *boxes, **extra) -> Item:
    return Item.objects.create(project=project, data={"image": "/media/x.png", "answer": {"boxes": list(boxes),
                                                                                           **extra}})


def snapshot(project):
    return (list(Item.objects.filter(project=project).order_by("id").values()),
            list(Prediction.objects.filter(item__project=project).values()),
            list(ModelVersion.objects.filter(project=project).values()))


@pytest.mark.django_db
def test_boxes_are_predicted_with_their_scores_and_routed_by_the_least_sure_box(boxes_project, endpoint):
    sure = item(boxes_project, box(1, 2, 30, 40, 0.97), box(50, 2, 10, 10, 0.95, "letter"))
    one_unsure = item(boxes_project, box(1, 2, 30, 40, 0.99), box(50, 2, 10, 10, 0.4))
    middling = item(boxes_project, box(0, 0, 5.5, 6.5, 0.75))
    empty = item(boxes_project)
    sure_empty = item(boxes_project, confidence=0.95)

    outcome = prelabel(boxes_project)

    (request,) = endpoint.requests
    assert (request["task_type"], request["labels"]) == ("boxes", LABELS)
    assert outcome.scored == 5
    sure.refresh_from_db()
    # The value is the boxes without scores (a valid boxes value); the scores are kept per box.
    assert sure.final_value == {"boxes": [{"x": 1, "y": 2, "w": 30, "h": 40, "label": "digit"},
                                          {"x": 50, "y": 2, "w": 10, "h": 10, "label": "letter"}]}
    assert (sure.status, sure.final_source, sure.confidence) == (ItemStatus.AUTO_ACCEPTED, FinalSource.MODEL, 0.95)
    prediction = Prediction.objects.get(item=sure)
    assert prediction.scores == {"boxes": [box(1, 2, 30, 40, 0.97), box(50, 2, 10, 10, 0.95, "letter")]}
    assert sure.prediction["scores"] == prediction.scores and sure.prediction["confidence"] == 0.95
    # One unsure box is enough to send the item to people, escalated.
    one_unsure.refresh_from_db()
    assert (one_unsure.status, one_unsure.confidence, one_unsure.needed) == (ItemStatus.QUEUED, 0.4, 2)
    middling.refresh_from_db()
    assert (middling.status, middling.confidence, middling.needed) == (ItemStatus.QUEUED, 0.75, 1)
    # No box and no word on it: 0.5, never accepted. The model's own "sure there is nothing" is taken.
    empty.refresh_from_db()
    assert (empty.status, empty.confidence, empty.prediction["value"]) == (ItemStatus.QUEUED, 0.5, {"boxes": []})
    sure_empty.refresh_from_db()
    assert (sure_empty.status, sure_empty.final_value) == (ItemStatus.AUTO_ACCEPTED, {"boxes": []})
    # Least confidence first: the unsure box, the empty answer, the middling one.
    queue = Item.objects.filter(project=boxes_project, status=ItemStatus.QUEUED).order_by("-priority", "id")
    assert list(queue) == [one_unsure, empty, middling]
    assert outcome.bands == {"auto_accept": 2, "escalate": 2, "normal": 1}


@pytest.mark.django_db
def test_an_item_level_confidence_lower_than_every_box_decides(boxes_project, endpoint):
    """The model may say it probably missed something, however sure it is of what it found."""
    missed = item(boxes_project, box(1, 2, 30, 40, 0.99), confidence=0.3)

    prelabel(boxes_project)

    missed.refresh_from_db()
    assert (missed.confidence, missed.needed) == (0.3, 2)


@pytest.mark.django_db
def test_the_endpoint_is_judged_by_map_on_the_human_boxes(boxes_project, endpoint, annotator):
    """Items people labeled are sent too (not routed): the http version keeps mAP@0.5 against them."""
    item(boxes_project, box(0, 0, 10, 10, 0.9))
    labeled = [
        # Found exactly; found exactly; one of two true boxes found, and a false one.
        ([box(0, 0, 10, 10, 0.9)], [{"x": 0, "y": 0, "w": 10, "h": 10, "label": "digit"}]),
        ([box(20, 20, 10, 10, 0.8, "letter")], [{"x": 20, "y": 20, "w": 10, "h": 10, "label": "letter"}]),
        ([box(0, 0, 10, 10, 0.7), box(70, 70, 10, 10, 0.6)],
         [{"x": 0, "y": 0, "w": 10, "h": 10, "label": "digit"},
          {"x": 40, "y": 40, "w": 10, "h": 10, "label": "digit"}]),
    ]
    for boxes, truth in labeled:
        Item.objects.create(project=boxes_project, data={"image": "/media/y.png", "answer": {"boxes": boxes}},
                            final_value={"boxes": truth}, final_source=FinalSource.CONSENSUS, status=ItemStatus.DONE)

    prelabel(boxes_project)

    scored, judged = endpoint.requests
    assert len(scored["items"]) == 1 and len(judged["items"]) == 3
    mv = ModelVersion.objects.get(project=boxes_project, backend="http")
    m = mv.metrics
    assert (m["evaluated_on"], m["endpoint"], mv.holdout_size) == ("human_labels", endpoint.url, 3)
    # digit: 3 true, found 2 of them at scores 0.9 and 0.7, a false one at 0.6: AP 67/101; letter: AP 1.
    two_thirds = pytest.approx(2 / 3, abs=1e-4)
    assert m["per_class"]["digit"] == {"ap": pytest.approx(67 / 101, abs=1e-4), "precision": two_thirds,
                                       "recall": two_thirds, "support": 3}
    assert m["per_class"]["letter"]["ap"] == 1.0
    assert m["map50"] == pytest.approx((67 / 101 + 1.0) / 2, abs=1e-4)
    assert (m["precision"], m["recall"]) == (0.75, 0.75)
    assert m["item_accuracy"] == two_thirds


@pytest.mark.django_db
@pytest.mark.parametrize("mode, message", [
    ("unknown_label", "predictions[0].boxes[0].label: unknown label 'cat'; the project's labels are "
                      "['digit', 'letter']."),
    ("score_out_of_range", "predictions[0].boxes[0].score: must be a probability between 0 and 1."),
    ("score_missing", "predictions[0].boxes[0].score: is required."),
    ("score_text", "predictions[0].boxes[0].score: must be a probability between 0 and 1."),
    ("negative_width", "predictions[0].boxes[0].w: must be a positive number of pixels."),
    ("negative_x", "predictions[0].boxes[0].x: must be a non-negative number of pixels."),
    ("missing_h", "predictions[0].boxes[0].h: is required."),
    ("box_not_object", "predictions[0].boxes[0]: must be an object with 'x', 'y', 'w', 'h', 'label'."),
    ("boxes_not_list", "predictions[0]: needs the 'id' of an item that was sent and a 'boxes' list."),
    ("scores_instead", "predictions[0]: needs the 'id' of an item that was sent and a 'boxes' list."),
    ("twice", "predictions[2]: item {first} has a prediction already."),
    ("missing_item", "The model endpoint gave no prediction for items [{last}]."),
    ("bad_confidence", "predictions[0].confidence: must be a probability between 0 and 1."),
    ("nan", "The model endpoint's answer is not JSON."),
])
def test_a_malformed_answer_is_a_clear_error_and_changes_nothing(boxes_project, endpoint, mode, message):
    first = item(boxes_project, box(1, 2, 30, 40, 0.97))
    last = item(boxes_project, box(5, 5, 10, 10, 0.5))
    Item.objects.filter(pk=first.pk).update(status=ItemStatus.QUEUED, priority=0.25)
    before = snapshot(boxes_project)
    endpoint.mode = mode

    with pytest.raises(BackendError) as error:
        prelabel(boxes_project)

    assert str(error.value) == message.format(first=first.pk, last=last.pk)
    assert snapshot(boxes_project) == before


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True, None])
def test_a_score_that_is_no_probability_is_refused_even_if_a_decoder_lets_it_through(bad):
    with pytest.raises(ValueShapeError) as error:
        with_own_scores("boxes", LABELS, [box(0, 0, 1, 1, bad)], {}, "predictions[0]")
    assert str(error.value) == "predictions[0].boxes[0].score: must be a probability between 0 and 1"


def test_class_probabilities_are_not_what_a_box_model_gives():
    backend = ExternalHTTPBackend("boxes", LABELS)
    with pytest.raises(BackendError, match="predicts values, not class probabilities"):
        backend.predict(None, [{"image": "/x.png"}])
    result = backend._parse_parts(json.dumps({"predictions": [{"id": 7, "boxes": []}]}).encode(), [7], [{}])
    assert (result.values, result.scores, result.probs) == ([{"boxes": []}], [{"boxes": []}], None)
    assert np.array_equal(result.confidence, [0.5])


def test_spans_from_the_endpoint_are_scored_per_span_and_routed_by_the_least_sure_one():
    text = "Ada Lovelace met Charles Babbage in London."
    backend = ExternalHTTPBackend("spans", ["PER", "LOC"], url="unused")
    answer = {"predictions": [
        {"id": 1, "spans": [{"start": 35, "end": 41, "label": "LOC", "score": 0.97},
                            {"start": 0, "end": 12, "label": "PER", "score": 0.7}]},
        {"id": 2, "spans": [], "confidence": 0.95}]}

    got = backend._parse_parts(json.dumps(answer).encode(), [1, 2], [{"text": text}, {"text": "Nothing here."}])

    assert got.values == [{"spans": [{"start": 0, "end": 12, "label": "PER"},
                                     {"start": 35, "end": 41, "label": "LOC"}]}, {"spans": []}]
    assert got.scores[0] == {"spans": [{"start": 0, "end": 12, "label": "PER", "score": 0.7},
                                       {"start": 35, "end": 41, "label": "LOC", "score": 0.97}]}
    assert list(got.confidence) == [0.7, 0.95]
    bad = {"predictions": [{"id": 1, "spans": [{"start": 0, "end": 99, "label": "PER", "score": 0.9}]}]}
    with pytest.raises(BackendError, match=r"predictions\[0\]\.spans\[0\]\.end"):
        backend._parse_parts(json.dumps(bad).encode(), [1], [{"text": text}])
