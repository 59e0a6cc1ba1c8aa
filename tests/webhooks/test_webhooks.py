"""Webhooks: signed, retried, at-least-once deliveries that a real receiver on loopback processes once.

The receiver (an HTTP server thread) checks every signature, answers 500 to the first attempt of each
delivery and 200 after, and processes each `Hitl-Delivery` id once however often it arrives. Celery task
functions run in this process, except in the one test with the real worker.
"""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from django.utils import timezone

from annotations.models import Annotation
from models_registry.models import ModelVersion
from models_registry.services import make_active
from tasks import jobs
from tasks.models import Item, ItemStatus, Job, ReviewReason
from tests.conftest import make_items, make_project
from webhooks import celery_tasks, services
from webhooks.models import Attempt, Delivery, Webhook
from webhooks.signing import sign, verify

pytestmark = pytest.mark.django_db


class Receiver:
    """What a careful receiver does: verify, fail the first attempt (`fail_first`), process each id once."""

    def __init__(self):
        self.secret = ""
        self.fail_first = True
        self.requests: list[dict] = []  # every request: delivery id, event, status answered
        self.processed: list[str] = []  # delivery ids whose event was acted on
        self.url = ""
        self._lock = threading.Lock()

    def handle(self, headers, body: bytes) -> int:
        delivery_id = headers.get("Hitl-Delivery", "")
        with self._lock:
            if not verify(self.secret, headers.get("Hitl-Signature", ""), body):
                status = 400
            elif self.fail_first and not any(r["id"] == delivery_id for r in self.requests):
                status = 500
            else:
                status = 200
                if delivery_id not in self.processed:  # exactly once on this side
                    assert json.loads(body)["id"] == delivery_id
                    self.processed.append(delivery_id)
            self.requests.append({"id": delivery_id, "event": headers.get("Hitl-Event"), "status": status,
                                  "body": json.loads(body)})
        return status

    def of(self, delivery: Delivery) -> list[int]:
        return [r["status"] for r in self.requests if r["id"] == str(delivery.delivery_id)]


@pytest.fixture
def receiver():
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = rec.handle(self.headers, body)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_port}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def sent(monkeypatch):
    """The delivery ids published to the broker (with their countdown), instead of publishing them."""
    published: list[tuple[int, float | None]] = []
    monkeypatch.setattr(services, "enqueue", lambda i, countdown=None: published.append((i, countdown)) or True)
    return published


@pytest.fixture
def hook(project, receiver):
    hook = services.create_webhook(project, url=receiver.url, events=["item.final", "job.finished",
                                                                      "model.activated", "decision.made"])
    receiver.secret = hook.secret
    return hook


def make_due(delivery: Delivery, ago: float = 0) -> None:
    """Move a pending delivery's next attempt to `ago` seconds ago, as if its wait were over."""
    Delivery.objects.filter(pk=delivery.pk, state="pending").update(
        next_attempt_at=timezone.now() - timedelta(seconds=ago))


def emit_committed(project, capture, event="decision.made", payload=None) -> Delivery:
    with capture(execute=True):
        with transaction.atomic():
            [delivery] = services.emit(project.pk, event, payload or {"item_id": 1, "value": {"label": "pos"}})
    return delivery


# --- signing ---------------------------------------------------------------------------------------

def test_verify_accepts_the_signature_and_refuses_a_wrong_secret_a_changed_body_and_an_old_timestamp():
    body = b'{"id": "x"}'
    header = sign("s3cret", body)
    assert verify("s3cret", header, body)
    assert verify("s3cret", header, body.decode())
    assert not verify("other", header, body)
    assert not verify("s3cret", header, b'{"id": "y"}')
    old = sign("s3cret", body, timestamp=int(time.time()) - 301)
    assert not verify("s3cret", old, body)
    assert verify("s3cret", old, body, tolerance=400)
    assert not verify("s3cret", "", body)
    assert not verify("s3cret", "t=abc,v1=00", body)
    # While a secret rotates, a header may carry two signatures: either one will do.
    rotated = sign("old", body) + "," + sign("s3cret", body).split(",")[1]
    assert verify("s3cret", rotated, body)


# --- delivery, retry, exactly once ---------------------------------------------------------------

