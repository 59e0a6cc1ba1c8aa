"""Every endpoint × every method × every persona: who gets in, who gets 403, who gets 404.

The endpoint list comes from the URL resolver (and is checked against the OpenAPI schema), so a new
endpoint without a row here fails `test_every_endpoint_has_an_expectation_row`. Rules:
- an object of a project one is not a member of answers 404 in the API (a 403 page in the browser,
  for unknown projects alike), whatever one's role;
- a member whose role may not do the thing gets 403;
- no credentials: 401 from the API, a redirect to the login page from pages.
Each request runs against real objects (tests/security/conftest.py), one persona per test.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from tests.conftest import PASSWORD
from tests.security.conftest import MEMBERS, OUTSIDERS, PERSONAS, World

pytestmark = pytest.mark.django_db

STRONG = "plum-tractor-nebula-42"
EVERY_ROLE = ("annotator", "reviewer", "ml_engineer")
LABELERS = ("annotator", "reviewer")
REVIEWERS = ("reviewer",)
MODEL_OPS = ("ml_engineer",)
SEE_ALL = ("reviewer", "ml_engineer")
ADMIN_ONLY: tuple[str, ...] = ()


def in_project(ok: int, roles=EVERY_ROLE, *, page: bool = False) -> dict[str, int]:
    """A project's object: admins and members with one of `roles` get `ok`, other members 403,
    non-members 404 (a 403 page in the browser), nobody 401 (the login page)."""
    expect = {"admin": ok, "anonymous": 302 if page else 401}
    for persona in MEMBERS:
        expect[persona] = ok if persona in roles else 403
    for persona in OUTSIDERS:
        expect[persona] = 403 if page else 404
    return expect


def by_role(ok: int, roles=EVERY_ROLE, *, page: bool = False) -> dict[str, int]:
    """Not tied to a project: admins and `roles` get `ok`, other roles 403, nobody 401 (login page)."""
    expect = {"admin": ok, "anonymous": 302 if page else 401}
    for persona in (*MEMBERS, *OUTSIDERS):
        role = persona.removeprefix("outsider_")
        expect[persona] = ok if role in roles else 403
    return expect


def everyone(ok: int) -> dict[str, int]:
    return {persona: ok for persona in PERSONAS}


@dataclass(frozen=True)
class Row:
    route: str  # as the resolver spells it
    method: str
    url: Callable[[World], str]
    expect: dict[str, int]
    body: Callable[[World, str], Any] | None = None
    page: bool = False  # a browser page (session) rather than the API (token)

    @property
    def id(self) -> str:
        return f"{self.method.upper()} /{self.route}"


def P(w: World) -> str:  # noqa: N802 - reads as the project's prefix
    return f"/api/projects/{w.project.pk}"


def rejectable(w: World) -> int:
    """The member annotator's annotation of the disputed item: a reviewer may reject it."""
    from annotations.models import Annotation

    return Annotation.objects.get(item=w.in_review, user=w.users["annotator"]).pk


def a_decision(w: World) -> int:
    """A pending live decision in the world's project."""
    from decisions import services

    return services.ask(w.project, w.users["admin"], {"data": {"text": "is this fraud?"}}).pk


def own_credentials(w: World, persona: str) -> dict:
    user = w.user(persona) or w.user("annotator")  # nobody logs in as someone who exists
    return {"username": user.username, "password": PASSWORD}


