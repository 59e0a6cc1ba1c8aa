"""Every password set through the API passes Django's validators (settings.AUTH_PASSWORD_VALIDATORS):
long enough, not common, not all digits, not like the username. A refusal is a 400 naming the field."""
from __future__ import annotations

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import Role, User
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db

STRONG = "plum-tractor-nebula-42"
WEAK = {
    "short": "k9!xQ",
    "common": "password123",
    "numeric": "8362910475",
    "like the username": "margaret-hamilton",
}


def token_client(user: User) -> APIClient:
    client = APIClient()
    r = client.post("/api/auth/token/", {"username": user.username, "password": PASSWORD}, format="json")
    client.credentials(HTTP_AUTHORIZATION=f"Token {r.json()['token']}")
    return client


@pytest.fixture
def admin(db):
    return make_user("alice", Role.ADMIN)


def test_all_four_of_djangos_validators_are_on():
    names = {v["NAME"].rsplit(".", 1)[1] for v in settings.AUTH_PASSWORD_VALIDATORS}

    assert names == {"UserAttributeSimilarityValidator", "MinimumLengthValidator", "CommonPasswordValidator",
                     "NumericPasswordValidator"}


@pytest.mark.parametrize("password", WEAK.values(), ids=WEAK.keys())
def test_creating_a_user_with_a_weak_password_is_refused(admin, password):
    r = token_client(admin).post("/api/users/", {"username": "margaret-hamilton", "password": password,
                                                 "role": "annotator"}, format="json")

    assert r.status_code == 400
    assert list(r.json()) == ["password"]
    assert r.json()["password"]  # Django's own words, e.g. "This password is too short."
    assert not User.objects.filter(username="margaret-hamilton").exists()


def test_the_messages_say_what_is_wrong(admin):
    r = token_client(admin).post("/api/users/", {"username": "margaret", "password": "12345",
                                                 "role": "annotator"}, format="json")

    messages = " ".join(r.json()["password"])
    assert "too short" in messages and "too common" in messages and "entirely numeric" in messages


def test_a_strong_password_is_accepted(admin):
    r = token_client(admin).post("/api/users/", {"username": "margaret-hamilton", "password": STRONG,
                                                 "role": "annotator"}, format="json")

    assert r.status_code == 201


@pytest.mark.parametrize("password", WEAK.values(), ids=WEAK.keys())
def test_changing_ones_own_password_to_a_weak_one_is_refused(db, password):
    user = make_user("margaret-hamilton", Role.ANNOTATOR)

    r = token_client(user).post("/api/users/me/password/", {"old_password": PASSWORD, "new_password": password},
                                format="json")

    assert r.status_code == 400
    assert list(r.json()) == ["new_password"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_changing_ones_password_needs_the_current_one(db):
    user = make_user("ann", Role.ANNOTATOR)

    r = token_client(user).post("/api/users/me/password/", {"old_password": "not-it-at-all", "new_password": STRONG},
                                format="json")

    assert r.status_code == 400
    assert "old_password" in r.json()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.parametrize("password", WEAK.values(), ids=WEAK.keys())
def test_an_admin_setting_a_weak_password_is_refused(admin, password):
    user = make_user("margaret-hamilton", Role.ANNOTATOR)

    r = token_client(admin).patch(f"/api/users/{user.pk}/", {"password": password}, format="json")

    assert r.status_code == 400
    assert list(r.json()) == ["password"]
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_an_empty_update_is_refused(admin):
    user = make_user("ann", Role.ANNOTATOR)

    assert token_client(admin).patch(f"/api/users/{user.pk}/", {}, format="json").status_code == 400
