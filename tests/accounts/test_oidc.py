"""Single sign-on against a real OpenID provider (oidc-provider-mock, started here on a thread).

The browser's part is Django's test client on our side and `requests` on the provider's: our
/oidc/authenticate/ sends it to the provider, the provider's authorization form (a `sub` typed in)
sends it back to /oidc/callback/ with a code, and the backend exchanges the code, checks the ID token
with the provider's JWKS and reads its userinfo, all over HTTP, as in production.
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.test import Client
from oidc_provider_mock import run_server_in_thread

from accounts import oidc
from accounts.models import OidcIdentity, Role, User
from audit.models import AuditEvent
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db

CLIENT_ID, CLIENT_SECRET = "hitl", "hitl-client-secret"


class MockProvider:
    """The running provider: its issuer URL, and the claims it gives a subject."""

    def __init__(self, port: int):
        self.issuer = f"http://localhost:{port}"

    def set_user(self, sub: str, claims: dict) -> None:
        requests.put(f"{self.issuer}/users/{sub}", json=claims, timeout=5).raise_for_status()

    def authorize(self, authorize_url: str, sub: str) -> str:
        """Submit the provider's authorization form as `sub`; the URL it sends the browser back to."""
        assert authorize_url.startswith(f"{self.issuer}/oauth2/authorize?"), authorize_url
        form = requests.get(authorize_url, timeout=5)
        assert form.status_code == 200 and 'name="sub"' in form.text
        answer = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=5)
        assert answer.status_code == 302, answer.text[:500]
        return answer.headers["Location"]


@pytest.fixture(scope="session")
def provider():
    # require_nonce: the provider refuses an authorization request without one (ours always sends it).
    with run_server_in_thread(require_nonce=True) as server:
        yield MockProvider(server.server_port)


def configure(settings, provider: MockProvider, **extra) -> None:
    """SSO on, by discovery from the provider's issuer, with `extra` settings."""
    settings.HITL_OIDC_ISSUER = provider.issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    for name in oidc.ENDPOINTS:
        setattr(settings, name, "")
    settings.HITL_OIDC_ROLE_CLAIM = ""
    settings.HITL_OIDC_ROLE_MAP = {}
    settings.HITL_OIDC_DEFAULT_ROLE = "annotator"
    settings.HITL_OIDC_LINK_BY_EMAIL = False
    settings.HITL_OIDC_PROVIDER_NAME = "Acme ID"
    for name, value in extra.items():
        setattr(settings, name, value)


@pytest.fixture
def sso(settings, provider):
    configure(settings, provider)
    return settings


def sso_login(client: Client, provider: MockProvider, sub: str, claims: dict | None = None, next_url: str = ""):
    """The whole browser round trip; the callback's answer."""
    if claims is not None:
        provider.set_user(sub, claims)
    start = client.get("/oidc/authenticate/" + (f"?next={next_url}" if next_url else ""))
    assert start.status_code == 302, start.content[:300]
    query = parse_qs(urlsplit(start["Location"]).query)
    assert query["client_id"] == [CLIENT_ID] and query["nonce"] and query["state"]
    assert query["code_challenge_method"] == ["S256"]  # PKCE on
    back = provider.authorize(start["Location"], sub)
    assert back.startswith("http://testserver/oidc/callback/?"), back
    return client.get(back.removeprefix("http://testserver"))


def logged_in_user(client: Client) -> User | None:
    me = client.get("/api/users/me/")
    return User.objects.get(pk=me.json()["id"]) if me.status_code == 200 else None


def actions(**filters) -> list[str]:
    return list(AuditEvent.objects.filter(**filters).order_by("id").values_list("action", flat=True))


def test_a_new_user_logs_in_and_gets_the_role_the_claim_maps_to(sso, provider):
    sso.HITL_OIDC_ROLE_CLAIM = "hitl_role"
    sso.HITL_OIDC_ROLE_MAP = {"hitl-reviewers": "reviewer", "hitl-admins": "admin"}
    client = Client()

    r = sso_login(client, provider, "sub-rita", {"preferred_username": "rita.sso", "email": "rita@example.org",
                                                 "hitl_role": "hitl-reviewers"}, next_url="/inbox/")

    assert r.status_code == 302 and r["Location"] == "/inbox/"
    user = logged_in_user(client)
    assert user is not None and user.username == "rita.sso" and user.email == "rita@example.org"
    assert user.role == Role.REVIEWER and not user.has_usable_password() and not user.is_staff
    assert OidcIdentity.objects.get(user=user).sub == "sub-rita"
    assert OidcIdentity.objects.get(user=user).issuer == provider.issuer
    assert actions() == ["user.created", "user.sso_login"]
    created = AuditEvent.objects.get(action="user.created")
    assert created.payload["via"] == "sso" and created.payload["role"] == "reviewer"
    assert client.get("/").status_code == 200  # a real session

    # The claim decides at every login: promoted at the provider, promoted here.
    provider.set_user("sub-rita", {"preferred_username": "rita.sso", "hitl_role": ["hitl-admins"]})
    sso_login(Client(), provider, "sub-rita")
    user.refresh_from_db()
    assert user.role == Role.ADMIN and user.is_staff
    assert User.objects.filter(username__startswith="rita").count() == 1  # found again by sub
    assert AuditEvent.objects.filter(action="user.role_changed", payload__via="sso_claim").count() == 1