ROWS = [
    # --- accounts
    Row("api/auth/token/", "post", lambda w: "/api/auth/token/", everyone(200), own_credentials),
    Row("api/auth/token/", "delete", lambda w: "/api/auth/token/", by_role(204)),
    Row("api/users/", "get", lambda w: "/api/users/", by_role(200, ADMIN_ONLY)),
    Row("api/users/", "post", lambda w: "/api/users/", by_role(201, ADMIN_ONLY),
        lambda w, p: {"username": "newbie", "password": STRONG, "role": "annotator"}),
    Row("api/users/me/", "get", lambda w: "/api/users/me/", by_role(200)),
    Row("api/users/me/password/", "post", lambda w: "/api/users/me/password/", by_role(204),
        lambda w, p: {"old_password": PASSWORD, "new_password": STRONG}),
    Row("api/users/<int:pk>/", "patch", lambda w: f"/api/users/{w.spare.pk}/", by_role(200, ADMIN_ONLY),
        lambda w, p: {"is_active": False}),
    Row("api/users/<int:pk>/password-reset/", "post", lambda w: f"/api/users/{w.spare.pk}/password-reset/",
        by_role(200, ADMIN_ONLY)),
    # --- projects and members
    Row("api/projects/", "get", lambda w: "/api/projects/", by_role(200)),
    Row("api/projects/", "post", lambda w: "/api/projects/", by_role(201, ADMIN_ONLY),
        lambda w, p: {"name": "New", "task_type": "classification", "labels": ["a"]}),
    Row("api/projects/<int:pk>/", "get", lambda w: f"{P(w)}/", in_project(200)),
    Row("api/projects/<int:pk>/", "patch", lambda w: f"{P(w)}/", in_project(200, ADMIN_ONLY),
        lambda w, p: {"instructions": "Be careful."}),
    Row("api/projects/<int:pk>/members/", "get", lambda w: f"{P(w)}/members/", in_project(200)),
    Row("api/projects/<int:pk>/members/", "post", lambda w: f"{P(w)}/members/", in_project(201, ADMIN_ONLY),
        lambda w, p: {"user": w.spare.pk}),
    Row("api/projects/<int:pk>/annotators/", "get", lambda w: f"{P(w)}/annotators/", in_project(200, REVIEWERS)),
    Row("api/projects/<int:pk>/annotators/<int:user_id>/unpause/", "post",
        lambda w: f"{P(w)}/annotators/{w.second_annotator.pk}/unpause/", in_project(200, ADMIN_ONLY)),
    Row("api/projects/<int:pk>/members/<int:user_id>/", "delete",
        lambda w: f"{P(w)}/members/{w.second_annotator.pk}/", in_project(204, ADMIN_ONLY)),
    Row("api/projects/<int:pk>/labels/rename/", "post", lambda w: f"{P(w)}/labels/rename/",
        in_project(200, ADMIN_ONLY), lambda w, p: {"from": "pos", "to": "positive"}),
    Row("api/projects/<int:pk>/labels/merge/", "post", lambda w: f"{P(w)}/labels/merge/",
        in_project(200, ADMIN_ONLY), lambda w, p: {"from": ["neg"], "to": "pos"}),
    Row("api/projects/<int:pk>/labels/usage/", "get", lambda w: f"{P(w)}/labels/usage/?label=pos",
        in_project(200, ADMIN_ONLY)),
    Row("api/instructions/preview/", "post", lambda w: "/api/instructions/preview/", by_role(200, ADMIN_ONLY),
        lambda w, p: {"text": "**Read** twice."}),
    # --- items, labeling, review
    Row("api/projects/<int:pk>/import/", "post", lambda w: f"{P(w)}/import/", in_project(201, ADMIN_ONLY),
        lambda w, p: [{"text": "imported"}]),
    Row("api/projects/<int:pk>/import/preview/", "post", lambda w: f"{P(w)}/import/preview/",
        in_project(200, ADMIN_ONLY), lambda w, p: [{"text": "previewed"}]),
    Row("api/projects/<int:pk>/items/", "get", lambda w: f"{P(w)}/items/", in_project(200)),
    Row("api/projects/<int:pk>/browse/", "get", lambda w: f"{P(w)}/browse/", in_project(200, SEE_ALL)),
    Row("api/projects/<int:pk>/next/", "get", lambda w: f"{P(w)}/next/", in_project(200, LABELERS)),
    Row("api/projects/<int:pk>/export/", "get", lambda w: f"{P(w)}/export/", in_project(200, MODEL_OPS)),
    Row("api/projects/<int:pk>/review/next/", "get", lambda w: f"{P(w)}/review/next/", in_project(200, REVIEWERS)),
    Row("api/projects/<int:pk>/stats/", "get", lambda w: f"{P(w)}/stats/", in_project(200)),
    Row("api/items/<int:pk>/", "get", lambda w: f"/api/items/{w.queued.pk}/", in_project(200)),
    Row("api/items/<int:pk>/history/", "get", lambda w: f"/api/items/{w.queued.pk}/history/", in_project(200, SEE_ALL)),
    Row("api/items/<int:pk>/annotations/", "get", lambda w: f"/api/items/{w.undoable.pk}/annotations/",
        in_project(200)),
    Row("api/items/<int:pk>/annotations/", "post", lambda w: f"/api/items/{w.queued.pk}/annotations/",
        in_project(201, LABELERS), lambda w, p: {"value": {"label": "pos"}}),
    Row("api/items/<int:pk>/annotations/undo/", "post", lambda w: f"/api/items/{w.undoable.pk}/annotations/undo/",
        in_project(200, LABELERS)),
    Row("api/items/<int:pk>/review/", "post", lambda w: f"/api/items/{w.in_review.pk}/review/",
        in_project(200, REVIEWERS), lambda w, p: {"value": {"label": "pos"}}),
    Row("api/items/<int:pk>/release/", "post", lambda w: f"/api/items/{w.queued.pk}/release/", in_project(204)),
    # --- feedback and rework: reviewers reject an annotation; people who label read their inbox
    Row("api/annotations/<int:pk>/reject/", "post", lambda w: f"/api/annotations/{rejectable(w)}/reject/",
        in_project(200, REVIEWERS), lambda w, p: {"comment": "Not what the guideline says.", "rework_by": "same"}),
    Row("api/inbox/", "get", lambda w: "/api/inbox/", by_role(200, LABELERS)),
    Row("api/inbox/read/", "post", lambda w: "/api/inbox/read/", by_role(200, LABELERS), lambda w, p: {}),
    # --- models
    Row("api/projects/<int:pk>/train/", "post", lambda w: f"{P(w)}/train/", in_project(202, MODEL_OPS),
        lambda w, p: {}),
    Row("api/projects/<int:pk>/models/", "get", lambda w: f"{P(w)}/models/", in_project(200)),
    Row("api/projects/<int:pk>/prelabel/", "post", lambda w: f"{P(w)}/prelabel/", in_project(202, MODEL_OPS)),
    Row("api/projects/<int:pk>/routing-preview/", "get", lambda w: f"{P(w)}/routing-preview/", in_project(200)),
    Row("api/projects/<int:pk>/rollback/", "post", lambda w: f"{P(w)}/rollback/", in_project(200, MODEL_OPS)),
    Row("api/models/<int:pk>/", "get", lambda w: f"/api/models/{w.current.pk}/", in_project(200)),
    Row("api/models/<int:pk>/activate/", "post", lambda w: f"/api/models/{w.earlier.pk}/activate/",
        in_project(200, MODEL_OPS)),
    Row("api/models/<int:pk>/label-issues/", "get", lambda w: f"/api/models/{w.current.pk}/label-issues/",
        in_project(200, SEE_ALL)),
    # --- jobs (the failed one was started by the admin: only its starter or an admin retries it)
    Row("api/projects/<int:pk>/jobs/", "get", lambda w: f"{P(w)}/jobs/", in_project(200)),
    # --- live decisions: production systems (model ops) ask and poll
    Row("api/projects/<int:pk>/decision-rules/", "get", lambda w: f"{P(w)}/decision-rules/", in_project(200)),
    Row("api/projects/<int:pk>/decision-rules/", "patch", lambda w: f"{P(w)}/decision-rules/",
        in_project(200, ADMIN_ONLY), lambda w, p: {"fallback": "escalate"}),
    Row("api/projects/<int:pk>/decisions/", "post", lambda w: f"{P(w)}/decisions/", in_project(202, MODEL_OPS),
        lambda w, p: {"data": {"text": "is this fraud?"}}),
    Row("api/decisions/<int:pk>/", "get", lambda w: f"/api/decisions/{a_decision(w)}/", in_project(200, MODEL_OPS)),
    Row("api/jobs/<int:pk>/", "get", lambda w: f"/api/jobs/{w.failed_job.pk}/", in_project(200)),
    Row("api/jobs/<int:pk>/retry/", "post", lambda w: f"/api/jobs/{w.failed_job.pk}/retry/",
        in_project(202, ADMIN_ONLY)),
    # --- webhooks (admins only)
    Row("api/projects/<int:pk>/webhooks/", "get", lambda w: f"{P(w)}/webhooks/", in_project(200, ADMIN_ONLY)),
    Row("api/projects/<int:pk>/webhooks/", "post", lambda w: f"{P(w)}/webhooks/", in_project(201, ADMIN_ONLY),
        lambda w, p: {"url": "https://example.org/hook", "events": ["job.finished"]}),
    Row("api/projects/<int:pk>/webhooks/callback-secret/", "get", lambda w: f"{P(w)}/webhooks/callback-secret/",
        in_project(200, ADMIN_ONLY)),
    Row("api/webhooks/<int:pk>/", "get", lambda w: f"/api/webhooks/{w.webhook.pk}/", in_project(200, ADMIN_ONLY)),
    Row("api/webhooks/<int:pk>/", "patch", lambda w: f"/api/webhooks/{w.webhook.pk}/", in_project(200, ADMIN_ONLY),
        lambda w, p: {"active": False}),
    Row("api/webhooks/<int:pk>/", "delete", lambda w: f"/api/webhooks/{w.webhook.pk}/", in_project(204, ADMIN_ONLY)),
    Row("api/webhooks/<int:pk>/deliveries/", "get", lambda w: f"/api/webhooks/{w.webhook.pk}/deliveries/",
        in_project(200, ADMIN_ONLY)),
    Row("api/deliveries/<int:pk>/redeliver/", "post", lambda w: f"/api/deliveries/{w.delivery.pk}/redeliver/",
        in_project(202, ADMIN_ONLY)),
    # --- the audit trail (admins only)
    Row("api/audit/", "get", lambda w: "/api/audit/", by_role(200, ADMIN_ONLY)),
    Row("api/audit/export/", "get", lambda w: "/api/audit/export/", by_role(200, ADMIN_ONLY)),
    # --- the API's description is public
    Row("api/schema/", "get", lambda w: "/api/schema/", everyone(200)),
    Row("api/docs/", "get", lambda w: "/api/docs/", everyone(200)),
    # --- browser pages (session)
    Row("login/", "get", lambda w: "/login/", everyone(200), page=True),
    Row("login/", "post", lambda w: "/login/", everyone(302), own_credentials, page=True),
    # Django's LoginView treats PUT as POST, but a PUT body is no form: the page again, nobody logged in.
    Row("login/", "put", lambda w: "/login/", everyone(200), own_credentials, page=True),
    Row("logout/", "post", lambda w: "/logout/", everyone(302), page=True),
    # Passwords: one's own (logged in), a mailed link asked for and used (anyone; this link is not valid).
    Row("password/", "get", lambda w: "/password/", by_role(200, page=True), page=True),
    Row("password/", "post", lambda w: "/password/", by_role(302, page=True), lambda w, p: {
        "old_password": PASSWORD, "new_password1": STRONG, "new_password2": STRONG}, page=True),
    Row("password/", "put", lambda w: "/password/", by_role(200, page=True), page=True),
    Row("password/changed/", "get", lambda w: "/password/changed/", by_role(200, page=True), page=True),
    Row("password/forgot/", "get", lambda w: "/password/forgot/", everyone(200), page=True),
    Row("password/forgot/", "post", lambda w: "/password/forgot/", everyone(302),
        lambda w, p: {"email": "nobody@example.org"}, page=True),
    Row("password/forgot/", "put", lambda w: "/password/forgot/", everyone(200), page=True),
    Row("password/forgot/sent/", "get", lambda w: "/password/forgot/sent/", everyone(200), page=True),
    Row("reset/<uidb64>/<token>/", "get", lambda w: "/reset/MQ/not-a-token/", everyone(200), page=True),
    Row("reset/<uidb64>/<token>/", "post", lambda w: "/reset/MQ/not-a-token/", everyone(200), page=True),
    Row("reset/<uidb64>/<token>/", "put", lambda w: "/reset/MQ/not-a-token/", everyone(200), page=True),
    Row("reset/done/", "get", lambda w: "/reset/done/", everyone(200), page=True),
    # Single sign-on (accounts.oidc): not configured in these tests, so its pages are not there; logging
    # out works as /logout/ does (GET is not allowed). tests/accounts/test_oidc.py runs it against a provider.
    Row("oidc/authenticate/", "get", lambda w: "/oidc/authenticate/", everyone(404), page=True),
    Row("oidc/callback/", "get", lambda w: "/oidc/callback/?code=x&state=y", everyone(404), page=True),
    Row("oidc/logout/", "post", lambda w: "/oidc/logout/", everyone(302), page=True),
    Row("oidc/logout/", "get", lambda w: "/oidc/logout/", everyone(405), page=True),
    Row("healthz/", "get", lambda w: "/healthz/", everyone(200), page=True),
    # Readiness without the workers (none run here): the database and the broker answer, for anyone.
    Row("readyz/", "get", lambda w: "/readyz/?skip=workers", everyone(200), page=True),
    # Prometheus: admins (or a scraper with HITL_METRICS_TOKEN, tests/ops/test_metrics.py).
    Row("metrics", "get", lambda w: "/metrics", by_role(200, ADMIN_ONLY)),
    Row("", "get", lambda w: "/", by_role(200, page=True), page=True),
    Row("projects/<int:pk>/label/", "get", lambda w: f"/projects/{w.project.pk}/label/",
        in_project(200, LABELERS, page=True), page=True),
    Row("projects/<int:pk>/review/", "get", lambda w: f"/projects/{w.project.pk}/review/",
        in_project(200, REVIEWERS, page=True), page=True),
    Row("inbox/", "get", lambda w: "/inbox/", by_role(200, LABELERS, page=True), page=True),
    Row("projects/<int:pk>/dashboard/", "get", lambda w: f"/projects/{w.project.pk}/dashboard/",
        in_project(200, page=True), page=True),
    Row("projects/<int:pk>/models/", "get", lambda w: f"/projects/{w.project.pk}/models/",
        in_project(200, MODEL_OPS, page=True), page=True),
    Row("projects/<int:pk>/settings/", "get", lambda w: f"/projects/{w.project.pk}/settings/",
        in_project(200, ADMIN_ONLY, page=True), page=True),
    Row("projects/<int:pk>/settings/", "post", lambda w: f"/projects/{w.project.pk}/settings/",
        in_project(200, ADMIN_ONLY, page=True), lambda w, p: {"overlap": "3", "instructions": "Read twice."},
        page=True),
    Row("projects/<int:pk>/members/", "get", lambda w: f"/projects/{w.project.pk}/members/",
        in_project(200, ADMIN_ONLY, page=True), page=True),
    Row("users/", "get", lambda w: "/users/", by_role(200, ADMIN_ONLY, page=True), page=True),
    Row("users/", "post", lambda w: "/users/", by_role(302, ADMIN_ONLY, page=True),
        lambda w, p: {"user": w.spare.pk, "role": "reviewer"}, page=True),
    Row("projects/new/", "get", lambda w: "/projects/new/", by_role(200, ADMIN_ONLY, page=True), page=True),
    Row("projects/<int:pk>/edit/", "get", lambda w: f"/projects/{w.project.pk}/edit/",
        in_project(200, ADMIN_ONLY, page=True), page=True),
    Row("projects/<int:pk>/import/", "get", lambda w: f"/projects/{w.project.pk}/import/",
        in_project(200, ADMIN_ONLY, page=True), page=True),
    Row("projects/<int:pk>/data/", "get", lambda w: f"/projects/{w.project.pk}/data/",
        in_project(200, SEE_ALL, page=True), page=True),
    Row("projects/<int:pk>/webhooks/", "get", lambda w: f"/projects/{w.project.pk}/webhooks/",
        in_project(200, ADMIN_ONLY, page=True), page=True),
    Row("projects/<int:pk>/decisions/", "get", lambda w: f"/projects/{w.project.pk}/decisions/",
        in_project(200, ADMIN_ONLY, page=True), page=True),
    Row("projects/<int:pk>/decisions/", "post", lambda w: f"/projects/{w.project.pk}/decisions/",
        in_project(302, ADMIN_ONLY, page=True), lambda w, p: {"fallback": "escalate", "field_rules": "[]",
                                                               "default_deadline_seconds": "600"}, page=True),
    Row("projects/<int:pk>/export/", "get", lambda w: f"/projects/{w.project.pk}/export/",
        in_project(200, MODEL_OPS, page=True), page=True),
    # Media is served by API authentication (session or token): an image of one's projects only.
    Row("media/<path:path>", "get", lambda w: w.image_item.data["image"], in_project(200)),
]

