"""CSRF: every form and every write the browser makes with its session needs the token; API clients
that send a token (Authorization: Token) need none, since a browser never adds that header by itself."""
from __future__ import annotations

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tasks.models import Project
from tests.conftest import PASSWORD
from tests.security.conftest import World
from tests.security.test_access_matrix import ROWS, Row, call

pytestmark = pytest.mark.django_db


def csrf_from(client: Client, path: str) -> str:
    """The token of the form on `path` (the page also sets the csrftoken cookie)."""
    page = client.get(path)
    assert page.status_code == 200, path
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert match, f"{path} has a form with a CSRF token"
    return match.group(1)


def strict_browser(world: World | None = None, persona: str | None = None) -> Client:
    client = Client(enforce_csrf_checks=True)
    if world is not None and persona is not None:
        client.force_login(world.users[persona])
    return client


# --- server-rendered forms ----------------------------------------------------------------------

def test_login_form_refuses_a_post_without_the_token(world):
    client = strict_browser()
    client.get("/login/")

    r = client.post("/login/", {"username": "alice", "password": PASSWORD})

    assert r.status_code == 403
    assert "_auth_user_id" not in client.session


def test_login_form_with_the_token_logs_in(world):
    client = strict_browser()
    token = csrf_from(client, "/login/")

    r = client.post("/login/", {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token})

    assert r.status_code == 302
    assert client.session["_auth_user_id"] == str(world.users["admin"].pk)


def test_a_token_from_another_session_is_refused(world):
    other = strict_browser()
    stolen = csrf_from(other, "/login/")
    client = strict_browser()
    client.get("/login/")

    r = client.post("/login/", {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": stolen + "x"})

    assert r.status_code == 403


def test_logout_form_needs_the_token_and_logout_is_never_a_get(world):
    client = strict_browser(world, "annotator")
    token = csrf_from(client, "/")  # the log-out button's form

    assert client.post("/logout/").status_code == 403
    assert client.get("/").status_code == 200  # still logged in
    assert client.get("/logout/").status_code == 405
    assert client.post("/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_settings_form_refuses_a_post_without_the_token(world):
    client = strict_browser(world, "admin")
    url = f"/projects/{world.project.pk}/settings/"

    r = client.post(url, {"overlap": "4", "instructions": "Changed by a forged form."})

    assert r.status_code == 403
    world.project.refresh_from_db()
    assert (world.project.overlap, world.project.instructions) == (2, "")


def test_settings_form_with_the_token_saves(world):
    client = strict_browser(world, "admin")
    url = f"/projects/{world.project.pk}/settings/"
    token = csrf_from(client, url)

    r = client.post(url, {"overlap": "4", "instructions": "Read twice.", "csrfmiddlewaretoken": token})

    assert r.status_code == 200
    world.project.refresh_from_db()
    assert (world.project.overlap, world.project.instructions) == (4, "Read twice.")


# --- the API as the browser's scripts call it (session cookie + X-CSRFToken) ----------------------

# The unsafe methods of the API, from the access matrix: the writes the screens' scripts make (next's
# lease is a GET and changes only the caller's own lease), and every other one a session could make.
# Asking for a token needs no credentials at all, so it needs no CSRF token either: a forged request
# gets no response it can read and changes nothing in the victim's browser.
def _session_write(row: Row) -> bool:
    if row.page or row.method not in ("post", "put", "patch", "delete"):
        return False
    return not (row.route == "api/auth/token/" and row.method == "post")


SESSION_WRITES = [row for row in ROWS if _session_write(row)]


@pytest.mark.parametrize("row", SESSION_WRITES, ids=[row.id for row in SESSION_WRITES])
def test_session_writes_without_the_csrf_header_are_refused(world, row: Row):
    client = strict_browser(world, "admin")
    client.get("/")  # the csrftoken cookie, as the browser has it
    body = row.body(world, "admin") if row.body else None
    projects_before = Project.objects.count()

    r = client.generic(row.method.upper(), row.url(world), data=_json(body), content_type="application/json")

    assert r.status_code == 403, r.content[:300]
    assert "CSRF" in r.json()["detail"]
    assert Project.objects.count() == projects_before


@pytest.mark.parametrize("row", SESSION_WRITES, ids=[row.id for row in SESSION_WRITES])
def test_session_writes_with_the_csrf_header_go_through(world, row: Row):
    client = strict_browser(world, "admin")
    client.get("/")
    body = row.body(world, "admin") if row.body else None

    r = client.generic(row.method.upper(), row.url(world), data=_json(body), content_type="application/json",
                       HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)

    assert r.status_code == row.expect["admin"], r.content[:300]


@pytest.mark.parametrize("row", SESSION_WRITES, ids=[row.id for row in SESSION_WRITES])
def test_token_clients_need_no_csrf_token(world, row: Row):
    # The admin's API token, from a client that checks CSRF as a browser's session would be checked.
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens['admin']}")

    r = call(world, row, "admin", client=client)

    assert r.status_code == row.expect["admin"], r.content[:300]


def _json(body) -> str:
    import json

    return "" if body is None else json.dumps(body)
