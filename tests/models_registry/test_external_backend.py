"""A team's own model behind an HTTP endpoint: a real HTTP server on loopback plays the model.

Success routes items like a built-in model does; a timeout, an error status or a malformed answer
fails pre-labeling with a message that names the problem and changes nothing.
"""
from __future__ import annotations

import json
import time

import pytest

from models_registry.backends import BackendError
from models_registry.models import ModelVersion, Prediction
from models_registry.prelabel import prelabel
from tasks.models import FinalSource, Item, ItemStatus
from tests.conftest import make_project, wait_for_job
from tests.servers import json_endpoint


class Endpoint:
    """What the fake model answers (`mode`) and what it was asked (`requests`)."""

    def __init__(self):
        self.mode = "ok"
        self.requests: list[dict] = []
        self.url = ""

    def answer(self, body: dict) -> tuple[int, bytes]:
        self.requests.append(body)
        predictions = [{"id": item["id"], "scores": {"pos": item["data"]["p"], "neg": round(1 - item["data"]["p"], 6)}}
                       for item in body["items"]]
        mode = self.mode
        if mode == "ok_then_500":
            mode = "ok" if len(self.requests) == 1 else "500"
        if mode == "slow":
            time.sleep(1.0)
        elif mode == "500":
            return 500, b"internal error"
        elif mode == "not_json":
            return 200, b"<html>Bad gateway</html>"
        elif mode == "no_predictions":
            return 200, json.dumps({"results": predictions}).encode()
        elif mode == "missing_item":
            predictions.pop()
        elif mode == "unknown_label":
            predictions[0]["scores"]["maybe"] = 0.1
        elif mode == "out_of_range":
            predictions[0]["scores"]["pos"] = 1.5
        elif mode == "foreign_id":
            predictions[0]["id"] = 10**9
        elif mode == "list_id":
            predictions[0]["id"] = [predictions[0]["id"]]
        elif mode == "no_scores":
            predictions[0]["scores"] = [0.5, 0.5]
        return 200, json.dumps({"predictions": predictions}).encode()


@pytest.fixture
def endpoint():
    with json_endpoint(Endpoint()) as state:
        yield state


@pytest.fixture
def external_project(admin, annotator, ml_engineer, endpoint):
    return make_project(admin, [annotator, ml_engineer], model_backend="http", model_endpoint=endpoint.url,
                        model_timeout=0.3, auto_accept_threshold=0.9, escalation_threshold=0.6, audit_rate=0.0)


def items_with(project, *ps: float) -> list[Item]:
    return Item.objects.bulk_create([Item(project=project, data={"text": f"review {n}", "p": p})
                                     for n, p in enumerate(ps)])


def snapshot(project):
    return (list(Item.objects.filter(project=project).order_by("id").values()),
            list(Prediction.objects.filter(item__project=project).values()),
            list(ModelVersion.objects.filter(project=project).values()))


@pytest.mark.django_db
def test_the_endpoint_predicts_and_items_are_routed(external_project, endpoint):
    sure, middling, unsure = items_with(external_project, 0.97, 0.7, 0.5)
    gold = Item.objects.create(project=external_project, data={"text": "gold", "p": 0.99}, gold={"label": "neg"},
                               final_value={"label": "neg"}, final_source=FinalSource.GOLD, status=ItemStatus.DONE)

    outcome = prelabel(external_project)

    request, evaluation = endpoint.requests
    assert request["task_type"] == "classification"
    assert request["labels"] == ["pos", "neg"]
    assert [i["id"] for i in request["items"]] == [sure.pk, middling.pk, unsure.pk]  # not the gold item
    assert request["items"][0]["data"] == {"text": "review 0", "p": 0.97}
    assert outcome.scored == 3
    assert Item.objects.get(pk=sure.pk).status == ItemStatus.AUTO_ACCEPTED
    assert Item.objects.get(pk=sure.pk).final_source == FinalSource.MODEL
    assert Item.objects.get(pk=middling.pk).needed == 1
    assert Item.objects.get(pk=unsure.pk).needed == 2
    assert Item.objects.get(pk=gold.pk).prediction is None
    # The endpoint gets a registry row, so predictions say where they came from.
    mv = ModelVersion.objects.get(project=external_project)
    assert (mv.backend, mv.version, mv.labels) == ("http", 1, ["pos", "neg"])
    # ...and it is judged on what people labeled: the gold item says "neg", the endpoint "pos".
    assert [i["id"] for i in evaluation["items"]] == [gold.pk]
    assert (mv.metrics["accuracy"], mv.metrics["evaluated_on"], mv.holdout_size) == (0.0, "human_labels", 1)
    assert Prediction.objects.get(item=middling).scores == {"pos": 0.7, "neg": 0.3}
    assert Item.objects.get(pk=middling.pk).prediction["model_version"] == 1

    prelabel(external_project)  # again: the same registry row, the same predictions

    assert ModelVersion.objects.filter(project=external_project).count() == 1
    assert Prediction.objects.filter(item__project=external_project).count() == 3


