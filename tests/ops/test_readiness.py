"""`/readyz/`: the database, the broker and the workers, checked side by side within a few seconds; 200 when
all answer, 503 naming the one that does not. `/healthz/` stays the liveness check."""
from __future__ import annotations

import time

import pytest
from django.test import Client

from ops import readiness
from tests import servers
from tests.faults import reconnect, session_server

# The checks run side by side and give up after readiness.DEADLINE (2.5 s); some slack for a loaded machine.
BOUND = 3.5


def ask(path: str = "/readyz/"):
    started = time.monotonic()
    r = Client().get(path)
    took = time.monotonic() - started
    assert r["Content-Type"] == "application/json"
    return r.status_code, r.json(), took


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_ready_with_the_database_the_broker_and_a_worker(worker):
    worker.wait_ready()
    status, body, took = ask()
    assert status == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "broker", "workers"}
    for check in body["checks"].values():
        assert check["ok"] is True and check["ms"] >= 0
    assert body["checks"]["workers"]["count"] >= 1
    assert took < BOUND


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_unready_without_a_worker(worker):
    worker.stop()  # the session's worker; started again for the tests after this one
    try:
        status, body, took = ask()
        assert status == 503, body
        assert body["status"] == "unready"
        assert body["checks"]["workers"] == {"ok": False, "count": 0, "ms": body["checks"]["workers"]["ms"]}
        assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
        assert took < BOUND
        # A web tier that should take traffic whenever it can serve people leaves the workers out.
        status, body, _ = ask("/readyz/?skip=workers")
        assert status == 200 and set(body["checks"]) == {"database", "broker"}
    finally:
        worker.start()
        worker.wait_ready()


@pytest.mark.django_db(transaction=True)
def test_unready_with_the_broker_down():
    redis_url = session_server("REDIS_URL")
    with servers.down(redis_url):
        status, body, took = ask()
    assert status == 503, body
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"]  # the kind of failure, in one word
    assert body["checks"]["workers"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    assert took < BOUND


@pytest.mark.django_db(transaction=True)
def test_unready_with_the_database_down():
    database_url = session_server("DATABASE_URL")
    try:
        with servers.down(database_url):
            status, body, took = ask("/readyz/?skip=workers")
    finally:
        reconnect()
    assert status == 503, body
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["broker"]["ok"] is True
    assert took < BOUND


def test_a_hanging_check_is_cut_off(monkeypatch):
    monkeypatch.setitem(readiness.RUNNERS, "workers", lambda: time.sleep(5) or {"ok": True, "count": 1})
    monkeypatch.setitem(readiness.RUNNERS, "database", lambda: {"ok": True})
    started = time.monotonic()
    result = readiness.readiness()
    assert time.monotonic() - started < readiness.DEADLINE + 0.5
    assert result["status"] == "unready"
    assert result["checks"]["workers"] == {"ok": False, "error": "timeout", "ms": readiness.DEADLINE * 1000,
                                           "count": 0}


def test_readiness_needs_no_login_and_says_nothing_more(monkeypatch):
    monkeypatch.setitem(readiness.RUNNERS, "database", lambda: {"ok": True})
    monkeypatch.setitem(readiness.RUNNERS, "workers", lambda: {"ok": True, "count": 2})
    status, body, _ = ask()
    assert status == 200
    assert body["status"] == "ready"
    assert set(body) == {"status", "checks"}
    assert Client().post("/readyz/").status_code == 405
