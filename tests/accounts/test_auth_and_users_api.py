"""Authentication (token and session) and user management (API.md, "Authentication and roles")."""
from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Role, User
from audit.models import AuditEvent
from tasks.models import Project
from tests.conftest import PASSWORD, make_project

pytestmark = pytest.mark.django_db

STRONG = "plum-tractor-nebula-42"


# Every endpoint of the API, with the method to call it by (ids are made up: 401 comes first).
ENDPOINTS = [
    ("get", "/api/users/"),
    ("post", "/api/users/"),
    ("get", "/api/users/me/"),
    ("get", "/api/projects/"),
    ("post", "/api/projects/"),
    ("get", "/api/projects/1/"),
    ("patch", "/api/projects/1/"),
    ("get", "/api/projects/1/members/"),
    ("post", "/api/projects/1/members/"),
    ("delete", "/api/projects/1/members/1/"),
    ("post", "/api/projects/1/import/"),
    ("get", "/api/projects/1/items/"),
    ("get", "/api/projects/1/next/"),
    ("get", "/api/projects/1/export/"),
    ("get", "/api/items/1/"),
    ("get", "/api/items/1/annotations/"),
    ("post", "/api/items/1/annotations/"),
    ("post", "/api/items/1/annotations/undo/"),
    ("post", "/api/items/1/release/"),
    ("post", "/api/projects/1/train/"),
    ("get", "/api/projects/1/models/"),
    ("post", "/api/projects/1/prelabel/"),
    ("get", "/api/projects/1/routing-preview/"),
    ("post", "/api/models/1/activate/"),
    ("get", "/api/jobs/1/"),
    ("post", "/api/jobs/1/retry/"),
]


# --- token authentication -------------------------------------------------------------------

def test_token_is_issued_for_a_real_username_and_password(annotator):
    r = APIClient().post("/api/auth/token/", {"username": "ann", "password": PASSWORD}, format="json")

    assert r.status_code == 200
    assert r.json()["token"] == Token.objects.get(user=annotator).key


def test_the_same_token_is_issued_again(annotator):
    client = APIClient()
    first = client.post("/api/auth/token/", {"username": "ann", "password": PASSWORD}, format="json")
    second = client.post("/api/auth/token/", {"username": "ann", "password": PASSWORD}, format="json")

    assert first.json()["token"] == second.json()["token"]
    assert Token.objects.filter(user=annotator).count() == 1


def test_token_authenticates_api_requests(annotator):
    token = APIClient().post("/api/auth/token/", {"username": "ann", "password": PASSWORD},
                             format="json").json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    r = client.get("/api/users/me/")

    assert r.status_code == 200
    assert r.json() == {"id": annotator.pk, "username": "ann", "role": "annotator"}


def test_wrong_password_gets_no_token(annotator):
    r = APIClient().post("/api/auth/token/", {"username": "ann", "password": "wrong-password"}, format="json")

    assert r.status_code == 400
    assert "token" not in r.json()
    assert not Token.objects.exists()


def test_unknown_user_gets_no_token(db):
    r = APIClient().post("/api/auth/token/", {"username": "nobody", "password": PASSWORD}, format="json")

    assert r.status_code == 400
    assert not Token.objects.exists()


def test_deactivated_user_gets_no_token(annotator):
    annotator.is_active = False
    annotator.save()

    r = APIClient().post("/api/auth/token/", {"username": "ann", "password": PASSWORD}, format="json")

    assert r.status_code == 400
    assert not Token.objects.exists()


def post_token(body: dict, fmt: str):
    """POST to the token endpoint as JSON, multipart, or a urlencoded form."""
    if fmt == "form":
        return APIClient().post("/api/auth/token/", urlencode(body), content_type="application/x-www-form-urlencoded")
    return APIClient().post("/api/auth/token/", body, format=fmt)


@pytest.mark.parametrize("fmt", ["form", "multipart"])
def test_token_may_be_requested_with_a_form_body(annotator, fmt):
    r = post_token({"username": "ann", "password": PASSWORD}, fmt)

    assert r.status_code == 200
    assert r.json()["token"] == Token.objects.get(user=annotator).key


@pytest.mark.parametrize("fmt", ["json", "form", "multipart"])
def test_token_endpoint_refuses_an_oversized_body(annotator, settings, fmt):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    r = post_token({"username": "ann", "password": PASSWORD, "padding": "x" * 2000}, fmt)

    assert r.status_code == 413
    assert not Token.objects.exists()


def test_invalid_token_is_refused(annotator):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert client.get("/api/users/me/").status_code == 401


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_answers_401_without_credentials(method, path, project):
    r = getattr(APIClient(), method)(path, {}, format="json")

    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Token"