def test_a_delivery_succeeds_after_a_retry_with_each_attempt_stored(
        project, hook, receiver, sent, django_capture_on_commit_callbacks):
    delivery = emit_committed(project, django_capture_on_commit_callbacks)
    assert sent == [(delivery.pk, None)]  # published after commit

    with django_capture_on_commit_callbacks(execute=True):
        celery_tasks.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert receiver.of(delivery) == [500]
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 7 < wait <= 12  # 10 s ± 20 % jitter
    assert sent[-1][0] == delivery.pk and 7 < sent[-1][1] <= 12  # the retry goes with a countdown

    celery_tasks.deliver(delivery.pk)  # a duplicate message before its time: nothing happens
    assert receiver.of(delivery) == [500]

    make_due(delivery)
    celery_tasks.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert receiver.of(delivery) == [500, 200]
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("succeeded", 2, None)
    assert delivery.delivered_at is not None
    assert list(Attempt.objects.filter(delivery=delivery).values_list("status_code", flat=True)) == [500, 200]
    assert "500" in Attempt.objects.filter(delivery=delivery).first().error
    assert receiver.processed == [str(delivery.delivery_id)]
    [request] = [r for r in receiver.requests if r["status"] == 200]
    assert request["event"] == "decision.made"
    assert request["body"]["data"] == {"item_id": 1, "value": {"label": "pos"}}
    assert request["body"]["project_id"] == project.pk

    celery_tasks.deliver(delivery.pk)  # runs twice, same result
    assert receiver.of(delivery) == [500, 200]


