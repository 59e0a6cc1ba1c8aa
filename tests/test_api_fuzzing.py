"""The API against its own OpenAPI schema: schemathesis generates requests for every operation of
`/api/schema/` (boundary values and invalid ones in its coverage phase, then random ones) and sends
them to the Django app in process. No request may answer 5xx, and every documented answer must match
its declared schema.

Each case is sent as an admin, an annotator, a reviewer or an ML engineer, and three in four aim
their `{id}`s at real rows: projects of every task type with items in every state, annotations, a
review, a stored model version and a job. The generation is derandomized, so a run is repeatable;
for a longer hunt, `HITL_FUZZ_EXAMPLES=500 HITL_FUZZ_RANDOM=1` raises the number of random examples
per operation (default 30) and draws new ones on each run.
"""
from __future__ import annotations

import os
import traceback
import zlib

import numpy as np
import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error, response_schema_conformance

from accounts.models import Role
from annotations.review import do_review
from annotations.services import Submission, submit_annotation
from hitl.wsgi import application
from models_registry import artifacts
from models_registry.models import ModelVersion
from tasks.models import Item, ItemStatus, Job
from tests.conftest import make_project, make_user

EXAMPLES = int(os.environ.get("HITL_FUZZ_EXAMPLES", "30"))
RANDOM = bool(os.environ.get("HITL_FUZZ_RANDOM"))  # new examples on every run, for a longer hunt
ROLES = [Role.ADMIN, Role.ANNOTATOR, Role.REVIEWER, Role.ML_ENGINEER]
# Admins pass every permission check, so more of their requests reach the validation and the writes.
CALLERS = [Role.ADMIN, Role.ADMIN, Role.ADMIN, Role.ANNOTATOR, Role.REVIEWER, Role.ML_ENGINEER]

schema = schemathesis.openapi.from_wsgi("/api/schema/", application,
                                        headers={"Accept": "application/vnd.oai.openapi+json"})


@pytest.fixture
def in_test_transaction():
    """Requests run inside the test's transaction, as with Django's test client: without this, the
    end of each request would close the connection the test's transaction lives on."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def server_errors():
    """Exceptions the app turned into 500s, with their tracebacks (for the failure message)."""
    caught: list[str] = []

    def on_exception(sender, request=None, **kwargs):
        caught.append(traceback.format_exc())

    signals.got_request_exception.connect(on_exception, weak=False)
    yield caught
    signals.got_request_exception.disconnect(on_exception)


# One project of each task type beside the classification one, with items of their own.
OTHER_PROJECTS = [
    ("multi_label", ["a", "b", "c"], {"text": "several labels"}),
    ("spans", ["PER", "ORG"], {"text": "Ada Lovelace met Babbage"}),
    ("boxes", ["car"], {"image": "/media/images/x.png", "width": 64, "height": 48}),
    ("pairwise", [], {"prompt": "which is warmer?", "a": "a kind word", "b": "a cold stare"}),
]


@pytest.fixture
def world(db, settings, tmp_path, in_test_transaction):
    """Real rows for the `{id}`s: projects of every task type with items in every state, annotations, a
    review, a stored model version and a job; and a token per role."""
    settings.MEDIA_ROOT = tmp_path
    users = {role: make_user(f"fuzz-{role}", role) for role in ROLES}
    other = make_user("fuzz-annotator2", Role.ANNOTATOR)
    members = [*list(users.values())[1:], other]
    project = make_project(users[Role.ADMIN], members, overlap=2)
    items = Item.objects.bulk_create([Item(project=project, data={"text": f"text {i}"}, needed=2,
                                           status=ItemStatus.QUEUED) for i in range(6)])
    # Two annotators disagree on the first two items (so they go to review), agree on the third.
    for item, labels in zip(items[:3], [("pos", "neg"), ("neg", "pos"), ("pos", "pos")]):
        for user, label in zip((users[Role.ANNOTATOR], other), labels):
            submit_annotation(user, item.pk, Submission(value={"label": label}))
    do_review(users[Role.REVIEWER], items[1].pk, {"label": "pos"}, note="clear")
    projects = [project]
    for task_type, labels, data in OTHER_PROJECTS:
        projects.append(make_project(users[Role.ADMIN], members, name=task_type, task_type=task_type,
                                     labels=labels))
        items += Item.objects.bulk_create([Item(project=projects[-1], data=data, status=ItemStatus.QUEUED)])
    relative = artifacts.relative_path(project.pk, 1)
    digest = artifacts.save({"weights": np.linspace(0.0, 1.0, 100)}, relative)
    model = ModelVersion.objects.create(
        project=project, version=1, backend="builtin_text", labels=list(project.labels), train_size=30,
        metrics={"accuracy": 0.9, "macro_f1": 0.9}, artifact=relative, artifact_sha256=digest)
    job = Job.objects.create(kind="train", project=project, created_by=users[Role.ML_ENGINEER], state="failed",
                             error="boom")
    return {
        "tokens": {role: Token.objects.create(user=user).key for role, user in users.items()},
        "ids": {"projects": [p.pk for p in projects], "items": [i.pk for i in items], "models": [model.pk],
                "jobs": [job.pk], "users": [other.pk, users[Role.ANNOTATOR].pk],
                "user_id": [other.pk, users[Role.ANNOTATOR].pk]},
    }


def real_ids(path: str, ids: dict, pick: int) -> dict:
    """Path parameters that name the world's rows (`/api/<collection>/{id}/...`), the `pick`th of each."""
    collection = path.split("/")[2]
    params = {"id": ids[collection][pick % len(ids[collection])]} if collection in ids else {}
    if "{user_id}" in path:
        params["user_id"] = ids["user_id"][pick % 2]
    return params