def test_requests_without_credentials_change_nothing(project):
    APIClient().post("/api/projects/", {"name": "X", "task_type": "classification", "labels": ["a"]},
                     format="json")
    APIClient().post("/api/users/", {"username": "eve", "password": STRONG, "role": "admin"}, format="json")

    assert Project.objects.count() == 1
    assert not User.objects.filter(username="eve").exists()


# --- session login (the browser UI) ---------------------------------------------------------

def _csrf_token(client: Client, path: str = "/login/") -> str:
    page = client.get(path)
    assert page.status_code == 200
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())
    assert match, "the login form carries a CSRF token"
    return match.group(1)


def test_session_login_with_csrf_then_uses_the_api(admin, project):
    client = Client(enforce_csrf_checks=True)
    token = _csrf_token(client)

    r = client.post("/login/", {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token})

    assert r.status_code == 302
    api = client.get("/api/projects/")
    assert api.status_code == 200
    assert [p["id"] for p in api.json()["results"]] == [project.pk]


def test_session_login_without_csrf_token_is_refused(admin):
    client = Client(enforce_csrf_checks=True)
    client.get("/login/")

    r = client.post("/login/", {"username": "alice", "password": PASSWORD})

    assert r.status_code == 403
    assert client.get("/api/projects/").status_code in (401, 403)


def test_session_login_with_wrong_password_shows_the_form_again(admin):
    client = Client(enforce_csrf_checks=True)
    token = _csrf_token(client)

    r = client.post("/login/", {"username": "alice", "password": "nope", "csrfmiddlewaretoken": token})

    assert r.status_code == 200
    assert "didn&#x27;t match" in r.content.decode() or "didn't match" in r.content.decode()
    assert client.get("/api/projects/").status_code == 401


