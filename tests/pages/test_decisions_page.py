"""The live-decision rules page: an admin sets thresholds per label, rules on metadata, the fallback and
the default deadline; a bad field shows its error and nothing is saved."""
from __future__ import annotations

import pytest

from decisions.models import DecisionRules
from tests.conftest import browser

pytestmark = pytest.mark.django_db

FORM = {"threshold-pos": "0.97", "threshold-neg": "", "fallback": "escalate", "default_deadline_seconds": "600",
        "field_rules": '[{"field": "amount", "op": ">", "value": 1000, "then": "human"}]'}


def test_admin_sets_the_decision_rules(admin, project):
    client = browser(admin)
    page = client.get(f"/projects/{project.pk}/decisions/")
    assert page.status_code == 200 and b"No decisions yet." in page.content

    r = client.post(f"/projects/{project.pk}/decisions/", FORM)

    assert r.status_code == 302 and r["Location"] == f"/projects/{project.pk}/decisions/?saved=1"
    rules = DecisionRules.objects.get(project=project)
    assert rules.class_thresholds == {"pos": 0.97}
    assert rules.field_rules == [{"field": "amount", "op": ">", "value": 1000, "then": "human"}]
    assert (rules.fallback, rules.default_deadline_seconds) == ("escalate", 600)
    assert b'value="0.97"' in client.get(f"/projects/{project.pk}/decisions/").content


@pytest.mark.parametrize("field, value, message", [
    ("threshold-pos", "1.5", b"must be a number between 0 and 1"),
    ("field_rules", "[{", b"Not JSON"),
    ("field_rules", '[{"field": "amount", "op": "~", "value": 1}]', b"must be one of"),
    ("default_deadline_seconds", "0", b"must be a number of seconds above 0"),
])
def test_a_bad_field_shows_its_error_and_nothing_is_saved(admin, project, field, value, message):
    r = browser(admin).post(f"/projects/{project.pk}/decisions/", {**FORM, field: value})
    assert r.status_code == 400
    assert b"Nothing was saved" in r.content and message in r.content
    assert not DecisionRules.objects.filter(project=project).exists()


def test_only_admins(reviewer, project):
    assert browser(reviewer).get(f"/projects/{project.pk}/decisions/").status_code == 403
