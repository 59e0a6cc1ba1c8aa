"""PostgreSQL restarted under a running web server (granian, as in production): while it is down every
request answers 503 with Retry-After, quickly, instead of a 500 traceback; once it is back the very next
request succeeds, on a new connection in place of the one the restart cut (CONN_HEALTH_CHECKS).
"""
from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from tests import servers
from tests.conftest import ROOT, _celery_env, make_items
from tests.faults import reconnect, session_server
from tests.servers import _free_port

pytestmark = pytest.mark.django_db(transaction=True)

# A refused connection fails at once; allow for a loaded machine, not for a connect timeout.
FAST = 3.0


class Web:
    """granian with one process and one thread running the app: every request goes through the same kept database
    connection."""

    def __init__(self, env: dict, log):
        self.port = _free_port()
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1", "--port",
                 str(self.port), "--workers", "1", "--blocking-threads", "1", "--no-ws", "hitl.wsgi:application"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("/login/")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("granian did not start:\n" + log.read_text()[-3000:]) from None
                time.sleep(0.1)

    def get(self, path: str, **headers) -> tuple[int, http.client.HTTPMessage, bytes, float]:
        """Status, headers (names in any case: granian sends them in lower case), body and seconds taken."""
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request("GET", path, headers={"Host": "127.0.0.1", **headers})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read(), time.monotonic() - started
        finally:
            conn.close()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def web(django_db_blocker, tmp_path):
    w = Web(_celery_env(django_db_blocker), tmp_path / "web.log")
    yield w
    w.stop()


def test_while_postgres_restarts_requests_get_503_and_then_succeed_again(web, admin, project):
    database_url = session_server("DATABASE_URL")
    make_items(project, 3)
    token = {"Authorization": f"Token {Token.objects.create(user=admin).key}"}
    browser = Client()
    browser.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    page = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}",
            "Accept": "text/html"}
    items = f"/api/projects/{project.pk}/items/"

    status, _, body, _ = web.get(items, **token)
    assert status == 200 and json.loads(body)["count"] == 3

    # A restart with no request in between: the worker's kept connection is dead; it is noticed and
    # replaced before the request uses it.
    with servers.down(database_url):
        pass
    reconnect()
    status, _, body, _ = web.get(items, **token)
    assert status == 200, body
    assert web.get("/", **page)[0] == 200

    try:
        with servers.down(database_url):
            for path, headers in ((items, token), ("/api/users/me/", token), ("/healthz/", {})):
                status, answer, body, took = web.get(path, **headers)
                assert status == 503, (path, body[:500])
                assert json.loads(body) == {"detail": "The database is unavailable; try again in a moment."}
                assert answer["Retry-After"] == "5"
                assert took < FAST, path
            status, answer, body, took = web.get("/", **page)  # a page, for a browser
            assert status == 503 and b"The database is unavailable" in body and answer["Retry-After"] == "5"
            assert took < FAST
    finally:
        reconnect()

    status, _, body, _ = web.get(items, **token)
    assert status == 200 and json.loads(body)["count"] == 3
    assert web.get("/", **page)[0] == 200
    assert web.get("/healthz/")[0] == 200
    assert "Traceback" not in web.log.read_text()