def test_a_delivery_sent_twice_is_processed_once_by_its_receiver(
        project, hook, receiver, sent, django_capture_on_commit_callbacks):
    receiver.fail_first = False
    delivery = emit_committed(project, django_capture_on_commit_callbacks)
    celery_tasks.deliver(delivery.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.redeliver(delivery)  # the re-send button, after it succeeded
    assert sent[-1] == (delivery.pk, None)
    celery_tasks.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert receiver.of(delivery) == [200, 200]
    assert receiver.processed == [str(delivery.delivery_id)]
    assert delivery.state == "succeeded"
    assert Attempt.objects.filter(delivery=delivery).count() == 2


def test_a_receiver_with_the_wrong_secret_refuses_the_delivery_and_it_is_retried(
        project, hook, receiver, sent, django_capture_on_commit_callbacks):
    receiver.secret = "not-the-hook-secret"
    delivery = emit_committed(project, django_capture_on_commit_callbacks)
    celery_tasks.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert receiver.of(delivery) == [400]
    assert receiver.processed == []
    assert (delivery.state, delivery.attempts) == ("pending", 1)


def test_a_delivery_fails_for_good_after_the_last_attempt(
        settings, project, hook, receiver, sent, django_capture_on_commit_callbacks):
    settings.HITL_WEBHOOK_MAX_ATTEMPTS = 2
    receiver.secret = "wrong"
    delivery = emit_committed(project, django_capture_on_commit_callbacks)
    for _ in range(3):
        make_due(delivery)
        celery_tasks.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("failed", 2, None)
    assert receiver.of(delivery) == [400, 400]


def test_an_unreachable_receiver_is_an_attempt_with_no_status_and_the_error(project, sent, admin):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hook = services.create_webhook(project, url=f"http://127.0.0.1:{port}/", events=["job.finished"])
    [delivery] = services.emit(project.pk, "job.finished", {"job_id": 1})
    celery_tasks.deliver(delivery.pk)
    attempt = Attempt.objects.get(delivery=delivery)
    assert attempt.status_code is None and "refused" in attempt.error.lower()
    assert Delivery.objects.get(pk=delivery.pk).state == "pending"
    assert hook.deliveries.count() == 1


def test_nothing_is_recorded_or_sent_for_a_rolled_back_transaction(
        project, hook, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            services.emit(project.pk, "decision.made", {"item_id": 1})
            raise RuntimeError("the decision failed")
    assert Delivery.objects.count() == 0
    assert sent == []


def test_only_active_hooks_subscribed_to_the_event_get_it(project, hook, receiver, sent):
    services.create_webhook(project, url=receiver.url, events=["job.finished"])
    services.create_webhook(project, url=receiver.url, events=["decision.made"], active=False)
    other = make_project(project.created_by, name="Other")
    services.create_webhook(other, url=receiver.url, events=["decision.made"])
    deliveries = services.emit(project.pk, "decision.made", {})
    assert [d.webhook_id for d in deliveries] == [hook.pk]
    with pytest.raises(ValueError):
        services.emit(project.pk, "item.deleted", {})


def test_the_sweep_resends_an_overdue_delivery(project, hook, receiver, sent, django_capture_on_commit_callbacks):
    receiver.fail_first = False
    lost = emit_committed(project, django_capture_on_commit_callbacks)  # its message died with Redis
    fresh = emit_committed(project, django_capture_on_commit_callbacks)  # its message is on its way
    make_due(lost, ago=120)
    sent.clear()

    assert celery_tasks.sweep() == 1
    assert sent == [(lost.pk, None)]
    celery_tasks.deliver(lost.pk)
    assert Delivery.objects.get(pk=lost.pk).state == "succeeded"
    assert celery_tasks.sweep() == 0
    assert Delivery.objects.get(pk=fresh.pk).state == "pending"


def test_a_callback_url_is_signed_with_the_projects_callback_secret(
        project, receiver, sent, django_capture_on_commit_callbacks):
    receiver.fail_first = False
    receiver.secret = services.callback_secret(project.pk)
    assert receiver.secret != services.callback_secret(None)
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.send_callback(receiver.url, "decision.made", {"decision_id": 7}, project_id=project.pk)
    assert sent == [(delivery.pk, None)]
    celery_tasks.deliver(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.webhook_id) == ("succeeded", None)
    assert receiver.processed == [str(delivery.delivery_id)]
    with pytest.raises(services.WebhookError):
        services.send_callback("file:///etc/passwd", "decision.made", {})


# --- where events come from ----------------------------------------------------------------------

def test_item_final_is_emitted_when_annotators_reach_consensus(as_user, project, hook, annotator, sent,
                                                                django_capture_on_commit_callbacks):
    [item] = make_items(project, 1)
    with django_capture_on_commit_callbacks(execute=True):
        r = as_user(annotator).post(f"/api/items/{item.pk}/annotations/", {"value": {"label": "pos"}}, format="json")
    assert r.status_code == 201, r.content
    [delivery] = Delivery.objects.filter(event="item.final")
    assert delivery.payload["item_id"] == item.pk
    assert delivery.payload["value"] == {"label": "pos"}
    assert delivery.payload["source"] == "consensus"
    assert sent == [(delivery.pk, None)]


def test_item_final_is_emitted_on_a_review_decision(as_user, project, hook, reviewer, annotator, annotator2, sent):
    [item] = make_items(project, 1, status=ItemStatus.IN_REVIEW, review_reason=ReviewReason.DISAGREEMENT,
                        annotation_count=2)
    Annotation.objects.create(project=project, item=item, user=annotator, value={"label": "pos"})
    Annotation.objects.create(project=project, item=item, user=annotator2, value={"label": "neg"})
    r = as_user(reviewer).post(f"/api/items/{item.pk}/review/", {"value": {"label": "neg"}}, format="json")
    assert r.status_code in (200, 201), r.content
    [delivery] = Delivery.objects.filter(event="item.final")
    assert (delivery.payload["item_id"], delivery.payload["source"]) == (item.pk, "reviewer")
    assert delivery.payload["value"] == {"label": "neg"}
    assert Item.objects.get(pk=item.pk).status == ItemStatus.DONE


def test_job_finished_is_emitted_when_a_job_succeeds_or_fails(project, hook, admin, sent):
    ok = Job.objects.create(kind="train", project=project, created_by=admin)

    def work(job):
        with transaction.atomic():
            jobs.complete(job, {"rows": 3})

    jobs.run(ok.pk, work)
    bad = Job.objects.create(kind="train", project=project, created_by=admin)
    jobs.run(bad.pk, lambda job: (_ for _ in ()).throw(ValueError("no labels")), expected=(ValueError,))
    payloads = {d.payload["job_id"]: d.payload for d in Delivery.objects.filter(event="job.finished")}
    assert payloads[ok.pk] == {"job_id": ok.pk, "kind": "train", "state": "succeeded", "result": {"rows": 3},
                               "error": ""}
    assert (payloads[bad.pk]["state"], payloads[bad.pk]["error"]) == ("failed", "no labels")


def test_model_activated_is_emitted(project, hook, sent):
    mv = ModelVersion.objects.create(project=project, version=1, backend="builtin_text", labels=["pos", "neg"],
                                     train_size=10, metrics={}, artifact="x", artifact_sha256="")
    with transaction.atomic():
        make_active(mv, reason="manual")
    [delivery] = Delivery.objects.filter(event="model.activated")
    assert delivery.payload == {"model_version_id": mv.pk, "version": 1, "reason": "manual", "previous_version": None}


# --- the API ---------------------------------------------------------------------------------------

def test_admins_add_a_webhook_and_see_its_secret_once(as_user, project, admin):
    client = as_user(admin)
    r = client.post(f"/api/projects/{project.pk}/webhooks/", {"url": "https://example.org/in",
                                                              "events": ["item.final", "job.finished"]},
                    format="json")
    assert r.status_code == 201, r.content
    hook = Webhook.objects.get(pk=r.json()["id"])
    assert r.json()["secret"] == hook.secret and hook.secret.startswith("whsec_")
    assert client.get(f"/api/webhooks/{hook.pk}/").json()["secret"] is None
    assert client.get(f"/api/projects/{project.pk}/webhooks/").json()[0]["secret"] is None
    assert client.get(f"/api/webhooks/{hook.pk}/?reveal=secret").json()["secret"] == hook.secret
    r = client.patch(f"/api/webhooks/{hook.pk}/", {"rotate_secret": True, "active": False}, format="json")
    assert r.status_code == 200 and r.json()["secret"] not in (None, hook.secret)
    hook.refresh_from_db()
    assert (hook.active, hook.secret) == (False, r.json()["secret"])
    assert client.delete(f"/api/webhooks/{hook.pk}/").status_code == 204
    assert not Webhook.objects.filter(pk=hook.pk).exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "ftp://example.org/x", "events": ["item.final"]}, "url"),
    ({"url": "javascript:alert(1)", "events": ["item.final"]}, "url"),
    ({"url": "https://", "events": ["item.final"]}, "url"),
    ({"events": ["item.final"]}, "url"),
    ({"url": "https://example.org/x", "events": ["item.deleted"]}, "events"),
    ({"url": "https://example.org/x", "events": []}, "events"),
    ({"url": "https://example.org/x", "events": "item.final"}, "events"),
])
def test_bad_webhook_input_is_a_400_naming_the_field(as_user, project, admin, body, field):
    r = as_user(admin).post(f"/api/projects/{project.pk}/webhooks/", body, format="json")
    assert r.status_code == 400 and field in r.json(), r.content
    assert not Webhook.objects.exists()