ROW_IDS = {(row.route, row.method) for row in ROWS}
# Django's admin site checks staff status and model permissions itself (test_admin_site_is_for_staff).
SKIPPED_RESOLVERS = {"admin"}
# Not in the matrix: OPTIONS (DRF's metadata, which checks the same permissions) and HEAD (GET's twin).
SKIPPED_METHODS = {"options", "head", "trace"}


def resolver_routes() -> list[tuple[str, URLPattern]]:
    """Every URL pattern of the site as (route, pattern), outside the skipped resolvers."""
    found = []

    def walk(patterns, prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.app_name in SKIPPED_RESOLVERS or p.namespace in SKIPPED_RESOLVERS:
                    continue
                walk(p.url_patterns, prefix + str(p.pattern))
            else:
                found.append((prefix + str(p.pattern), p))

    walk(get_resolver().url_patterns, "")
    return found


def methods_of(pattern: URLPattern) -> set[str] | None:
    """The methods a class-based view answers; None for a function view (it says so itself)."""
    view = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
    if view is None:
        return None
    return {m for m in view.http_method_names if m not in SKIPPED_METHODS and hasattr(view, m)}


def test_every_endpoint_has_an_expectation_row():
    missing, extra = [], set(ROW_IDS)
    for route, pattern in resolver_routes():
        methods = methods_of(pattern)
        wanted = methods if methods is not None else {m for r, m in ROW_IDS if r == route} or {"get"}
        for method in wanted:
            if (route, method) in ROW_IDS:
                extra.discard((route, method))
            else:
                missing.append(f"{method.upper()} /{route}")
        if methods is None:
            extra -= {(route, m) for m in wanted}
    assert not missing, f"endpoints with no expectation row in {__name__}.ROWS: {missing}"
    assert not extra, f"rows for endpoints that do not exist: {sorted(extra)}"


def test_every_schema_operation_has_an_expectation_row():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    to_route = {re.sub(r"<\w+:(\w+)>", r"{\1}", "/" + route).replace("{pk}", "{id}"): route
                for route, _ in ROW_IDS}
    missing = [f"{method.upper()} {path}" for path, operations in schema["paths"].items()
               for method in operations if (to_route.get(path), method) not in ROW_IDS]
    assert not missing, f"schema operations with no expectation row: {missing}"


def test_every_row_names_every_persona():
    for row in ROWS:
        assert set(row.expect) == set(PERSONAS), row.id


def call(world: World, row: Row, persona: str, client=None):
    """Make the row's request as the persona (through `client` if given)."""
    if client is None:
        client = world.browser(persona) if row.page else world.api(persona)
    url = row.url(world)
    body = row.body(world, persona) if row.body else None
    if row.page:
        if row.method == "get":
            return client.get(url)
        if row.method == "put":
            from urllib.parse import urlencode
            return client.put(url, urlencode(body or {}), content_type="application/x-www-form-urlencoded")
        return getattr(client, row.method)(url, body or {})
    if row.method == "get":
        return client.get(url)
    return getattr(client, row.method)(url, body, format="json")


CASES = [pytest.param(row, persona, id=f"{row.id} as {persona}") for row in ROWS for persona in PERSONAS]


@pytest.mark.parametrize(("row", "persona"), CASES)
def test_access(world, row: Row, persona: str):
    r = call(world, row, persona)

    expected = row.expect[persona]
    detail = getattr(r, "content", b"")[:300] if not getattr(r, "streaming", False) else b"(streamed)"
    assert r.status_code == expected, f"{row.id} as {persona}: {r.status_code}, expected {expected}: {detail!r}"
    if row.page and expected == 302 and row.expect["admin"] != 302:
        assert r["Location"].startswith("/login/"), r["Location"]
    if not row.page and expected == 401:
        assert r["WWW-Authenticate"] == "Token"


def test_admin_site_is_for_staff(world):
    # Admin-role users are staff (accounts.services.create_user); others go to the admin's own login page.
    world.users["admin"].is_staff = True
    world.users["admin"].save()
    assert world.browser("admin").get("/admin/").status_code == 200
    for persona in ("annotator", "reviewer", "ml_engineer", "anonymous"):
        r = world.browser(persona).get("/admin/")
        assert r.status_code == 302 and r["Location"].startswith("/admin/login/"), persona
