"""Readiness (`/readyz/`): can this installation do its work right now?

Three checks, run side by side, each in its own thread, so the answer comes within `DEADLINE` seconds
even when a server hangs instead of refusing:

- `database`: `SELECT 1` on a connection of its own;
- `broker`: a connection to the Celery broker (Redis; the demo's file-system broker always connects);
- `workers`: a Celery `ping` broadcast; ready once one worker answers (Redis and the file-system
  broker both carry it).

`/healthz/` stays the liveness check (this process answers and reaches its database): a container
whose workers are down must not be restarted for it. Load balancers and orchestrators ask `/readyz/`
(`?skip=workers` for a web tier that should take traffic whenever it can serve people).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from celery import current_app
from django.db import connections

CHECKS = ("database", "broker", "workers")
DEADLINE = 2.5  # seconds for all the checks together
BROKER_TIMEOUT = 1.5
WORKER_TIMEOUT = 1.5

_pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="readyz")


def check_database() -> dict:
    conn = connections["default"]
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        return {"ok": True}
    finally:
        # This thread's connection: not kept (the pool's threads outlive the request).
        conn.close()


def check_broker() -> dict:
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT)
        # Redis: the channel's PING; a transport without a server (file system) has nothing to ask.
        conn.default_channel
    return {"ok": True}


def check_workers() -> dict:
    replies = current_app.control.ping(timeout=WORKER_TIMEOUT, limit=1)
    return {"ok": bool(replies), "count": len(replies)}


RUNNERS: dict[str, Callable[[], dict]] = {
    "database": check_database,
    "broker": check_broker,
    "workers": check_workers,
}


def _timed(check: Callable[[], dict]) -> dict:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as exc:  # a check that fails says how, in one word; the details stay in the logs
        result = {"ok": False, "error": type(exc).__name__}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def readiness(skip: set[str] = frozenset()) -> dict:
    """{"status": "ready" | "unready", "checks": {name: {"ok", "ms", ...}}}."""
    started = time.monotonic()
    futures = {name: _pool.submit(_timed, RUNNERS[name]) for name in CHECKS if name not in skip}
    checks: dict[str, dict] = {}
    for name, future in futures.items():
        try:
            checks[name] = future.result(timeout=max(DEADLINE - (time.monotonic() - started), 0.0))
        except FutureTimeout:
            checks[name] = {"ok": False, "error": "timeout", "ms": round(DEADLINE * 1000, 1)}
    if "workers" in checks and "count" not in checks["workers"]:
        checks["workers"]["count"] = 0
    ready = all(c["ok"] for c in checks.values())
    return {"status": "ready" if ready else "unready", "checks": checks}
