"""Single sign-on in the browser: the login page's button, the provider's own page, and back home logged in.

The provider is oidc-provider-mock on a thread (tests/accounts/test_oidc.py); its authorization page
asks for the subject to log in as, where a real provider asks for a password.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import OidcIdentity, Role, User
from tests.accounts.test_oidc import configure, provider  # noqa: F401  (the provider fixture)
from tests.ui.conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)


def test_a_person_logs_in_with_single_sign_on(page: Page, live_server, settings, provider):  # noqa: F811
    configure(settings, provider, HITL_OIDC_ROLE_CLAIM="groups", HITL_OIDC_ROLE_MAP={"qa": "reviewer"})
    provider.set_user("sub-olga", {"preferred_username": "olga", "email": "olga@example.org", "groups": ["qa"]})

    page.goto(f"{live_server.url}/login/")
    expect(page.locator("#id_username")).to_be_visible()  # the password form stays
    button = page.locator("#sso-login")
    expect(button).to_have_text("Log in with Acme ID")
    screenshot(page, "login-sso")
    button.click()

    page.wait_for_url(f"{provider.issuer}/oauth2/authorize?*")
    page.fill("input[name=sub]", "sub-olga")
    page.get_by_role("button", name="Authorize").click()

    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.locator("body")).to_contain_text("olga")
    olga = User.objects.get(username="olga")
    assert olga.role == Role.REVIEWER and OidcIdentity.objects.filter(user=olga, sub="sub-olga").exists()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/login/")
    expect(page.locator("#sso-login")).to_be_visible()