def test_without_a_claim_new_users_get_the_default_role_and_keep_what_the_admin_sets(sso, provider, admin):
    sso.HITL_OIDC_DEFAULT_ROLE = "annotator"
    claims = {"preferred_username": "dan", "hitl_role": "admin"}  # ignored: no claim is configured
    sso_login(Client(), provider, "sub-dan", claims)
    dan = User.objects.get(username="dan")
    assert dan.role == Role.ANNOTATOR

    # The admin changes his role on the users page ...
    admin_browser = Client()
    admin_browser.force_login(admin)
    assert admin_browser.post("/users/", {"user": dan.pk, "role": "ml_engineer"}).status_code == 302
    dan.refresh_from_db()
    assert dan.role == Role.ML_ENGINEER
    assert AuditEvent.objects.filter(action="user.role_changed", user=admin, payload__changed=dan.pk).exists()

    # ... and the next SSO login leaves it.
    client = Client()
    assert sso_login(client, provider, "sub-dan").status_code == 302
    dan.refresh_from_db()
    assert dan.role == Role.ML_ENGINEER and logged_in_user(client) == dan


def test_a_list_claim_maps_to_the_highest_role(sso, provider):
    sso.HITL_OIDC_ROLE_CLAIM = "groups"
    sso.HITL_OIDC_ROLE_MAP = {"labelers": "annotator", "ml": "ml_engineer", "qa": "reviewer"}
    sso_login(Client(), provider, "sub-gus", {"preferred_username": "gus", "groups": ["labelers", "qa", "ml", "x"]})
    assert User.objects.get(username="gus").role == Role.ML_ENGINEER

    # No mapped value: the default role (the claim is the authority once configured).
    sso.HITL_OIDC_DEFAULT_ROLE = "annotator"
    sso_login(Client(), provider, "sub-gus", {"preferred_username": "gus", "groups": ["finance"]})
    assert User.objects.get(username="gus").role == Role.ANNOTATOR


def test_role_from_claims_without_a_map_takes_role_names():
    from django.test import override_settings

    with override_settings(HITL_OIDC_ROLE_CLAIM="hitl_role", HITL_OIDC_ROLE_MAP={}, HITL_OIDC_DEFAULT_ROLE="annotator"):
        assert oidc.role_from_claims({"hitl_role": "reviewer"}) == "reviewer"
        assert oidc.role_from_claims({"hitl_role": ["reviewer", "admin"]}) == "admin"
        assert oidc.role_from_claims({"hitl_role": "superhero"}) == "annotator"
        assert oidc.role_from_claims({}) == "annotator"
    with override_settings(HITL_OIDC_ROLE_CLAIM=""):
        assert oidc.role_from_claims({"hitl_role": "admin"}) is None


def test_a_deactivated_user_is_refused(sso, provider):
    sso_login(Client(), provider, "sub-eve", {"preferred_username": "eve"})
    eve = User.objects.get(username="eve")
    eve.is_active = False
    eve.save()

    client = Client()
    r = sso_login(client, provider, "sub-eve")

    assert r.status_code == 302 and r["Location"] == "/login/?sso=failed"
    assert logged_in_user(client) is None
    assert AuditEvent.objects.filter(action="user.sso_refused", user=eve, payload__reason="deactivated").exists()
    page = client.get(r["Location"]).content.decode()
    assert 'id="sso-error"' in page and "deactivated" in page


def test_a_local_account_is_not_taken_over_by_name_or_email_but_can_be_linked_by_email(sso, provider):
    ann = make_user("ann", Role.REVIEWER, email="ann@example.org")
    claims = {"preferred_username": "ann", "email": "ann@example.org", "email_verified": True}

    client = Client()
    sso_login(client, provider, "sub-ann-1", claims)
    stranger = logged_in_user(client)
    assert stranger != ann and stranger.username == "ann-2" and stranger.role == Role.ANNOTATOR

    sso.HITL_OIDC_LINK_BY_EMAIL = True
    client = Client()
    sso_login(client, provider, "sub-ann-2", {**claims, "email": "ANN@example.org"})
    # Two accounts have that address now (ann and ann-2): no guessing, a new account.
    assert logged_in_user(client).username == "ann-3"

    User.objects.filter(username__in=["ann-2", "ann-3"]).update(email="")
    client = Client()
    sso_login(client, provider, "sub-ann-4", claims)
    assert logged_in_user(client) == ann
    assert OidcIdentity.objects.filter(user=ann, sub="sub-ann-4").exists()
    assert "user.sso_linked" in actions(user=ann)
    ann.refresh_from_db()
    assert ann.role == Role.REVIEWER and ann.check_password(PASSWORD)  # her role and password stay


