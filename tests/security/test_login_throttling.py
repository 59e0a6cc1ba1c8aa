"""Repeated failed logins for one username from one address are refused for a while (django-axes):
on the login page and at POST /api/auth/token/ alike, and counted together."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Role
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


@pytest.fixture
def ann(db):
    return make_user("ann", Role.ANNOTATOR)


def api_login(password: str, username: str = "ann", address: str = "10.0.0.1"):
    return APIClient(REMOTE_ADDR=address).post("/api/auth/token/", {"username": username, "password": password},
                                               format="json")


def page_login(password: str, username: str = "ann", address: str = "10.0.0.1"):
    client = Client(REMOTE_ADDR=address)
    r = client.post("/login/", {"username": username, "password": password})
    return r, client


def fail(n: int, via=api_login, **kwargs) -> list[int]:
    """The status codes of `n` logins with a wrong password."""
    codes = []
    for _ in range(n):
        r = via("wrong-password", **kwargs)
        codes.append((r[0] if isinstance(r, tuple) else r).status_code)
    return codes


def test_the_api_refuses_even_the_right_password_after_the_limit(ann, settings):
    # The LIMIT-th failure locks: it is answered 429 already.
    assert fail(LIMIT) == [400] * (LIMIT - 1) + [429]

    r = api_login(PASSWORD)

    assert r.status_code == 429
    assert "Too many failed logins" in r.json()["detail"]
    assert "15 minutes" in r.json()["detail"]
    assert r["Retry-After"] == str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    assert not Token.objects.exists()


def test_a_success_under_the_limit_resets_the_count(ann):
    assert fail(LIMIT - 1) == [400] * (LIMIT - 1)
    assert api_login(PASSWORD).status_code == 200
    assert fail(LIMIT - 1) == [400] * (LIMIT - 1)
    assert api_login(PASSWORD).status_code == 200


def test_the_login_page_refuses_even_the_right_password_after_the_limit(ann):
    assert fail(LIMIT, via=page_login) == [200] * (LIMIT - 1) + [429]  # the form again, then locked

    r, client = page_login(PASSWORD)

    assert r.status_code == 429
    page = r.content.decode()
    assert "Too many failed logins" in page
    assert 'name="username"' in page  # the form, to try later
    assert "_auth_user_id" not in client.session


def test_the_page_and_the_api_count_together(ann):
    fail(LIMIT - 1, via=page_login)
    fail(1)

    assert api_login(PASSWORD).status_code == 429
    assert page_login(PASSWORD)[0].status_code == 429


def test_other_users_and_other_addresses_are_not_locked_out(ann):
    make_user("bob", Role.ANNOTATOR)
    fail(LIMIT)

    assert api_login(PASSWORD, username="bob").status_code == 200
    assert api_login(PASSWORD, address="10.0.0.2").status_code == 200
    assert page_login(PASSWORD, address="10.0.0.2")[0].status_code == 302


def test_unknown_usernames_are_throttled_the_same_way(db):
    fail(LIMIT, username="nobody")

    assert api_login("anything", username="nobody").status_code == 429


def test_the_lockout_lifts_after_the_window(ann, settings):
    fail(LIMIT)
    assert api_login(PASSWORD).status_code == 429

    # The window is counted from the last failure (a refused try counts as one).
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))

    assert api_login(PASSWORD).status_code == 200
    assert page_login(PASSWORD)[0].status_code == 302


def test_a_short_window_lifts_by_itself(ann, settings):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    fail(LIMIT)
    assert api_login(PASSWORD).status_code == 429

    time.sleep(1.2)

    assert api_login(PASSWORD).status_code == 200


def test_behind_a_tls_proxy_the_forwarded_address_counts(ann, settings):
    settings.HITL_BEHIND_TLS_PROXY = True

    def via_proxy(password, client_address):
        # The proxy (10.0.0.9) appends the address it saw; what the client sent before it is ignored.
        return APIClient(REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR=f"6.6.6.6, {client_address}").post(
            "/api/auth/token/", {"username": "ann", "password": password}, format="json")

    for _ in range(LIMIT):
        via_proxy("wrong-password", "203.0.113.7")

    assert via_proxy(PASSWORD, "203.0.113.7").status_code == 429
    assert via_proxy(PASSWORD, "203.0.113.8").status_code == 200
