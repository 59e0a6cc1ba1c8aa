"""Live decisions: asked by a production system, decided by the rules, a person, or the deadline."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from decisions import services
from decisions.models import Decision, DecisionRules
from tasks.models import Assignment, Item

pytestmark = pytest.mark.django_db


@pytest.fixture
def fraud(admin, annotator, annotator2, reviewer, ml_engineer):
    from tests.conftest import make_project

    project = make_project(admin, [annotator, annotator2, reviewer, ml_engineer], labels=["ok", "fraud"],
                           auto_accept_threshold=0.9, audit_rate=0.0, gold_rate=0.0)
    DecisionRules.objects.create(project=project, class_thresholds={"fraud": 0.99},
                                 field_rules=[{"field": "amount", "op": ">", "value": 1000, "then": "human"}])
    return project


def ask(client, project, **body):
    body.setdefault("data", {"text": "a payment"})
    return client.post(f"/api/projects/{project.pk}/decisions/", body, format="json")


def test_a_sure_prediction_is_decided_at_once(as_user, ml_engineer, fraud):
    r = ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=0.95)
    assert r.status_code == 201, r.content
    body = r.json()
    assert (body["status"], body["value"], body["path"]) == ("decided", {"label": "ok"}, "auto_accepted")
    item = Item.objects.get(pk=body["item"])
    assert (item.status, item.final_source, item.final_value) == ("auto_accepted", "model", {"label": "ok"})
    assert AuditEvent.objects.filter(action="decision.made", item_id=item.pk, payload__path="auto_accepted").exists()


def test_an_unsure_prediction_waits_for_a_person(as_user, ml_engineer, fraud):
    r = ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=0.5, deadline_seconds=120)
    assert r.status_code == 202, r.content
    body = r.json()
    assert body["status"] == "pending" and "deadline" in body and "value" not in body
    item = Item.objects.get(pk=body["item"])
    assert item.status == "queued" and item.priority > 10


def test_the_fraud_class_needs_more_confidence(as_user, ml_engineer, fraud):
    client = as_user(ml_engineer)
    assert ask(client, fraud, prediction={"label": "fraud"}, confidence=0.95).json()["status"] == "pending"
    assert ask(client, fraud, prediction={"label": "fraud"}, confidence=0.995).json()["status"] == "decided"


def test_a_large_amount_always_goes_to_a_person(as_user, ml_engineer, fraud):
    r = ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=1.0, metadata={"amount": 5000})
    assert r.json()["status"] == "pending"
    assert ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=1.0,
               metadata={"amount": 50}).json()["status"] == "decided"


def test_no_prediction_waits_for_a_person(as_user, ml_engineer, fraud):
    r = ask(as_user(ml_engineer), fraud)
    assert r.status_code == 202 and Item.objects.get(pk=r.json()["item"]).status == "new"


def test_polling_shows_who_decided(as_user, ml_engineer, annotator, fraud, django_capture_on_commit_callbacks):
    pending = ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=0.1).json()
    poll = as_user(ml_engineer).get(f"/api/decisions/{pending['id']}/")
    assert poll.status_code == 200 and poll.json()["status"] == "pending"
    with django_capture_on_commit_callbacks(execute=True):
        served = as_user(annotator).get(f"/api/projects/{fraud.pk}/next/").json()["item"]["id"]
        assert served == pending["item"]
        r = as_user(annotator).post(f"/api/items/{served}/annotations/", {"value": {"label": "fraud"}}, format="json")
        assert r.status_code == 201, r.content
    body = as_user(ml_engineer).get(f"/api/decisions/{pending['id']}/").json()
    assert (body["status"], body["value"], body["path"]) == ("decided", {"label": "fraud"}, "human")
    assert body["decided_at"]
    assert AuditEvent.objects.filter(action="decision.made", payload__path="human").count() == 1


def test_a_reviewers_answer_decides_it(as_user, ml_engineer, reviewer, fraud, django_capture_on_commit_callbacks):
    fraud.escalation_threshold = 0.3
    fraud.save()
    d = ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=0.5).json()
    item = Item.objects.get(pk=d["item"])
    services.apply_deadlines(now=timezone.now())  # not due yet: nothing happens
    assert Decision.objects.get(pk=d["id"]).status == "pending"
    DecisionRules.objects.filter(project=fraud).update(fallback="escalate")
    # the deadline passes: escalated to review; decided with no value
    services.apply_deadlines(now=timezone.now() + timedelta(hours=2))
    item.refresh_from_db()
    assert (item.status, item.review_reason) == ("in_review", "escalated")
    body = as_user(ml_engineer).get(f"/api/decisions/{d['id']}/").json()
    assert (body["status"], body["path"], body["value"]) == ("decided", "deadline_escalate", None)
    # the reviewer's later value is the item's; the decision made at the deadline stands
    with django_capture_on_commit_callbacks(execute=True):
        r = as_user(reviewer).post(f"/api/items/{item.pk}/review/", {"value": {"label": "fraud"}}, format="json")
    assert r.status_code == 200, r.content
    assert Decision.objects.get(pk=d["id"]).path == "deadline_escalate"


def test_next_serves_the_earliest_deadline_first(as_user, ml_engineer, annotator, fraud):
    from tests.conftest import make_items

    make_items(fraud, 3, status="queued", priority=2.5)  # adaptive overlap's in-progress work
    late = ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=0.1, deadline_seconds=600).json()
    soon = ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=0.1, deadline_seconds=60).json()
    first = as_user(annotator).get(f"/api/projects/{fraud.pk}/next/").json()["item"]["id"]
    second = as_user(annotator).get(f"/api/projects/{fraud.pk}/next/", {"exclude": str(first)}).json()["item"]["id"]
    assert (first, second) == (soon["item"], late["item"])


@pytest.mark.parametrize("fallback, path, value, status", [
    ("accept_model", "deadline_accept_model", {"label": "ok"}, "auto_accepted"),
    ("reject", "deadline_reject", None, "queued"),
    ("escalate", "deadline_escalate", None, "in_review"),
])
def test_the_sweep_applies_the_projects_fallback(as_user, ml_engineer, fraud, fallback, path, value, status):
    DecisionRules.objects.filter(project=fraud).update(fallback=fallback)
    d = ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=0.2, deadline_seconds=1).json()
    assert services.apply_deadlines(now=timezone.now() + timedelta(seconds=5)) == 1
    decision = Decision.objects.get(pk=d["id"])
    assert (decision.status, decision.path, decision.value) == ("decided", path, value)
    item = Item.objects.get(pk=d["item"])
    assert item.status == status and item.priority == 0.0
    assert AuditEvent.objects.filter(action="decision.made", item_id=item.pk, payload__path=path).exists()
    assert services.apply_deadlines(now=timezone.now() + timedelta(seconds=5)) == 0  # runs twice, same result


def test_the_deadline_wins_over_a_human_holding_the_lease(as_user, ml_engineer, annotator, fraud,
                                                          django_capture_on_commit_callbacks):
    d = ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=0.2, deadline_seconds=1).json()
    assert as_user(annotator).get(f"/api/projects/{fraud.pk}/next/").json()["item"]["id"] == d["item"]
    assert Assignment.objects.filter(item_id=d["item"], user=annotator, state="leased").exists()
    services.apply_deadlines(now=timezone.now() + timedelta(seconds=5))  # fallback: accept the prediction
    # The late answer is recorded on the item (the lease still holds) but changes no decision.
    with django_capture_on_commit_callbacks(execute=True):
        r = as_user(annotator).post(f"/api/items/{d['item']}/annotations/", {"value": {"label": "fraud"}},
                                    format="json")
    assert r.status_code == 201, r.content
    body = as_user(ml_engineer).get(f"/api/decisions/{d['id']}/").json()
    assert (body["status"], body["path"], body["value"]) == ("decided", "deadline_accept_model", {"label": "ok"})


def test_an_answer_after_the_deadline_does_not_count(as_user, ml_engineer, annotator, fraud,
                                                     django_capture_on_commit_callbacks):
    """The person finished after the deadline, before the sweep ran: the fallback decides."""
    DecisionRules.objects.filter(project=fraud).update(fallback="reject")
    d = ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=0.2, deadline_seconds=1).json()
    Decision.objects.filter(pk=d["id"]).update(deadline=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        as_user(annotator).get(f"/api/projects/{fraud.pk}/next/")
        as_user(annotator).post(f"/api/items/{d['item']}/annotations/", {"value": {"label": "fraud"}}, format="json")
    assert Decision.objects.get(pk=d["id"]).status == "pending"
    services.sweep()
    assert Decision.objects.get(pk=d["id"]).path == "deadline_reject"


def test_the_sweep_catches_an_answer_the_signal_missed(as_user, ml_engineer, annotator, fraud):
    d = ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=0.2).json()
    as_user(annotator).get(f"/api/projects/{fraud.pk}/next/")
    as_user(annotator).post(f"/api/items/{d['item']}/annotations/", {"value": {"label": "fraud"}}, format="json")
    assert Decision.objects.get(pk=d["id"]).status == "pending"  # on_commit never ran in this test
    assert services.sweep()["answered"] == 1
    assert Decision.objects.get(pk=d["id"]).value == {"label": "fraud"}


def test_a_made_decision_is_announced_through_webhooks(as_user, ml_engineer, fraud, monkeypatch,
                                                       django_capture_on_commit_callbacks):
    from decisions import notify

    sent = []
    monkeypatch.setattr(notify.services, "emit", lambda *a: sent.append(("emit", a)))
    monkeypatch.setattr(notify.services, "send_callback", lambda *a, **k: sent.append(("callback", a)))
    with django_capture_on_commit_callbacks(execute=True):
        d = ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=0.95,
                callback_url="https://example.org/hook").json()
    assert [(k, a[1] if k == "emit" else a[0]) for k, a in sent] == [("emit", "decision.made"),
                                                                     ("callback", "https://example.org/hook")]
    assert Decision.objects.get(pk=d["id"]).notified_at is not None


def test_a_failed_announcement_is_retried_by_the_sweep(as_user, ml_engineer, fraud, monkeypatch,
                                                       django_capture_on_commit_callbacks):
    from decisions import notify

    def broken(*a, **k):
        raise ConnectionError("down")

    monkeypatch.setattr(notify.services, "emit", broken)
    with django_capture_on_commit_callbacks(execute=True):
        d = ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=0.95).json()
    assert Decision.objects.get(pk=d["id"]).notified_at is None
    sent = []
    monkeypatch.setattr(notify.services, "emit", lambda *a: sent.append(a))
    assert services.retry_announcements(now=timezone.now() + timedelta(seconds=10)) == 1
    assert len(sent) == 1 and Decision.objects.get(pk=d["id"]).notified_at is not None


@pytest.mark.parametrize("body, field", [
    ({"data": {"image": ""}}, "data.image"),
    ({"data": "text"}, "data"),
    ({}, "data"),
    ({"prediction": {"label": "maybe"}, "confidence": 0.5}, "prediction.label"),
    ({"prediction": {"label": "ok"}, "confidence": 2}, "confidence"),
    ({"confidence": 0.5}, "confidence"),
    ({"callback_url": "ftp://example.org/x"}, "callback_url"),
    ({"callback_url": "javascript:alert(1)"}, "callback_url"),
    ({"deadline_seconds": 0}, "deadline_seconds"),
    ({"deadline_seconds": "soon"}, "deadline_seconds"),
    ({"deadline_seconds": 10**9}, "deadline_seconds"),
    ({"metadata": [1]}, "metadata"),
])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(as_user, ml_engineer, fraud, body, field):
    if body:  # the empty body tests a missing "data"
        body = {"data": {"text": "a payment"}, **body}
    items, events = Item.objects.count(), AuditEvent.objects.count()
    r = as_user(ml_engineer).post(f"/api/projects/{fraud.pk}/decisions/", body, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json(), r.json()
    assert (Item.objects.count(), AuditEvent.objects.count(), Decision.objects.count()) == (items, events, 0)


def test_an_unknown_project_is_404(as_user, ml_engineer, fraud):
    r = as_user(ml_engineer).post("/api/projects/999999/decisions/", {"data": {"text": "x"}}, format="json")
    assert r.status_code == 404 and not Decision.objects.exists()
    assert as_user(ml_engineer).get("/api/decisions/999999/").status_code == 404


def test_admins_set_the_decision_rules_and_a_bad_rule_names_its_field(as_user, admin, ml_engineer, fraud):
    from audit.models import AuditEvent

    url = f"/api/projects/{fraud.pk}/decision-rules/"
    r = as_user(admin).patch(url, {"class_thresholds": {"fraud": 0.999}, "fallback": "escalate",
                                   "field_rules": [{"field": "amount", "op": ">", "value": 5000, "then": "human"}]},
                             format="json")
    assert r.status_code == 200, r.content
    rules = DecisionRules.objects.get(project=fraud)
    assert (rules.class_thresholds, rules.fallback) == ({"fraud": 0.999}, "escalate")
    assert rules.field_rules[0]["value"] == 5000
    assert AuditEvent.objects.filter(action="decision_rules.changed", user=admin).exists()

    bad = as_user(admin).patch(url, {"class_thresholds": {"fraud": 2}}, format="json")
    assert bad.status_code == 400 and "class_thresholds.fraud" in bad.json()
    unknown = as_user(admin).patch(url, {"class_thresholds": {"scam": 0.9}}, format="json")
    assert unknown.status_code == 400 and "class_thresholds.scam" in unknown.json()
    assert as_user(admin).patch(url, {"fallback": "shrug"}, format="json").status_code == 400
    assert DecisionRules.objects.get(project=fraud).class_thresholds == {"fraud": 0.999}, "nothing changed"
    assert as_user(ml_engineer).patch(url, {"fallback": "reject"}, format="json").status_code == 403
    assert as_user(ml_engineer).get(url).json()["fallback"] == "escalate"


def test_a_pending_decision_whose_item_a_later_pre_labeling_accepts_is_decided_by_the_model(
        as_user, ml_engineer, fraud):
    from tasks import items as item_life

    d = ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=0.5).json()
    assert d["status"] == "pending"
    item = Item.objects.get(pk=d["item"])
    item_life.accept_prediction(item, {"label": "ok"}, reason="pre-labeled by version 2")  # as a re-route would

    assert services.sweep()["answered"] == 1
    decided = Decision.objects.get(pk=d["id"])
    assert (decided.status, decided.path, decided.value) == ("decided", "auto_accepted", {"label": "ok"})