def caller(case) -> tuple[str, int | None]:
    """Who sends this case, and which real rows its `{id}`s name (None: the generated ids). Drawn from the
    case's own content, so Hypothesis replays a failing case exactly (`given` would switch off the
    coverage phase)."""
    digest = zlib.crc32(repr((case.method, case.path, case.path_parameters, case.query, case.body)).encode())
    role, rest = CALLERS[digest % len(CALLERS)], digest // len(CALLERS)
    return role, (rest // 4 if rest % 4 else None)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_request_makes_a_server_error_and_every_answer_matches_the_schema(case, world, server_errors):
    role, pick = caller(case)
    if pick is not None and case.path_parameters:
        case.path_parameters = {**case.path_parameters, **real_ids(case.path, world["ids"], pick)}
    server_errors.clear()
    response = case.call(headers={"Authorization": f"Token {world['tokens'][role]}"})
    assert not server_errors, f"{case.method} {case.formatted_path} as {role}:\n{server_errors[0]}"
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


# --- what fuzzing found, kept as plain tests --------------------------------------------------------

def test_the_largest_overlap_shows_an_escalated_overlap_its_schema_allows(as_user, admin, project):
    # Unset, escalated_overlap reads as overlap + 1; at overlap's maximum that was beyond its own maximum.
    r = as_user(admin).patch(f"/api/projects/{project.pk}/", {"overlap": 100}, format="json")

    assert r.status_code == 200 and r.json()["escalated_overlap"] == 101
    declared = schema.raw_schema["components"]["schemas"]["Project"]["properties"]["escalated_overlap"]
    assert r.json()["escalated_overlap"] <= declared["maximum"]
    assert as_user(admin).patch(f"/api/projects/{project.pk}/", {"escalated_overlap": 101},
                                format="json").status_code == 200


# The endpoints that take files (multipart) as well as JSON: the import and its preview.
UPLOADS = ("/api/projects/{id}/import/", "/api/projects/{id}/import/preview/")


def test_json_exports_are_declared_as_json_and_request_bodies_as_json_only():
    paths = schema.raw_schema["paths"]
    export = paths["/api/projects/{id}/export/"]["get"]["responses"]["200"]["content"]
    assert export["application/json"]["schema"]["oneOf"][0]["type"] == "array"
    assert export["text/csv"]["schema"] == {"type": "string", "format": "binary"}
    for path, operations in paths.items():
        for method, operation in operations.items():
            if "requestBody" in operation and path not in UPLOADS:
                assert list(operation["requestBody"]["content"]) == ["application/json"], (method, path)


@pytest.mark.parametrize("records, params, field", [
    ([{"text": "a\x00b"}], "", "data.text"),
    ([{"data": {"text": "ab", "meta": {"x\x00": 1}}}], "", "data.meta.'x\\x00'"),
    ([{"text": "ab", "external_id": "e\x00"}], "", "external_id"),
    ([{"data": {"text": "a"}, "annotations": [{"user": "x\x00", "value": {"label": "pos"}}]}], "",
     "annotations[0].user"),
    ([{"text": "a", "label": "pos"}], "?annotator=%00&labels_as=annotations&label_column=label", "annotator"),
])
def test_text_with_a_nul_character_is_refused_by_name_not_a_server_error(as_user, admin, project, records, params,
                                                                         field):
    # PostgreSQL cannot store NUL in text or JSON; the fuzzer's NUL in an audit filter led here.
    r = as_user(admin).post(f"/api/projects/{project.pk}/import/{params}", records, format="json")

    assert r.status_code == 400, r.content
    body = r.json()
    assert (body["errors"][0]["field"] if "errors" in body else body["options"][0].split(":")[0]) == field
    assert not Item.objects.filter(project=project).exists()