def test_session_writes_need_the_csrf_header(admin):
    client = Client(enforce_csrf_checks=True)
    client.post("/login/", {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": _csrf_token(client)})
    body = {"name": "Via session", "task_type": "classification", "labels": ["a"]}

    refused = client.post("/api/projects/", body, content_type="application/json")
    assert refused.status_code == 403
    assert not Project.objects.filter(name="Via session").exists()

    csrf = client.cookies["csrftoken"].value
    created = client.post("/api/projects/", body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert created.status_code == 201
    assert Project.objects.filter(name="Via session").count() == 1


def test_health_check_needs_no_login(db):
    r = Client().get("/healthz/")

    assert r.status_code == 200
    assert r.json() == {"ok": True}


def test_home_page_needs_login(db):
    r = Client().get("/")

    assert r.status_code == 302
    assert r["Location"].startswith("/login/")


# --- users ----------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [r.value for r in Role])
def test_admin_creates_user_with_role(as_user, admin, role):
    r = as_user(admin).post("/api/users/", {"username": "newbie", "password": STRONG, "role": role}, format="json")

    assert r.status_code == 201
    user = User.objects.get(username="newbie")
    assert r.json() == {"id": user.pk, "username": "newbie", "role": role}
    assert user.role == role
    assert user.check_password(STRONG)
    assert AuditEvent.objects.filter(action="user.created", user=admin, payload__created=user.pk).exists()


def test_privilege_flags_in_the_body_are_ignored(as_user, admin):
    r = as_user(admin).post("/api/users/", {"username": "newbie", "password": STRONG, "role": "annotator",
                                            "is_superuser": True, "is_staff": True}, format="json")

    assert r.status_code == 201
    assert r.json()["role"] == "annotator"
    user = User.objects.get(username="newbie")
    assert (user.is_superuser, user.is_staff, user.is_admin) == (False, False, False)


def test_created_user_can_get_a_token(as_user, admin):
    as_user(admin).post("/api/users/", {"username": "newbie", "password": STRONG, "role": "reviewer"}, format="json")

    r = APIClient().post("/api/auth/token/", {"username": "newbie", "password": STRONG}, format="json")

    assert r.status_code == 200


def test_password_is_never_returned(as_user, admin):
    r = as_user(admin).post("/api/users/", {"username": "newbie", "password": STRONG, "role": "annotator"},
                            format="json")

    assert "password" not in r.json()
    assert STRONG not in r.content.decode()


@pytest.mark.parametrize("persona", ["annotator", "reviewer", "ml_engineer"])
def test_non_admins_cannot_create_users(as_user, request, persona):
    user = request.getfixturevalue(persona)

    r = as_user(user).post("/api/users/", {"username": "sneaky", "password": STRONG, "role": "admin"},
                           format="json")

    assert r.status_code == 403
    assert not User.objects.filter(username="sneaky").exists()


@pytest.mark.parametrize("persona", ["annotator", "reviewer", "ml_engineer"])
def test_non_admins_cannot_list_users(as_user, request, persona):
    assert as_user(request.getfixturevalue(persona)).get("/api/users/").status_code == 403


def test_admin_lists_users(as_user, admin, annotator, reviewer):
    r = as_user(admin).get("/api/users/")

    assert r.status_code == 200
    assert [u["username"] for u in r.json()["results"]] == ["alice", "ann", "rita"]


def test_creating_user_with_unknown_role_is_refused(as_user, admin):
    r = as_user(admin).post("/api/users/", {"username": "newbie", "password": STRONG, "role": "superuser"},
                            format="json")

    assert r.status_code == 400
    assert "role" in r.json()
    assert not User.objects.filter(username="newbie").exists()


def test_creating_user_without_role_is_refused(as_user, admin):
    r = as_user(admin).post("/api/users/", {"username": "newbie", "password": STRONG}, format="json")

    assert r.status_code == 400
    assert "role" in r.json()
    assert not User.objects.filter(username="newbie").exists()


@pytest.mark.parametrize("password", ["short", "password123"])
def test_creating_user_with_weak_password_is_refused(as_user, admin, password):
    r = as_user(admin).post("/api/users/", {"username": "newbie", "password": password, "role": "annotator"},
                            format="json")

    assert r.status_code == 400
    assert list(r.json()) == ["password"]
    assert not User.objects.filter(username="newbie").exists()


def test_creating_user_with_taken_username_is_refused(as_user, admin, annotator):
    r = as_user(admin).post("/api/users/", {"username": "ann", "password": STRONG, "role": "reviewer"},
                            format="json")

    assert r.status_code == 400
    assert list(r.json()) == ["username"]
    assert User.objects.get(username="ann").role == Role.ANNOTATOR


def test_creating_user_with_invalid_username_is_refused(as_user, admin):
    r = as_user(admin).post("/api/users/", {"username": "no spaces!", "password": STRONG, "role": "annotator"},
                            format="json")

    assert r.status_code == 400
    assert "username" in r.json()
    assert User.objects.count() == 1


def test_superuser_counts_as_admin(db):
    root = User.objects.create_superuser(username="root", password=PASSWORD, email="")
    client = APIClient()
    client.force_authenticate(root)

    me = client.get("/api/users/me/")
    created = client.post("/api/users/", {"username": "newbie", "password": STRONG, "role": "annotator"},
                          format="json")
    project = client.post("/api/projects/", {"name": "P", "task_type": "classification", "labels": ["a"]},
                          format="json")

    assert me.json()["role"] == "admin"
    assert created.status_code == 201
    assert project.status_code == 201
    assert User.objects.filter(username="newbie").exists()
    assert Project.objects.filter(name="P", created_by=root).exists()


def test_superuser_sees_every_project(as_user, admin, annotator):
    other = make_project(annotator, name="Not theirs")
    root = User.objects.create_superuser(username="root", password=PASSWORD, email="")

    r = as_user(root).get(f"/api/projects/{other.pk}/")

    assert r.status_code == 200


@pytest.mark.parametrize("persona", ["admin", "annotator", "reviewer", "ml_engineer"])
def test_me_shows_the_callers_account(as_user, request, persona):
    user = request.getfixturevalue(persona)

    r = as_user(user).get("/api/users/me/")

    assert r.status_code == 200
    assert r.json() == {"id": user.pk, "username": user.username, "role": user.role}


def test_uploaded_media_is_served_to_signed_in_users_only(settings, tmp_path, admin, as_user):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "x.png").write_bytes(b"\x89PNG fake")

    assert as_user(None).get("/media/demo/x.png").status_code == 401
    r = as_user(admin).get("/media/demo/x.png")
    assert r.status_code == 200
    assert b"".join(r.streaming_content) == b"\x89PNG fake"
    assert as_user(admin).get("/media/demo/missing.png").status_code == 404


def test_an_admin_changes_a_users_role_and_it_is_audited(admin, annotator):
    from audit.models import AuditEvent

    client = APIClient()
    client.force_authenticate(admin)
    r = client.patch(f"/api/users/{annotator.pk}/", {"role": "reviewer"}, format="json")

    assert r.status_code == 200 and r.json()["role"] == "reviewer"
    annotator.refresh_from_db()
    assert annotator.role == "reviewer"
    assert AuditEvent.objects.filter(action="user.role_changed", user=admin, payload__changed=annotator.pk,
                                     payload__role="reviewer").exists()


def test_a_role_change_is_refused_for_unknown_roles_and_for_ones_own_account(admin, annotator):
    client = APIClient()
    client.force_authenticate(admin)

    r = client.patch(f"/api/users/{annotator.pk}/", {"role": "boss"}, format="json")
    assert r.status_code == 400 and "role" in r.json()
    r = client.patch(f"/api/users/{admin.pk}/", {"role": "annotator"}, format="json")
    assert r.status_code == 400 and "role" in r.json()
    annotator.refresh_from_db()
    admin.refresh_from_db()
    assert (annotator.role, admin.role) == ("annotator", "admin")
