"""The audit trail: every annotation, review, setting change, model activation and export is in it, with
who, when and what, and admins read it (`GET /api/audit/`) and export it (`GET /api/audit/export/`)."""
from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone

from audit import api as audit_api
from audit.models import AuditEvent
from models_registry import artifacts
from models_registry.models import ModelVersion
from tests.conftest import make_items

pytestmark = pytest.mark.django_db


def trail(client, **params) -> list[dict]:
    """Every event `GET /api/audit/` lists for these filters, following the pages."""
    r = client.get("/api/audit/", params)
    assert r.status_code == 200, r.content
    events = r.json()["results"]
    while r.json()["next"]:
        r = client.get(r.json()["next"])
        events += r.json()["results"]
    return events


def the_event(client, action: str, **params) -> dict:
    [event] = trail(client, action=action, **params)
    return event


def is_recent(stamp: str) -> bool:
    return abs(datetime.fromisoformat(stamp) - timezone.now()) < timedelta(minutes=1)


def model_versions(project) -> tuple[ModelVersion, ModelVersion]:
    """Version 1 (active) and version 2, each with a stored model file."""
    versions = []
    for version in (1, 2):
        relative = artifacts.relative_path(project.pk, version)
        digest = artifacts.save({"weights": np.arange(10) * version}, relative)
        versions.append(ModelVersion.objects.create(
            project=project, version=version, backend="builtin_text", labels=list(project.labels), train_size=10,
            metrics={"accuracy": 0.9}, artifact=relative, artifact_sha256=digest, active=version == 1))
    return versions[0], versions[1]


# --- every kind of decision is in the trail ------------------------------------------------------

def test_a_submitted_annotation_is_in_the_trail_with_who_when_and_what(as_user, admin, annotator, project):
    [item] = make_items(project, 1)

    assert as_user(annotator).post(f"/api/items/{item.pk}/annotations/", {"value": {"label": "neg"}, "lead_time": 4},
                                   format="json").status_code == 201

    event = the_event(as_user(admin), "annotation.submitted")
    assert (event["user"], event["username"], event["project"], event["item"]) == (
        annotator.pk, annotator.username, project.pk, item.pk)
    assert event["payload"]["value"] == {"label": "neg"} and event["payload"]["lead_time"] == 4
    assert is_recent(event["created_at"])


def test_a_review_decision_is_in_the_trail_with_the_value_it_made_final(as_user, admin, annotator, annotator2,
                                                                       reviewer, project):
    project.overlap = 2
    project.save()
    [item] = make_items(project, 1)
    as_user(annotator).post(f"/api/items/{item.pk}/annotations/", {"value": {"label": "pos"}}, format="json")
    as_user(annotator2).post(f"/api/items/{item.pk}/annotations/", {"value": {"label": "neg"}}, format="json")

    r = as_user(reviewer).post(f"/api/items/{item.pk}/review/", {"value": {"label": "neg"}, "note": "sarcasm"},
                               format="json")

    assert r.status_code == 200, r.content
    event = the_event(as_user(admin), "review.decided", item=item.pk)
    assert (event["user"], event["username"], event["item"]) == (reviewer.pk, reviewer.username, item.pk)
    assert event["payload"]["value"] == {"label": "neg"} and event["payload"]["note"] == "sarcasm"
    assert event["payload"]["reason"] == "disagreement"
    assert event["payload"]["corrected_annotators"] == [annotator.pk]
    assert is_recent(event["created_at"])
    final = the_event(as_user(admin), "final.set", user=reviewer.pk)
    assert final["payload"]["source"] == "reviewer"


def test_a_threshold_change_is_in_the_trail_with_its_value_before_and_after(as_user, admin, project):
    r = as_user(admin).patch(f"/api/projects/{project.pk}/", {"auto_accept_threshold": 0.9, "gold_rate": 0.2},
                             format="json")

    assert r.status_code == 200
    event = the_event(as_user(admin), "project.updated", project=project.pk)
    assert (event["user"], event["username"]) == (admin.pk, admin.username)
    assert event["payload"]["changed"] == {"auto_accept_threshold": {"from": None, "to": 0.9},
                                           "gold_rate": {"from": 0.1, "to": 0.2}}
    assert is_recent(event["created_at"])


