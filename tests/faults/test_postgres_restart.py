"""PostgreSQL restarted under a running web server (granian, as in production): while it is down every
request answers 503 with Retry-After, quickly, instead of a 500 traceback; once it is back the very next
request succeeds, on a new connection in place of the one the restart cut (CONN_HEALTH_CHECKS).
"""
from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from tests import servers
from tests.conftest import _celery_env, make_items
from tests.faults import reconnect, session_server
from tests.web_server import WebServer

pytestmark = pytest.mark.django_db(transaction=True)

# A refused connection fails at once; allow for a loaded machine, not for a connect timeout.
FAST = 3.0


@pytest.fixture
def web(django_db_blocker, tmp_path):
    w = WebServer(_celery_env(django_db_blocker), tmp_path / "web.log")
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
