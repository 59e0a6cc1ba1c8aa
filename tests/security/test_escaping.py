"""User-supplied text (project names, labels, instructions, item texts, usernames, model notes) reaches
the pages only escaped, and the browser scripts put data into the DOM as text, never as HTML."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Role, User
from annotations.models import Annotation
from models_registry.models import LabelIssue, ModelVersion
from tasks.models import FinalSource, Item, ItemStatus, ReviewReason
from tests.conftest import make_project, make_user

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=2">'
SVG = '"><svg onload=window.__xss=3>'
PAYLOADS = (SCRIPT, IMG, SVG)
# What must never appear in a page as markup (escaped, "onerror=" is harmless text).
RAW = ("<script>window.__xss", "<img src=x", "<svg onload")


def payload_project():
    """A project whose every user-supplied text is a payload, with what each page shows of it."""
    admin = make_user("alice", Role.ADMIN)
    admin.is_staff = True
    admin.save()
    evil = User.objects.create_user(username="eve<script>", password="x-" * 8, role=Role.REVIEWER)  # only the ORM
    bob = make_user("bob", Role.ANNOTATOR)
    project = make_project(admin, [evil, bob], name=f"Films {SCRIPT}", labels=[IMG, SVG],
                           instructions=f"Read this {SCRIPT}\n{IMG}", overlap=2)
    items = []
    for i, (a, b) in enumerate([(IMG, IMG), (IMG, SVG), (SVG, SVG)]):
        item = Item.objects.create(project=project, data={"text": f"{i} {IMG} {SCRIPT}"}, needed=2,
                                   annotation_count=2, status=ItemStatus.DONE, final_source=FinalSource.CONSENSUS,
                                   final_value={"label": a}, final_at=timezone.now())
        Annotation.objects.create(project=project, item=item, user=evil, value={"label": a})
        Annotation.objects.create(project=project, item=item, user=bob, value={"label": b})
        items.append(item)
    review = Item.objects.create(project=project, data={"text": f"review {SCRIPT} {IMG}"}, needed=2,
                                 annotation_count=2, status=ItemStatus.IN_REVIEW,
                                 review_reason=ReviewReason.DISAGREEMENT)
    Annotation.objects.create(project=project, item=review, user=evil, value={"label": IMG})
    Annotation.objects.create(project=project, item=review, user=bob, value={"label": SVG})
    Item.objects.create(project=project, data={"text": f"queued {IMG} {SCRIPT}"}, needed=2)
    per_class = {label: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2} for label in (IMG, SVG)}
    mv = ModelVersion.objects.create(
        project=project, version=1, backend=f"text {SCRIPT}", labels=[IMG, SVG], train_size=4, active=True,
        metrics={"accuracy": 0.5, "macro_f1": 0.5, "ece": 0.1, "per_class": per_class,
                 "confusion": {"labels": [IMG, SVG], "matrix": [[1, 1], [1, 1]]},
                 "calibration": [{"lower": 0.5, "upper": 1.0, "count": 4, "confidence": 0.7, "accuracy": 0.5}]},
        label_counts={IMG: 2, SVG: 2}, decision={"outcome": f"kept {SCRIPT}", "reason": f"because {IMG}"},
        trigger="manual")
    LabelIssue.objects.create(model_version=mv, item=items[1], rank=1, given={"label": IMG},
                              suggested={"label": SVG}, given_probability=0.1, suggested_confidence=0.9)
    return admin, evil, project


PAGES = ["/", "/projects/{pk}/label/", "/projects/{pk}/review/", "/projects/{pk}/dashboard/",
         "/projects/{pk}/models/", "/projects/{pk}/settings/"]


def check_page(html: str, path: str) -> None:
    for raw in RAW:
        assert raw not in html, f"{path} contains {raw!r} unescaped"
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, f"{path}: inline script {tag}"
    handlers = re.findall(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", html)
    assert not handlers, f"{path}: inline event handlers {handlers}"


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("who", ["admin", "evil"])
def test_pages_show_user_text_only_escaped(path, who):
    admin, evil, project = payload_project()
    user = admin if who == "admin" else evil
    client = Client()
    client.force_login(user)

    r = client.get(path.format(pk=project.pk))

    if r.status_code == 403:  # the reviewer has no models or settings page
        assert who == "evil" and ("models" in path or "settings" in path)
        return
    assert r.status_code == 200
    html = r.content.decode()
    check_page(html, path)
    # Shown, escaped: the page is not just leaving the text out.
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html or "\\u003Cscript\\u003E" in html
    if who == "evil":
        assert "eve&lt;script&gt;" in html  # the username in the header


def test_the_dashboard_and_models_page_escape_labels_and_usernames_in_tables_and_charts():
    admin, evil, project = payload_project()
    client = Client()
    client.force_login(admin)

    dashboard = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    models = client.get(f"/projects/{project.pk}/models/").content.decode()

    assert "&lt;img src=x onerror=&quot;window.__xss=2&quot;&gt;" in dashboard  # a label, in the tables
    assert "eve&lt;script&gt;" in dashboard.split('id="annotators"')[1]
    assert "<svg" in dashboard  # the charts are there, and their text is escaped (check_page above)
    assert "&lt;img src=x onerror=" in models.split('id="per-class"')[1]
    assert "&lt;script&gt;" in models.split('id="issues"')[1]  # the item text of a likely label error
    for html in (dashboard, models):
        check_page(html, "dashboard/models")


def test_the_label_screens_config_is_inert_json():
    admin, evil, project = payload_project()
    client = Client()
    client.force_login(admin)

    html = client.get(f"/projects/{project.pk}/label/").content.decode()

    config = re.search(r'<script id="hitl-config" type="application/json">(.*?)</script>', html, re.S).group(1)
    assert "<" not in config and ">" not in config  # json_script escapes them: it cannot close its tag
    assert "\\u003Cscript\\u003Ewindow.__xss=1" in config


def test_usernames_with_markup_cannot_be_created_through_the_api():
    admin, evil, project = payload_project()
    client = Client()
    client.force_login(admin)

    r = client.post("/api/users/", {"username": "x<script>", "password": "plum-tractor-nebula-42",
                                    "role": "annotator"}, content_type="application/json")

    assert r.status_code == 400 and "username" in r.json()


# --- the source: templates and scripts ---------------------------------------------------------------

STATIC = sorted((ROOT / "static").rglob("*.js"))
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
HTML_SINKS = re.compile(r"\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\beval\(|new Function\(")


def test_the_scripts_never_write_html():
    assert STATIC, "no scripts found"
    uses = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in STATIC
            for n, line in enumerate(path.read_text().splitlines(), 1) if HTML_SINKS.search(line)]
    assert not uses, "scripts must build the DOM with textContent/createElement:\n" + "\n".join(uses)


def test_the_scripts_add_no_event_handler_attributes():
    # h() turns on* keys into addEventListener; a literal setAttribute("on...") would be an inline handler.
    uses = [f"{path.relative_to(ROOT)}:{n}" for path in STATIC
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if re.search(r"setAttribute\(\s*[\"']on", line)]
    assert not uses


# The only markup a template may print unescaped: the server-rendered SVG charts (hitl/charts.py escapes
# every text in them, tests/test_charts.py).
SAFE_ALLOWED = re.compile(r"\{\{\s*\w+_chart\|safe\s*\}\}")


def test_templates_print_nothing_unescaped_but_the_charts():
    for path in TEMPLATES:
        text = path.read_text()
        assert "autoescape off" not in text, path
        for use in re.findall(r"\{\{[^}]*\|\s*safe[^}]*\}\}", text):
            assert SAFE_ALLOWED.fullmatch(use), f"{path.name}: {use}"


def test_templates_have_no_inline_script_style_or_handlers():
    # CSP allows none of them. The API docs' start script carries the response's nonce instead.
    for path in TEMPLATES:
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or (path.name == "api_docs.html" and "csp_nonce" in tag), f"{path.name}: {tag}"
        assert not re.search(r"<style\b", text), path.name
        assert not re.search(r"\sstyle=", text), path.name
        assert not re.search(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", text), path.name
