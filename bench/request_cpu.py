#!/usr/bin/env python
"""Where a labeling request's time goes: `GET /api/users/me/`, `next` and a submission, in this process through
Django's full handler (every middleware, DRF), on a throwaway PostgreSQL with fsync on.

    .venv/bin/python bench/request_cpu.py --rounds 800
    .venv/bin/python bench/request_cpu.py --rounds 400 --profile /tmp/requests.prof   # and where, by function

Unlike `bench.py` (over HTTP, through granian) it splits each request's time into this process's CPU (the
Python stack) and the PostgreSQL backend's CPU (read from /proc/<pid>/stat), and counts the WAL a submission
writes. A project of `--items` imported items, one annotator with a token; after 50 warm-up rounds, `--rounds`
rounds of me, next, submit. Prints one JSON line: wall p50 (ms), Python CPU and PostgreSQL CPU per request (ms),
WAL bytes per submission (every tenth measured).
"""
from __future__ import annotations

import argparse
import cProfile
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import Stack, process_cpu, setup_django  # noqa: E402

REQUESTS = ("me", "next", "submit")
WARMUP = 50  # rounds before the measured ones


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=600)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--profile", metavar="FILE", help="also write a cProfile of the measured rounds to FILE "
                                                         "(its overhead inflates the CPU figures of that run)")
    parser.add_argument("--show-queries", action="store_true",
                        help="after the measured rounds, print the statements of one more round, request by request")
    args = parser.parse_args(argv)
    stack = Stack("postgres", prefix="hitl-request-cpu-")
    try:
        stack.start_backend()
        stack.manage("migrate", "-v0")
        setup_django(stack)
        measured = _measure(args.rounds, args.items, args.profile, args.show_queries)
        print(json.dumps({**measured, "commit": stack.commit}))
    finally:
        stack.stop()
    return 0


def _measure(rounds: int, n_items: int, profile: str | None = None, show_queries: bool = False) -> dict:
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.test.client import RequestFactory
    from rest_framework.authtoken.models import Token

    from accounts.models import Role
    from dataio import importing
    from dataio.records import Record
    from tasks.models import Standing, StandingState
    from tests.conftest import make_project, make_user

    admin, annotator = make_user("admin", Role.ADMIN), make_user("ann", Role.ANNOTATOR)
    project = make_project(admin, [annotator], gold_rate=0.0)
    importing.import_into(project, (Record(number=k + 1, data={"text": f"item {k} is fine"}, external_id=f"e{k}",
                                           gold=None) for k in range(n_items)))
    Standing.objects.create(project=project, user=annotator, state=StandingState.ACTIVE)
    factory = RequestFactory(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=annotator).key}",
                             HTTP_HOST="localhost")
    handler = WSGIHandler()

    def send(environ) -> tuple[str, bytes]:
        status = []
        body = b"".join(handler(environ, lambda s, headers: status.append(s)))
        return status[0], body

    send(factory.get("/api/users/me/").environ)  # connects (CONN_MAX_AGE keeps the connection)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]

    def wal() -> int:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
            return int(cur.fetchone()[0])

    walls: dict[str, list[float]] = {r: [] for r in REQUESTS}
    python = dict.fromkeys(REQUESTS, 0.0)
    database = dict.fromkeys(REQUESTS, 0.0)
    wal_bytes, wal_samples = 0, 0
    profiler = cProfile.Profile() if profile else None
    for k in range(WARMUP + rounds):
        if profiler is not None and k == WARMUP:
            profiler.enable()
        item = None
        for request in REQUESTS:
            if request == "me":
                environ = factory.get("/api/users/me/").environ
            elif request == "next":
                environ = factory.get(f"/api/projects/{project.pk}/next/").environ
            else:
                environ = factory.post(f"/api/items/{item}/annotations/", json.dumps({"value": {"label": "pos"}}),
                                       content_type="application/json").environ
            counted = request == "submit" and k % 10 == 0
            before = wal() if counted else 0
            cpu, backend_cpu, t = time.process_time(), process_cpu(backend), time.perf_counter()
            status, body = send(environ)
            wall, cpu = time.perf_counter() - t, time.process_time() - cpu
            backend_cpu = process_cpu(backend) - backend_cpu
            if counted:
                wal_bytes, wal_samples = wal_bytes + wal() - before, wal_samples + 1
            if not status.startswith(("200", "201")):
                raise RuntimeError(f"{request}: {status} {body[:300]!r}")
            if request == "next":
                item = json.loads(body)["item"]["id"]
            if k >= WARMUP:
                walls[request].append(wall)
                python[request] += cpu
                database[request] += backend_cpu
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    if show_queries:
        _print_statements(send, factory, project.pk)
    return {"rounds": rounds, "items": n_items,
            "wall_p50_ms": {r: round(1000 * statistics.median(v), 2) for r, v in walls.items()},
            "python_cpu_ms": {r: round(1000 * v / rounds, 3) for r, v in python.items()},
            "postgres_cpu_ms": {r: round(1000 * v / rounds, 3) for r, v in database.items()},
            "submit_wal_bytes": round(wal_bytes / wal_samples)}


def _print_statements(send, factory, project_id: int) -> None:
    """One more round, each request's statements on stderr (each line one round trip to PostgreSQL)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as me:
        send(factory.get("/api/users/me/").environ)
    with CaptureQueriesContext(connection) as took:
        _, body = send(factory.get(f"/api/projects/{project_id}/next/").environ)
    item = json.loads(body)["item"]["id"]
    with CaptureQueriesContext(connection) as submitted:
        send(factory.post(f"/api/items/{item}/annotations/", json.dumps({"value": {"label": "pos"}}),
                          content_type="application/json").environ)
    for name, captured in (("me", me), ("next", took), ("submit", submitted)):
        print(f"--- {name}: {len(captured.captured_queries)} round trips", file=sys.stderr)
        for query in captured.captured_queries:
            print(f"  [{query['time']} s] {' '.join(query['sql'].split())[:400]}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