def test_a_model_activation_is_in_the_trail_with_the_version_before_and_after(as_user, admin, ml_engineer, project,
                                                                             settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    _, second = model_versions(project)

    assert as_user(ml_engineer).post(f"/api/models/{second.pk}/activate/").status_code == 200

    event = the_event(as_user(admin), "model.activated", project=project.pk)
    assert (event["user"], event["username"]) == (ml_engineer.pk, ml_engineer.username)
    assert event["payload"]["version"] == 2 and event["payload"]["previous"] == 1
    assert is_recent(event["created_at"])


def test_an_export_is_in_the_trail_with_its_format_and_filters(as_user, admin, ml_engineer, project):
    make_items(project, 3)

    r = as_user(ml_engineer).get(f"/api/projects/{project.pk}/export/", {"format": "csv", "status": "new",
                                                                         "since": "2020-01-01"})

    assert r.status_code == 200
    b"".join(r.streaming_content)
    event = the_event(as_user(admin), "items.exported", project=project.pk)
    assert (event["user"], event["username"]) == (ml_engineer.pk, ml_engineer.username)
    assert event["payload"]["format"] == "csv" and event["payload"]["via"] == "api"
    assert event["payload"]["items"] == 3
    assert event["payload"]["filters"] == {"status": ["new"], "since": "2020-01-01T00:00:00+00:00"}
    assert is_recent(event["created_at"])


def test_an_export_from_the_command_line_is_in_the_trail_too(as_user, admin, project, tmp_path):
    make_items(project, 2)

    call_command("export_items", str(project.pk), "--format", "json", "--only-final", "--output",
                 str(tmp_path / "out.json"), "--no-progress", stderr=io.StringIO())

    event = the_event(as_user(admin), "items.exported", project=project.pk)
    assert event["user"] is None and event["payload"]["via"] == "command"
    assert event["payload"]["format"] == "json" and event["payload"]["filters"] == {"only_final": True}
    assert event["payload"]["items"] == 0 and event["payload"]["output"] == str(tmp_path / "out.json")


# --- reading the trail ---------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["annotator", "reviewer", "ml_engineer"])
@pytest.mark.parametrize("path", ["/api/audit/", "/api/audit/export/"])
def test_only_admins_read_the_trail(as_user, request, project, who, path):
    assert as_user(request.getfixturevalue(who)).get(path).status_code == 403
    assert as_user(None).get(path).status_code == 401


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/audit/", "/api/audit/export/"])
def test_the_api_offers_no_way_to_change_the_trail(as_user, admin, project, method, path):
    AuditEvent.objects.create(action="test", project_id=project.pk)

    assert getattr(as_user(admin), method)(path, {}, format="json").status_code == 405
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["test"]


def test_the_trail_pages_through_every_event_in_id_order(as_user, admin, project):
    created = [AuditEvent.objects.create(action=f"test.{i}", project_id=project.pk).pk for i in range(7)]

    r = as_user(admin).get("/api/audit/", {"page_size": 3})
    listed = [e["id"] for e in r.json()["results"]]
    assert len(listed) == 3
    # Events appended while a client pages do not shift the pages.
    created.append(AuditEvent.objects.create(action="test.late", project_id=project.pk).pk)
    while r.json()["next"]:
        r = as_user(admin).get(r.json()["next"])
        listed += [e["id"] for e in r.json()["results"]]

    assert listed == created


def test_the_trail_filters_by_project_action_user_and_time(as_user, admin, annotator, project):
    other = AuditEvent.objects.create(action="annotation.submitted", project_id=project.pk + 1000, user=annotator)
    mine = AuditEvent.objects.create(action="annotation.submitted", project_id=project.pk, user=annotator)
    skip = AuditEvent.objects.create(action="annotation.skipped", project_id=project.pk, user=annotator)
    admins = AuditEvent.objects.create(action="project.updated", project_id=project.pk, user=admin)
    client = as_user(admin)

    def ids(**params):
        return [e["id"] for e in trail(client, **params)]

    assert ids(project=project.pk) == [mine.pk, skip.pk, admins.pk]
    assert ids(action="annotation.submitted") == [other.pk, mine.pk]
    assert ids(action="annotation.submitted,project.updated", project=project.pk) == [mine.pk, admins.pk]
    assert ids(action="annotation.*") == [other.pk, mine.pk, skip.pk]
    assert ids(user=admin.pk) == [admins.pk]
    assert ids(user=annotator.username, project=project.pk) == [mine.pk, skip.pk]
    assert ids(after=skip.pk) == [admins.pk]
    today = timezone.now().date()
    assert ids(since=today.isoformat(), until=today.isoformat()) == [other.pk, mine.pk, skip.pk, admins.pk]
    assert ids(until=(today - timedelta(days=1)).isoformat()) == []
    assert ids(since=(timezone.now() + timedelta(minutes=1)).isoformat()) == []


@pytest.mark.parametrize("params, field", [({"project": "x"}, "project"), ({"since": "yesterday"}, "since"),
                                           ({"since": "2024-05-02", "until": "2024-05-01"}, "until"),
                                           ({"user": "-1"}, None), ({"user": "²"}, None), ({"after": "1.5"}, "after"),
                                           ({"project": "²"}, "project"), ({"after": "9" * 30}, "after"),
                                           ({"action": "a\x00"}, "action"), ({"user": "a\x00"}, "user")])
def test_bad_filters_answer_400_naming_them(as_user, admin, params, field):
    r = as_user(admin).get("/api/audit/", params)

    if field is None:  # not a number, so a username nobody has
        assert r.status_code == 200 and r.json()["results"] == []
    else:
        assert r.status_code == 400 and field in r.json()


# --- exporting the trail -------------------------------------------------------------------------

def test_the_export_streams_every_event_as_json_lines(as_user, admin, project, monkeypatch):
    monkeypatch.setattr(audit_api, "EXPORT_CHUNK", 3)  # several chunks
    AuditEvent.objects.bulk_create([AuditEvent(action="test", project_id=project.pk, payload={"n": i})
                                    for i in range(10)])

    r = as_user(admin).get("/api/audit/export/", {"format": "jsonl"})

    assert r.status_code == 200 and r["Content-Type"] == "application/x-ndjson"
    assert r.streaming
    lines = [json.loads(line) for line in b"".join(r.streaming_content).decode().splitlines()]
    assert [e["id"] for e in lines] == list(AuditEvent.objects.order_by("id").values_list("id", flat=True))
    assert [e["payload"]["n"] for e in lines if e["action"] == "test"] == list(range(10))
    # The export itself is in the trail, and in the file.
    assert lines[-1]["action"] == "audit.exported" and lines[-1]["user"] == admin.pk
    assert lines[-1]["payload"] == {"format": "jsonl", "filters": {}}


def test_the_export_as_csv_has_the_same_events_and_filters(as_user, admin, annotator, project):
    AuditEvent.objects.create(action="annotation.submitted", project_id=project.pk, user=annotator,
                              payload={"v": "é,\n"})
    AuditEvent.objects.create(action="project.updated", project_id=project.pk, user=admin)

    r = as_user(admin).get("/api/audit/export/", {"format": "csv", "user": annotator.pk})

    assert r.status_code == 200 and r["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert [(row["action"], row["username"], json.loads(row["payload"])) for row in rows] == [
        ("annotation.submitted", annotator.username, {"v": "é,\n"})]
    assert list(rows[0]) == audit_api.CSV_COLUMNS


def test_an_unknown_export_format_answers_400(as_user, admin):
    r = as_user(admin).get("/api/audit/export/", {"format": "xml"})

    assert r.status_code == 400 and "format" in r.json()


def test_the_trail_is_in_the_schema(as_user, admin):
    schema = as_user(admin).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    listed = {p["name"] for p in schema["paths"]["/api/audit/"]["get"]["parameters"]}
    assert {"project", "action", "user", "since", "until", "cursor"} <= listed
    exported = {p["name"]: p for p in schema["paths"]["/api/audit/export/"]["get"]["parameters"]}
    assert set(exported["format"]["schema"]["enum"]) == {"jsonl", "csv"}