def test_a_forged_or_replayed_callback_is_refused(sso, provider):
    client = Client()
    provider.set_user("sub-mal", {"preferred_username": "mal"})
    start = client.get("/oidc/authenticate/")
    back = provider.authorize(start["Location"], "sub-mal").removeprefix("http://testserver")

    # The state must be the one this browser was given ...
    assert Client().get(back).status_code == 302  # no login states in that browser: back to failure
    assert client.get(back.replace("state=", "state=x")).status_code == 400
    # ... and works once.
    assert client.get(back).status_code == 302 and logged_in_user(client).username == "mal"
    again = client.get(back)
    assert again.status_code == 400


def test_explicit_endpoints_work_without_discovery(settings, provider):
    configure(settings, provider, HITL_OIDC_ISSUER="",
              OIDC_OP_AUTHORIZATION_ENDPOINT=f"{provider.issuer}/oauth2/authorize",
              OIDC_OP_TOKEN_ENDPOINT=f"{provider.issuer}/oauth2/token",
              OIDC_OP_USER_ENDPOINT=f"{provider.issuer}/userinfo",
              OIDC_OP_JWKS_ENDPOINT=f"{provider.issuer}/jwks")
    client = Client()
    sso_login(client, provider, "sub-fay", {"preferred_username": "fay"})
    assert logged_in_user(client).username == "fay"


def test_an_unreachable_provider_sends_back_to_the_login_page(settings, provider):
    configure(settings, provider, HITL_OIDC_ISSUER="http://localhost:9")  # nothing listens there
    client = Client()
    r = client.get("/oidc/authenticate/")
    assert r.status_code == 302 and r["Location"] == "/login/?sso=unavailable"
    assert "cannot be reached" in client.get(r["Location"]).content.decode()
    # A password login does not need the provider.
    make_user("ann", Role.ANNOTATOR)
    assert client.post("/login/", {"username": "ann", "password": PASSWORD}).status_code == 302


def test_local_password_login_keeps_working_with_sso_on(sso, provider):
    ann = make_user("ann", Role.ANNOTATOR)
    client = Client()
    r = client.post("/login/", {"username": "ann", "password": PASSWORD})
    assert r.status_code == 302 and r["Location"] == "/"
    assert logged_in_user(client) == ann
    assert client.post("/login/", {"username": "ann", "password": "wrong"}).status_code == 200
    # And the API's token login.
    assert Client().post("/api/auth/token/", {"username": "ann", "password": PASSWORD}).status_code == 200


def test_logout_ends_an_sso_session(sso, provider):
    client = Client()
    sso_login(client, provider, "sub-hal", {"preferred_username": "hal"})
    assert logged_in_user(client) is not None
    assert client.post("/logout/").status_code == 302
    assert logged_in_user(client) is None
    sso_login(client, provider, "sub-hal")
    assert client.post("/oidc/logout/").status_code == 302
    assert logged_in_user(client) is None


def test_the_login_page_shows_the_sso_button_only_when_configured(settings, provider):
    for name in ("HITL_OIDC_ISSUER", "OIDC_RP_CLIENT_ID", "OIDC_RP_CLIENT_SECRET", *oidc.ENDPOINTS):
        setattr(settings, name, "")
    page = Client().get("/login/").content.decode()
    assert 'id="sso-login"' not in page and 'id="id_username"' in page
    assert Client().get("/oidc/authenticate/").status_code == 404
    assert Client().get("/oidc/callback/?code=x&state=y").status_code == 404

    configure(settings, provider)
    page = Client().get("/login/?next=/inbox/").content.decode()
    assert 'id="sso-login"' in page and "Log in with Acme ID" in page
    assert 'href="/oidc/authenticate/?next=/inbox/"' in page
    assert 'id="id_username"' in page  # the password form stays


def test_settings_name_wrong_roles_in_the_system_check(settings):
    settings.HITL_OIDC_ROLE_MAP = {"staff": "boss"}
    settings.HITL_OIDC_DEFAULT_ROLE = "annotator"
    assert [e.id for e in oidc.check_settings()] == ["hitl.sso.HITL_OIDC_ROLE_MAP"]
