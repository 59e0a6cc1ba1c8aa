"""The API through the production web server (granian, as docker-compose.yml runs it), over real HTTP: an upload
read from the request's stream, keyboard-speed labeling on kept database connections, a streamed export."""
from __future__ import annotations

import json

import orjson
import pytest
from rest_framework.authtoken.models import Token

from bench.bench import multipart
from tests.conftest import UNATTENDED_QUEUE, _celery_env, make_project
from tests.web_server import WebServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def web(django_db_blocker, tmp_path):
    # Two threads: requests may overlap, as a browser's do. Its jobs go where no worker takes them.
    env = {**_celery_env(django_db_blocker), "CELERY_TASK_DEFAULT_QUEUE": UNATTENDED_QUEUE}
    server = WebServer(env, tmp_path / "web.log", threads=2)
    yield server
    server.stop()


def test_an_upload_labeling_and_an_export_through_the_web_server(web, admin, annotator):
    project = make_project(admin, [annotator], labels=["pos", "neg"])
    admin_auth = {"Authorization": f"Token {Token.objects.create(user=admin).key}"}
    annotator_auth = {"Authorization": f"Token {Token.objects.create(user=annotator).key}"}
    records = [{"text": f"review {k} " + "word " * 200, "external_id": f"r{k}"} for k in range(300)]
    body, content_type = multipart("file", "reviews.jsonl", b"".join(orjson.dumps(r) + b"\n" for r in records),
                                    "application/octet-stream")
    assert len(body) > 256 * 1024  # more than one read of the request's stream

    status, _, answer, _ = web.request("POST", f"/api/projects/{project.pk}/import/", body,
                                       **{"Content-Type": content_type}, **admin_auth)
    assert status == 201, answer[:500]
    assert json.loads(answer)["imported"] == 300

    for _ in range(3):
        status, headers, answer, _ = web.get(f"/api/projects/{project.pk}/next/", **annotator_auth)
        assert status == 200 and headers["Content-Type"] == "application/json"
        item = json.loads(answer)["item"]
        status, _, answer, _ = web.request("POST", f"/api/items/{item['id']}/annotations/",
                                           json.dumps({"value": {"label": "pos"}}).encode(),
                                           **{"Content-Type": "application/json"}, **annotator_auth)
        assert status == 201, answer
    status, _, answer, _ = web.request("POST", f"/api/items/{item['id']}/annotations/",
                                       json.dumps({"value": {"label": "neg"}}).encode(),
                                       **{"Content-Type": "application/json"}, **annotator_auth)
    assert status == 409, answer  # the same item twice: refused, as behind any server

    status, headers, answer, _ = web.get(f"/api/projects/{project.pk}/export/?format=jsonl", **admin_auth)
    assert status == 200
    lines = [json.loads(line) for line in answer.splitlines()]
    assert [line["external_id"] for line in lines] == [f"r{k}" for k in range(300)]
    assert sum(1 for line in lines if line["annotations"]) == 3
    assert "attachment" in headers["Content-Disposition"]


def test_an_unauthenticated_call_gets_the_api_error_and_its_headers(web):
    status, headers, answer, _ = web.get("/api/projects/")
    assert status == 401
    assert headers["WWW-Authenticate"] == "Token"
    assert json.loads(answer) == {"detail": "Authentication credentials were not provided."}
