"""Passwords in the browser: an admin's one-time reset link, "Forgot your password?" by mail, and
changing one's own. Each is audited and ends the account's tokens."""
from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from rest_framework.authtoken.models import Token

from accounts.models import Role, User
from audit.models import AuditEvent
from tests.conftest import PASSWORD, client_for, make_user

pytestmark = pytest.mark.django_db

STRONG = "plum-tractor-nebula-42"


def set_password_through(link_path: str, password: str) -> Client:
    browser = Client()
    page = browser.get(link_path, follow=True)  # Django swaps the token for a session-held one
    assert page.status_code == 200 and b"new_password1" in page.content
    done = browser.post(page.redirect_chain[-1][0], {"new_password1": password, "new_password2": password})
    assert done.status_code == 302 and done["Location"] == "/reset/done/"
    return browser


def path_of(link: str) -> str:
    return re.sub(r"^https?://[^/]+", "", link)


def test_an_admin_makes_a_one_time_link_that_sets_a_new_password(admin):
    ann = make_user("ann", Role.ANNOTATOR)
    Token.objects.create(user=ann)

    r = client_for(admin).post(f"/api/users/{ann.pk}/password-reset/")

    assert r.status_code == 200
    assert r.data["valid_hours"] == 24
    assert r.data["link"].startswith("http://testserver/reset/")
    ann.refresh_from_db()
    assert ann.check_password(PASSWORD), "the old password works until the link is used"
    assert AuditEvent.objects.filter(action="user.password_reset_link", user=admin,
                                     payload__changed=ann.pk).exists()

    set_password_through(path_of(r.data["link"]), STRONG)

    ann.refresh_from_db()
    assert ann.check_password(STRONG)
    assert not Token.objects.filter(user=ann).exists(), "a new password ends the API token"
    assert AuditEvent.objects.filter(action="user.password_reset", payload__changed=ann.pk).exists()
    again = Client().get(path_of(r.data["link"]), follow=True)
    assert b"has been used or has expired" in again.content
    login = Client().post("/login/", {"username": "ann", "password": STRONG})
    assert login.status_code == 302 and login["Location"] == "/"


def test_a_reset_link_refuses_a_weak_password_and_changes_nothing(admin):
    ann = make_user("ann", Role.ANNOTATOR)
    link = client_for(admin).post(f"/api/users/{ann.pk}/password-reset/").data["link"]
    browser = Client()
    page = browser.get(path_of(link), follow=True)

    r = browser.post(page.redirect_chain[-1][0], {"new_password1": "12345678", "new_password2": "12345678"})

    assert r.status_code == 200
    assert b"This password is too common" in r.content and b"Nothing was changed" in r.content
    ann.refresh_from_db()
    assert ann.check_password(PASSWORD)


def test_no_link_for_a_deactivated_account(admin):
    gone = make_user("gone", Role.ANNOTATOR, is_active=False)
    r = client_for(admin).post(f"/api/users/{gone.pk}/password-reset/")
    assert r.status_code == 400 and "deactivated" in str(r.data["user"])


def test_forgot_password_mails_a_link_to_the_accounts_address():
    ann = make_user("ann", Role.ANNOTATOR, email="ann@example.org")

    r = Client().post("/password/forgot/", {"email": "ann@example.org"})

    assert r.status_code == 302 and r["Location"] == "/password/forgot/sent/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ann@example.org"]
    link = re.search(r"https?://\S+/reset/\S+/", mail.outbox[0].body).group(0)
    set_password_through(path_of(link), STRONG)
    ann.refresh_from_db()
    assert ann.check_password(STRONG)


def test_forgot_password_says_the_same_for_an_unknown_address():
    r = Client().post("/password/forgot/", {"email": "nobody@example.org"})
    assert r.status_code == 302 and r["Location"] == "/password/forgot/sent/"
    assert mail.outbox == []


def test_a_user_changes_their_own_password_and_stays_logged_in(annotator):
    browser = Client()
    browser.force_login(annotator)
    Token.objects.create(user=annotator)

    wrong = browser.post("/password/", {"old_password": "not-it", "new_password1": STRONG, "new_password2": STRONG})
    assert wrong.status_code == 200 and b"Nothing was changed" in wrong.content
    annotator.refresh_from_db()
    assert annotator.check_password(PASSWORD)

    r = browser.post("/password/", {"old_password": PASSWORD, "new_password1": STRONG, "new_password2": STRONG})

    assert r.status_code == 302 and r["Location"] == "/password/changed/"
    annotator.refresh_from_db()
    assert annotator.check_password(STRONG)
    assert browser.get("/").status_code == 200, "this browser stays logged in"
    assert not Token.objects.filter(user=annotator).exists()
    assert AuditEvent.objects.filter(action="user.password_changed", user=annotator).exists()


def test_an_admin_creates_a_user_with_an_email(admin):
    r = client_for(admin).post("/api/users/", {"username": "carol", "password": STRONG, "role": "reviewer",
                                               "email": "carol@example.org"}, format="json")
    assert r.status_code == 201
    assert User.objects.get(username="carol").email == "carol@example.org"
