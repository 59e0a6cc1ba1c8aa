"""Redis (the broker) stopped while decisions arrive: every one is answered at once and stored, people
answer the pending ones, and the deadline sweep decides the rest: nothing waits on the broker."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from decisions import services
from decisions.models import Decision, DecisionRules
from tests import servers
from tests.conftest import make_project
from tests.faults import session_server

FAST = 3.0  # a decision is a few queries: far below a broker's timeouts


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_decisions_are_answered_and_none_is_lost(as_user, admin, annotator, ml_engineer):
    redis_url = session_server("REDIS_URL")
    project = make_project(admin, [annotator, ml_engineer], labels=["ok", "fraud"], auto_accept_threshold=0.9,
                           audit_rate=0.0, gold_rate=0.0)
    DecisionRules.objects.create(project=project, fallback="reject")
    client = as_user(ml_engineer)
    url = f"/api/projects/{project.pk}/decisions/"
    assert client.get(f"/api/projects/{project.pk}/").status_code == 200  # views loaded before the outage

    with servers.down(redis_url):
        answers = []
        for k in range(20):
            started = time.monotonic()
            r = client.post(url, {"data": {"text": f"payment {k}"}, "prediction": {"label": "ok"},
                                  "confidence": 0.95 if k % 2 else 0.2, "callback_url": "http://127.0.0.1:9/x"},
                            format="json")
            assert r.status_code in (201, 202), r.content
            assert time.monotonic() - started < FAST
            answers.append(r.json())
        # A person answers the first pending one; the signal decides it at once.
        first = next(a for a in answers if a["status"] == "pending")
        served = as_user(annotator).get(f"/api/projects/{project.pk}/next/").json()["item"]["id"]
        assert served == first["item"]
        r = as_user(annotator).post(f"/api/items/{served}/annotations/", {"value": {"label": "fraud"}},
                                    format="json")
        assert r.status_code == 201, r.content

    assert Decision.objects.filter(project=project).count() == 20
    assert Decision.objects.get(pk=first["id"]).path == "human"
    assert Decision.objects.filter(project=project, status="decided").count() == 11
    # The deadlines pass: the sweep (beat's job, called here) decides the rest.
    Decision.objects.filter(project=project, status="pending").update(deadline=timezone.now() - timedelta(seconds=1))
    services.sweep()
    assert not Decision.objects.filter(project=project, status="pending").exists()
    paths = sorted(Decision.objects.filter(project=project).values_list("path", flat=True))
    assert paths == sorted(["auto_accepted"] * 10 + ["human"] + ["deadline_reject"] * 9)