def test_a_bad_patch_is_a_400_and_changes_nothing(as_user, project, admin, hook):
    r = as_user(admin).patch(f"/api/webhooks/{hook.pk}/", {"url": "gopher://x"}, format="json")
    assert r.status_code == 400 and "url" in r.json()
    r = as_user(admin).patch(f"/api/webhooks/{hook.pk}/", {"events": ["nope"]}, format="json")
    assert r.status_code == 400 and "events" in r.json()
    assert Webhook.objects.get(pk=hook.pk).url == hook.url


def test_deliveries_show_their_attempts_and_can_be_sent_again(
        as_user, project, admin, hook, receiver, sent, django_capture_on_commit_callbacks):
    delivery = emit_committed(project, django_capture_on_commit_callbacks)
    celery_tasks.deliver(delivery.pk)
    [shown] = as_user(admin).get(f"/api/webhooks/{hook.pk}/deliveries/").json()
    assert (shown["delivery_id"], shown["state"], shown["attempts"]) == (str(delivery.delivery_id), "pending", 1)
    assert [a["status_code"] for a in shown["attempt_log"]] == [500]
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        r = as_user(admin).post(f"/api/deliveries/{delivery.pk}/redeliver/")
    assert r.status_code == 202 and r.json()["attempts"] == 0
    assert sent == [(delivery.pk, None)]
    celery_tasks.deliver(delivery.pk)
    assert Delivery.objects.get(pk=delivery.pk).state == "succeeded"


def test_members_who_are_not_admins_may_not_manage_webhooks(as_user, project, hook, ml_engineer, outsider):
    assert as_user(ml_engineer).get(f"/api/projects/{project.pk}/webhooks/").status_code == 403
    assert as_user(ml_engineer).get(f"/api/webhooks/{hook.pk}/?reveal=secret").status_code == 403
    assert as_user(outsider).get(f"/api/webhooks/{hook.pk}/").status_code == 404
    assert as_user(ml_engineer).get(f"/api/projects/{project.pk}/webhooks/callback-secret/").status_code == 403


# --- with the real worker ----------------------------------------------------------------------------

@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_delivers_after_commit_and_retries_after_a_500(worker, admin, receiver):
    project = make_project(admin)
    hook = services.create_webhook(project, url=receiver.url, events=["decision.made"])
    receiver.secret = hook.secret
    with transaction.atomic():
        [delivery] = services.emit(project.pk, "decision.made", {"item_id": 5})
    deadline = time.monotonic() + 40  # the retry waits 10 s ± 20 %
    while time.monotonic() < deadline and Delivery.objects.get(pk=delivery.pk).state == "pending":
        time.sleep(0.2)
    delivery.refresh_from_db()
    assert delivery.state == "succeeded", worker.output()[-3000:]
    assert receiver.of(delivery) == [500, 200]
    assert receiver.processed == [str(delivery.delivery_id)]
    assert delivery.attempts == 2


# --- the page ----------------------------------------------------------------------------------------

def test_the_webhooks_page_shows_hooks_deliveries_and_attempts(client, project, admin, hook, receiver, sent):
    [delivery] = services.emit(project.pk, "job.finished", {"job_id": 1})
    celery_tasks.deliver(delivery.pk)
    client.force_login(admin)
    r = client.get(f"/projects/{project.pk}/webhooks/")
    assert r.status_code == 200
    page = r.content.decode()
    assert receiver.url in page and str(delivery.delivery_id) in page and "500" in page
    assert hook.secret not in page  # shown on request only
    assert "<script>" not in page and "js/webhooks.js" in page


def test_the_webhooks_page_is_for_admins(client, project, ml_engineer):
    client.force_login(ml_engineer)
    assert client.get(f"/projects/{project.pk}/webhooks/").status_code == 403
