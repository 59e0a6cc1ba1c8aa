"""API tokens expire and can be revoked; sessions expire; a new password or a deactivation ends both."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Role, User
from audit.models import AuditEvent
from tests.conftest import PASSWORD, make_user
from tests.security.conftest import clean_env
from tests.security.test_csrf import csrf_from

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
STRONG = "plum-tractor-nebula-42"


def get_token(username: str, password: str = PASSWORD) -> str:
    r = APIClient().post("/api/auth/token/", {"username": username, "password": password}, format="json")
    assert r.status_code == 200, r.content
    return r.json()["token"]


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def logged_in(username: str, password: str = PASSWORD) -> Client:
    """A browser that logged in through the login form."""
    client = Client(enforce_csrf_checks=True)
    token = csrf_from(client, "/login/")
    r = client.post("/login/", {"username": username, "password": password, "csrfmiddlewaretoken": token})
    assert r.status_code == 302, r.content[:300]
    return client


def age_token(key: str, seconds: float) -> None:
    Token.objects.filter(key=key).update(created=timezone.now() - timedelta(seconds=seconds))


@pytest.fixture
def ann(db):
    return make_user("ann", Role.ANNOTATOR)


@pytest.fixture
def alice(db):
    return make_user("alice", Role.ADMIN)


# --- expiry ---------------------------------------------------------------------------------------

def test_tokens_last_thirty_days_by_default(settings):
    assert settings.HITL_TOKEN_TTL_SECONDS == 30 * 24 * 3600


def test_a_token_works_until_it_expires(ann, settings):
    key = get_token("ann")
    age_token(key, settings.HITL_TOKEN_TTL_SECONDS - 60)

    assert with_token(key).get("/api/users/me/").status_code == 200


def test_an_expired_token_answers_401_saying_so(ann, settings):
    key = get_token("ann")
    age_token(key, settings.HITL_TOKEN_TTL_SECONDS + 1)

    r = with_token(key).get("/api/users/me/")

    assert r.status_code == 401
    assert r["WWW-Authenticate"] == "Token"
    assert "expired" in r.json()["detail"]
    assert "/api/auth/token/" in r.json()["detail"]
    assert not Token.objects.filter(key=key).exists()


def test_the_ttl_setting_is_honoured(ann, settings):
    settings.HITL_TOKEN_TTL_SECONDS = 60
    key = get_token("ann")
    age_token(key, 61)

    assert with_token(key).get("/api/users/me/").status_code == 401


def test_logging_in_again_after_expiry_gives_a_new_working_token(ann, settings):
    old = get_token("ann")
    age_token(old, settings.HITL_TOKEN_TTL_SECONDS + 1)

    new = get_token("ann")

    assert new != old
    assert with_token(new).get("/api/users/me/").status_code == 200
    assert with_token(old).get("/api/users/me/").status_code == 401


def test_an_expired_token_in_the_header_does_not_stop_a_new_login(ann, settings):
    old = get_token("ann")
    age_token(old, settings.HITL_TOKEN_TTL_SECONDS + 1)

    r = with_token(old).post("/api/auth/token/", {"username": "ann", "password": PASSWORD}, format="json")

    assert r.status_code == 200
    assert r.json()["token"] != old


# --- revocation -----------------------------------------------------------------------------------

def test_delete_revokes_the_callers_token(ann):
    key = get_token("ann")

    r = with_token(key).delete("/api/auth/token/")

    assert r.status_code == 204
    assert with_token(key).get("/api/users/me/").status_code == 401
    assert not Token.objects.filter(user=ann).exists()
    assert AuditEvent.objects.filter(action="token.revoked", user=ann).exists()
    assert get_token("ann") != key


def test_delete_revokes_only_the_callers_token(ann, alice):
    mine, theirs = get_token("ann"), get_token("alice")

    with_token(mine).delete("/api/auth/token/")

    assert with_token(theirs).get("/api/users/me/").status_code == 200


def test_delete_without_credentials_is_401(db):
    assert APIClient().delete("/api/auth/token/").status_code == 401


def test_a_browser_session_revokes_its_users_token_with_csrf(ann):
    key = get_token("ann")
    browser = logged_in("ann")

    assert browser.delete("/api/auth/token/").status_code == 403  # no CSRF header
    r = browser.delete("/api/auth/token/", HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)

    assert r.status_code == 204
    assert with_token(key).get("/api/users/me/").status_code == 401


# --- deactivation and new passwords end tokens and sessions ---------------------------------------

def test_deactivating_a_user_ends_their_tokens_and_sessions(ann, alice):
    key = get_token("ann")
    browser = logged_in("ann")
    admin = with_token(get_token("alice"))

    r = admin.patch(f"/api/users/{ann.pk}/", {"is_active": False}, format="json")

    assert r.status_code == 200
    assert r.json() == {"id": ann.pk, "username": "ann", "role": "annotator", "is_active": False}
    assert not Token.objects.filter(user=ann).exists()
    assert with_token(key).get("/api/users/me/").status_code == 401
    assert browser.get("/").status_code == 302
    assert browser.get("/api/users/me/").status_code == 401
    assert not [s for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") == str(ann.pk)]
    assert AuditEvent.objects.filter(action="user.deactivated", user=alice, payload__changed=ann.pk).exists()


def test_reactivating_does_not_bring_old_credentials_back(ann, alice):
    key = get_token("ann")
    browser = logged_in("ann")
    admin = with_token(get_token("alice"))
    admin.patch(f"/api/users/{ann.pk}/", {"is_active": False}, format="json")

    assert admin.patch(f"/api/users/{ann.pk}/", {"is_active": True}, format="json").status_code == 200

    assert with_token(key).get("/api/users/me/").status_code == 401
    assert browser.get("/").status_code == 302
    assert get_token("ann") != key  # logging in again works


def test_a_deactivated_user_cannot_log_in(ann, alice):
    with_token(get_token("alice")).patch(f"/api/users/{ann.pk}/", {"is_active": False}, format="json")

    r = APIClient().post("/api/auth/token/", {"username": "ann", "password": PASSWORD}, format="json")

    assert r.status_code == 400
    assert not Token.objects.filter(user=ann).exists()


def test_deactivation_outside_the_api_ends_tokens_and_sessions_too(ann):
    # The Django admin, a shell or a script: the model's save is enough.
    key = get_token("ann")
    browser = logged_in("ann")

    ann.is_active = False
    ann.save()

    assert not Token.objects.filter(key=key).exists()
    assert browser.get("/").status_code == 302


def test_admins_cannot_deactivate_themselves(alice):
    r = with_token(get_token("alice")).patch(f"/api/users/{alice.pk}/", {"is_active": False}, format="json")

    assert r.status_code == 400
    assert list(r.json()) == ["is_active"]
    alice.refresh_from_db()
    assert alice.is_active


def test_changing_ones_password_ends_other_sessions_and_tokens_but_not_this_browser(ann):
    key = get_token("ann")
    other_browser = logged_in("ann")
    browser = logged_in("ann")

    r = browser.post("/api/users/me/password/", {"old_password": PASSWORD, "new_password": STRONG},
                     content_type="application/json", HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)

    assert r.status_code == 204
    assert browser.get("/").status_code == 200  # the browser that changed it stays logged in
    assert other_browser.get("/").status_code == 302
    assert with_token(key).get("/api/users/me/").status_code == 401
    ann.refresh_from_db()
    assert ann.check_password(STRONG)
    assert AuditEvent.objects.filter(action="user.password_changed", user=ann).exists()


def test_changing_the_password_with_a_token_revokes_that_token(ann):
    key = get_token("ann")

    r = with_token(key).post("/api/users/me/password/", {"old_password": PASSWORD, "new_password": STRONG},
                             format="json")

    assert r.status_code == 204
    assert with_token(key).get("/api/users/me/").status_code == 401
    assert with_token(get_token("ann", STRONG)).get("/api/users/me/").status_code == 200


def test_an_admin_setting_a_password_ends_the_users_tokens_and_sessions(ann, alice):
    key = get_token("ann")
    browser = logged_in("ann")

    r = with_token(get_token("alice")).patch(f"/api/users/{ann.pk}/", {"password": STRONG}, format="json")

    assert r.status_code == 200
    assert with_token(key).get("/api/users/me/").status_code == 401
    assert browser.get("/").status_code == 302
    assert APIClient().post("/api/auth/token/", {"username": "ann", "password": PASSWORD},
                            format="json").status_code == 400
    assert get_token("ann", STRONG)


def test_a_password_set_outside_the_api_ends_tokens_too(ann):
    key = get_token("ann")

    ann.set_password(STRONG)
    ann.save()

    assert not Token.objects.filter(key=key).exists()


class OneRoundPBKDF2(PBKDF2PasswordHasher):
    """A cheap hasher that is not the stored one, so that logging in re-hashes the password."""

    iterations = 1


def test_rehashing_the_same_password_at_login_is_no_password_change(ann, settings):
    key = get_token("ann")  # stored with MD5 (tests/conftest.py)
    settings.PASSWORD_HASHERS = [f"{__name__}.OneRoundPBKDF2", "django.contrib.auth.hashers.MD5PasswordHasher"]

    assert logged_in("ann")
    ann.refresh_from_db()
    assert ann.password.startswith("pbkdf2_sha256$1$")  # re-hashed
    assert with_token(key).get("/api/users/me/").status_code == 200


def test_other_fields_saved_leave_credentials_alone(ann):
    key = get_token("ann")

    ann.first_name = "Ann"
    ann.save()
    User.objects.get(pk=ann.pk).save(update_fields=["last_login"])

    assert with_token(key).get("/api/users/me/").status_code == 200


# --- sessions -------------------------------------------------------------------------------------

def test_a_session_lasts_twelve_hours_by_default(settings, ann):
    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    browser = logged_in("ann")

    cookie = browser.cookies[settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) == 12 * 3600
    session = Session.objects.get(session_key=cookie.value)
    assert abs((session.expire_date - timezone.now()) - timedelta(hours=12)) < timedelta(minutes=1)


def test_an_expired_session_is_logged_out(ann, settings):
    browser = logged_in("ann")
    key = browser.cookies[settings.SESSION_COOKIE_NAME].value
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))

    r = browser.get("/")

    assert r.status_code == 302 and r["Location"].startswith("/login/")
    assert browser.get("/api/users/me/").status_code == 401


def test_the_session_age_setting_is_honoured(ann, settings):
    settings.SESSION_COOKIE_AGE = 60
    browser = logged_in("ann")

    assert int(browser.cookies[settings.SESSION_COOKIE_NAME]["max-age"]) == 60


def settings_from_env(**env) -> dict:
    """Some settings as a fresh process reads them from these environment variables."""
    names = ["SESSION_COOKIE_AGE", "HITL_TOKEN_TTL_SECONDS", "AXES_FAILURE_LIMIT", "AXES_COOLOFF_TIME"]
    code = ("import json, django; from django.conf import settings; django.setup(); "
            f"print(json.dumps({{n: str(getattr(settings, n)) for n in {names!r}}}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean_env(**env), capture_output=True,
                         text=True, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_lifetimes_and_login_limits_come_from_the_environment():
    values = settings_from_env(SESSION_COOKIE_AGE="600", HITL_TOKEN_TTL_SECONDS="3600",
                               HITL_LOGIN_FAILURE_LIMIT="7", HITL_LOGIN_LOCKOUT_SECONDS="120")

    assert values == {"SESSION_COOKIE_AGE": "600", "HITL_TOKEN_TTL_SECONDS": "3600", "AXES_FAILURE_LIMIT": "7",
                      "AXES_COOLOFF_TIME": "0:02:00"}
