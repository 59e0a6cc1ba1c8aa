"""A made decision reaches the project's webhook and the caller's callback URL: signed, retried after a
500, and processed once by a real receiver on loopback."""
from __future__ import annotations

import pytest

from decisions.models import Decision
from tests.decisions.test_decisions_api import ask, fraud  # noqa: F401 - the project fixture
from tests.webhooks.test_webhooks import make_due, receiver, sent  # noqa: F401 - fixtures
from webhooks import celery_tasks, services
from webhooks.models import Delivery

pytestmark = pytest.mark.django_db


def test_a_decision_made_at_once_is_delivered_to_the_hook_and_the_callback(
        as_user, ml_engineer, fraud, receiver, sent, django_capture_on_commit_callbacks):  # noqa: F811
    hook = services.create_webhook(fraud, url=receiver.url, events=["decision.made"])
    receiver.secret = hook.secret

    with django_capture_on_commit_callbacks(execute=True):
        d = ask(as_user(ml_engineer), fraud, prediction={"label": "ok"}, confidence=0.95,
                callback_url=receiver.url + "?from=callback").json()
    assert d["status"] == "decided"
    deliveries = list(Delivery.objects.order_by("id"))
    assert [(x.event, x.webhook_id) for x in deliveries] == [("decision.made", hook.pk), ("decision.made", None)]
    assert sorted(i for i, _ in sent) == [x.pk for x in deliveries]

    # The hook's receiver answers 500 first; the retry gets through, and it acts on the event once.
    for x in deliveries:
        celery_tasks.deliver(x.pk)
        make_due(x)
        celery_tasks.deliver(x.pk)
    hook_delivery = deliveries[0]
    assert receiver.of(hook_delivery) == [500, 200]
    assert str(hook_delivery.delivery_id) in receiver.processed
    [ok] = [r for r in receiver.requests if r["id"] == str(hook_delivery.delivery_id) and r["status"] == 200]
    assert ok["body"]["data"]["id"] == d["id"] and ok["body"]["data"]["value"] == {"label": "ok"}
    assert ok["body"]["data"]["path"] == "auto_accepted"
    # The callback is signed with the project's callback secret, not the hook's: checked with the hook's, 400;
    # with the callback secret, it goes through.
    assert receiver.of(deliveries[1])[0] == 400
    receiver.secret = services.callback_secret(fraud.pk)
    make_due(deliveries[1])
    celery_tasks.deliver(deliveries[1].pk)
    assert receiver.of(deliveries[1])[-1] == 200
    assert Decision.objects.get(pk=d["id"]).notified_at is not None
