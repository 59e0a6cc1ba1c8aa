"""The embedded default a new user starts with: SQLite, a file-system broker, a real worker."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench.bench import multipart

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(base: str, path: str, token: str | None = None, body: bytes | None = None,
          content_type: str = "application/json") -> tuple[int, dict]:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Token {token}"
    req = urllib.request.Request(base + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _token(base: str, username: str, password: str) -> str:
    status, body = _call(base, "/api/auth/token/", body=json.dumps({"username": username,
                                                                    "password": password}).encode())
    assert status == 200, body
    return body["token"]


@pytest.fixture
def demo(tmp_path):
    """`manage.py demo` as `bin/demo` runs it, with no database or broker server configured."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(HITL_VAR_DIR=str(tmp_path), SECRET_KEY="demo-test", DEBUG="1",
               HITL_INLINE_IMPORT_MAX_BYTES="1000")
    proc = subprocess.Popen([sys.executable, "manage.py", "demo", "--addr", f"127.0.0.1:{port}"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    lines = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "Open http://" in line:
            break
        assert proc.poll() is None, "".join(lines)
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz/", timeout=2)
            break
        except OSError:
            time.sleep(0.1)
    yield base, "".join(lines)
    proc.terminate()
    proc.wait(timeout=30)
    worker = int(re.search(r"Celery worker started \(pid (\d+)\)", "".join(lines)).group(1))
    assert not _running(worker), "stopping the demo left its Celery worker running"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_demo_prints_users_of_every_role_and_serves_real_data_with_a_real_worker(demo):
    base, output = demo
    for role in ("admin", "ml_engineer", "reviewer", "annotator"):
        assert role in output
    assert "Movie reviews" in output and "Handwritten digits" in output

    admin = _token(base, "admin", "demo-admin")
    status, projects = _call(base, "/api/projects/", admin)
    assert status == 200
    assert {p["task_type"] for p in projects["results"]} == {"classification", "spans", "boxes", "pairwise", "ranking"}
    reviews = next(p for p in projects["results"] if p["name"] == "Movie reviews")

    annotator = _token(base, "annotator", "demo-annotator")
    status, first = _call(base, f"/api/projects/{reviews['id']}/next/", annotator)
    assert status == 200 and len(first["item"]["data"]["text"]) > 20
    status, _ = _call(base, f"/api/items/{first['item']['id']}/annotations/", annotator,
                      json.dumps({"value": {"label": "fresh"}}).encode())
    assert status == 201

    # A large upload becomes a job that the embedded worker (no broker server) runs.
    records = "".join(json.dumps({"text": f"new review {i}"}) + "\n" for i in range(500)).encode()
    body, content_type = multipart("file", "more.jsonl", records, "application/octet-stream")
    status, started = _call(base, f"/api/projects/{reviews['id']}/import/", admin, body, content_type)
    assert status == 202, started
    deadline = time.monotonic() + 60
    while True:
        status, job = _call(base, f"/api/jobs/{started['job']}/", admin)
        if job["state"] in ("succeeded", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert job["state"] == "succeeded", job
    assert job["result"] == {"imported": 500, "updated": 0, "skipped": 0, "annotations": 0}


def test_concurrent_annotators_on_sqlite_never_get_the_same_item(demo):
    from concurrent.futures import ThreadPoolExecutor

    from tests.http_labeler import label_until_empty

    base, _ = demo
    admin = _token(base, "admin", "demo-admin")
    status, project = _call(base, "/api/projects/", admin, json.dumps(
        {"name": "Race", "task_type": "classification", "labels": ["pos", "neg"]}).encode())
    assert status == 201
    records = [{"text": f"item {i}"} for i in range(60)]
    assert _call(base, f"/api/projects/{project['id']}/import/", admin, json.dumps(records).encode())[0] == 201
    people = [("annotator", "demo-annotator"), ("annotator2", "demo-annotator2"), ("reviewer", "demo-reviewer")]
    _, users = _call(base, "/api/users/", admin)
    ids = {u["username"]: u["id"] for u in users["results"]}
    for name, _ in people:
        assert _call(base, f"/api/projects/{project['id']}/members/", admin,
                     json.dumps({"user": ids[name]}).encode())[0] == 201
    tokens = [_token(base, name, password) for name, password in people] + [admin]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(label_until_empty, [(base, t, project["id"]) for t in tokens]))

    handed_out = [item for taken in results for item in taken]
    assert len(handed_out) == 60 and len(set(handed_out)) == 60
    _, done = _call(base, f"/api/projects/{project['id']}/items/?status=done", admin)
    assert done["count"] == 60
