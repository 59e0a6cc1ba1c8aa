"""Security headers, the Content-Security-Policy, HTTPS settings for production, and `check --deploy`."""
from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

from tests.conftest import make_project, make_user
from tests.security.conftest import clean_env

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def csp_of(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in header.split(";")) if d}


@pytest.fixture
def admin_browser(db):
    admin = make_user("alice", "admin")
    make_project(admin)
    client = Client()
    client.force_login(admin)
    return client


@pytest.mark.parametrize("path", ["/login/", "/", "/projects/{pk}/label/", "/projects/{pk}/dashboard/",
                                  "/api/projects/", "/healthz/"])
def test_every_response_carries_the_security_headers(admin_browser, path):
    from tasks.models import Project

    r = admin_browser.get(path.format(pk=Project.objects.get().pk))

    assert r.status_code == 200
    assert r["X-Frame-Options"] == "DENY"
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["Referrer-Policy"] == "same-origin"
    assert r["Cross-Origin-Opener-Policy"] == "same-origin"
    csp = csp_of(r)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no inline script, no eval; a nonce only where a page asks
    assert csp["style-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"] and csp["form-action"] == ["'self'"]


def test_the_api_docs_get_a_nonce_for_their_one_inline_script(admin_browser):
    r = admin_browser.get("/api/docs/")

    nonce = [s for s in csp_of(r)["script-src"] if s.startswith("'nonce-")]
    assert len(nonce) == 1
    html = r.content.decode()
    assert f'<script nonce="{nonce[0][7:-1]}">' in html
    assert "cdn." not in html and "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html  # served from here
    second = admin_browser.get("/api/docs/")
    assert csp_of(second)["script-src"] != csp_of(r)["script-src"]  # a new nonce every time


def test_images_from_another_server_can_be_allowed():
    # For items whose data.image points at an image server of the deployment's own.
    values = settings_from_env(HITL_CSP_IMG_SRC="https://images.example.com")

    assert values["CSP_IMG_SRC"] == ["'self'", "data:", "https://images.example.com"]


# --- production (DEBUG off) and the demo (DEBUG on) ---------------------------------------------------

NAMES = ["DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
         "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_PROXY_SSL_HEADER", "SECURE_REFERRER_POLICY", "X_FRAME_OPTIONS",
         "SECURE_CONTENT_TYPE_NOSNIFF", "SESSION_COOKIE_HTTPONLY"]


def settings_from_env(**env) -> dict:
    """Settings as a fresh process reads them from the environment (nothing else of the test's)."""
    code = ("import json, django; from django.conf import settings; django.setup(); "
            f"values = {{n: getattr(settings, n) for n in {NAMES!r}}}; "
            "values['CSP_IMG_SRC'] = settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['img-src']; "
            "print(json.dumps(values))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean_env(**env), capture_output=True, text=True,
                         timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_production_defaults_to_secure_cookies_and_needs_https_said():
    values = settings_from_env(DEBUG="0")

    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"] and values["SESSION_COOKIE_HTTPONLY"]
    # Redirect and HSTS only once the site says it is served over HTTPS (it may sit behind a TLS proxy).
    assert (values["SECURE_SSL_REDIRECT"], values["SECURE_HSTS_SECONDS"]) == (False, 0)
    assert (values["SECURE_REFERRER_POLICY"], values["X_FRAME_OPTIONS"], values["SECURE_CONTENT_TYPE_NOSNIFF"]) == \
        ("same-origin", "DENY", True)


def test_https_turns_on_the_redirect_and_hsts():
    values = settings_from_env(DEBUG="0", HITL_HTTPS="1")

    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] is None  # no proxy said: X-Forwarded-Proto is not trusted


def test_behind_a_tls_proxy_its_forwarded_proto_is_trusted():
    values = settings_from_env(DEBUG="0", HITL_HTTPS="1", HITL_BEHIND_TLS_PROXY="1")

    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_each_https_setting_can_be_set_on_its_own():
    values = settings_from_env(DEBUG="0", HITL_HTTPS="1", SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="60",
                               SESSION_COOKIE_SECURE="0")

    assert (values["SECURE_SSL_REDIRECT"], values["SECURE_HSTS_SECONDS"], values["SESSION_COOKIE_SECURE"]) == \
        (False, 60, False)


def test_the_demo_over_plain_http_keeps_working():
    values = settings_from_env(DEBUG="1")

    assert not values["SESSION_COOKIE_SECURE"] and not values["CSRF_COOKIE_SECURE"]
    assert not values["SECURE_SSL_REDIRECT"] and values["SECURE_HSTS_SECONDS"] == 0


PRODUCTION = dict(SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=31536000, SECURE_HSTS_INCLUDE_SUBDOMAINS=True,
                  SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True)


@override_settings(**PRODUCTION)
def test_in_production_http_is_redirected_to_https(db):
    r = Client().get("/login/")

    assert r.status_code == 301
    assert r["Location"] == "https://testserver/login/"


@override_settings(**PRODUCTION)
def test_the_containers_health_check_over_plain_http_is_not_redirected(db):
    assert Client().get("/healthz/").status_code == 200


@override_settings(**PRODUCTION)
def test_in_production_https_answers_carry_hsts_and_secure_cookies(db):
    r = Client().get("/login/", secure=True)

    assert r.status_code == 200
    assert r["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert r.cookies["csrftoken"]["secure"] is True


@override_settings(**PRODUCTION, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_behind_the_proxy_forwarded_https_is_not_redirected(db):
    assert Client().get("/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 200
    assert Client().get("/login/", HTTP_X_FORWARDED_PROTO="http").status_code == 301


# --- check --deploy ---------------------------------------------------------------------------------

def test_check_deploy_finds_nothing_in_production_settings(tmp_path):
    env = clean_env(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="hitl.example.com", HITL_HTTPS="1",
                    HITL_VAR_DIR=str(tmp_path))

    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)

    report = out.stdout + out.stderr
    assert out.returncode == 0, report
    assert "WARNINGS" not in report and "ERRORS" not in report, report
    assert "System check identified no issues" in report
    # The one silenced check, with its reason in hitl/settings.py: HSTS preload is the domain owner's call.
    assert "(1 silenced)" in report


def test_check_deploy_without_https_says_what_is_missing(tmp_path):
    env = clean_env(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="hitl.example.com",
                    HITL_VAR_DIR=str(tmp_path))

    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)

    assert "security.W004" in out.stderr and "security.W008" in out.stderr  # HSTS, SSL redirect
    assert "W012" not in out.stderr and "W016" not in out.stderr  # the cookies are secure already