@pytest.mark.django_db
def test_classification_scores_are_normalised_to_sum_to_one(external_project, endpoint):
    (item,) = items_with(external_project, 0.5)
    endpoint.answer = lambda body: (200, json.dumps({"predictions": [
        {"id": body["items"][0]["id"], "scores": {"pos": 0.6, "neg": 0.2}}]}).encode())

    prelabel(external_project)

    assert Prediction.objects.get(item=item).scores == {"pos": 0.75, "neg": 0.25}


@pytest.mark.django_db
@pytest.mark.parametrize("mode, message", [
    ("slow", "The model endpoint could not be reached: timed out."),
    ("500", "The model endpoint answered HTTP 500."),
    ("not_json", "The model endpoint's answer is not JSON."),
    ("no_predictions", "The model endpoint's answer has no 'predictions' list."),
    ("missing_item", "The model endpoint gave no prediction for items [{last}]."),
    ("foreign_id", "predictions[0]: needs the 'id' of an item that was sent and a 'scores' object."),
    ("list_id", "predictions[0]: needs the 'id' of an item that was sent and a 'scores' object."),
    ("no_scores", "predictions[0]: needs the 'id' of an item that was sent and a 'scores' object."),
    ("unknown_label", "predictions[0].scores: unknown label 'maybe'."),
    ("out_of_range", "predictions[0].scores.pos: must be a probability between 0 and 1."),
])
def test_a_failing_endpoint_is_a_clear_error_and_changes_nothing(external_project, endpoint, mode, message):
    items = items_with(external_project, 0.97, 0.7, 0.5)
    Item.objects.filter(pk=items[0].pk).update(status=ItemStatus.QUEUED, priority=0.25)
    before = snapshot(external_project)
    endpoint.mode = mode

    with pytest.raises(BackendError) as error:
        prelabel(external_project)

    assert str(error.value) == message.format(last=items[-1].pk)
    assert snapshot(external_project) == before


@pytest.mark.django_db
def test_a_failure_in_a_later_batch_undoes_the_earlier_batches(external_project, endpoint, monkeypatch):
    monkeypatch.setattr("models_registry.prelabel.BATCH", 4)
    items_with(external_project, *([0.97] * 6 + [0.7] * 6))
    before = snapshot(external_project)
    endpoint.mode = "ok_then_500"

    with pytest.raises(BackendError, match="HTTP 500"):
        prelabel(external_project)

    assert len(endpoint.requests) == 2
    assert snapshot(external_project) == before


@pytest.mark.django_db
def test_an_unreachable_endpoint_is_a_clear_error(external_project):
    items_with(external_project, 0.97)
    external_project.model_endpoint = "http://127.0.0.1:9/predict"  # discard port: nothing listens

    with pytest.raises(BackendError, match="could not be reached"):
        prelabel(external_project)

    assert not Prediction.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_prelabel_job_fails_with_the_endpoint_message(worker, external_project, endpoint, ml_engineer,
                                                          as_user):
    items_with(external_project, 0.97, 0.7)
    before = snapshot(external_project)
    endpoint.mode = "unknown_label"

    r = as_user(ml_engineer).post(f"/api/projects/{external_project.pk}/prelabel/")
    assert r.status_code == 202
    job = wait_for_job(r.json()["job"])

    assert job.state == "failed"
    assert job.error == "predictions[0].scores: unknown label 'maybe'."
    assert snapshot(external_project) == before
    status = as_user(ml_engineer).get(f"/api/jobs/{job.pk}/").json()
    assert status["state"] == "failed" and "unknown label 'maybe'" in status["error"]

    endpoint.mode = "ok"
    assert as_user(ml_engineer).post(f"/api/jobs/{job.pk}/retry/").status_code == 202
    job = wait_for_job(job.pk)
    assert job.state == "succeeded", job.error
    assert job.result["scored"] == 2
    assert Item.objects.filter(project=external_project, status=ItemStatus.AUTO_ACCEPTED).count() == 1
