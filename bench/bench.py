#!/usr/bin/env python
"""End-to-end benchmark of hitl over its HTTP API; prints one JSON line on stdout.

    .venv/bin/python bench/bench.py --backend postgres --n 100000
    .venv/bin/python bench/bench.py --backend sqlite --n 20000

Everything runs from a temporary directory and is torn down at the end: a throwaway
PostgreSQL (+ Redis as the Celery broker) or an SQLite file (+ the embedded file-system
broker), `manage.py migrate`, the web server and a Celery worker. The web server is granian
as docker-compose.yml runs it (`--interface wsgi --workers 2 --blocking-threads 4 --no-ws
hitl.wsgi:application`; `--web-workers` and `--threads` change the two numbers), on loopback
and without the access log. The client is the standard library's `http.client` with one
persistent connection per user; granian keeps it alive, so `http_reconnects` in the result
counts only the first connection of each client (and any the server dropped, which
`http.client` re-opens).

What is measured (client-side, `time.perf_counter`):
- import: N synthetic reviews uploaded as one `.jsonl` multipart file (or, with
  `--import-mode body`, as JSON array bodies of 20,000 records); from the first byte sent
  until the answer is 201, or until the 202's job reports `succeeded`.
- next: 20 warm-up + 200 timed `GET /api/projects/{id}/next/?exclude=<ids leased so far>`
  by one annotator, in rounds of up to 100 (the most `exclude` takes). `exclude` (the API's
  prefetch parameter) makes each call lease a new item; without it the caller's open lease
  would simply be handed back.
- submit: 20 warm-up + 200 timed `POST /api/items/{id}/annotations/` of those leased items,
  after each round.
- loop: 20 + 200 rounds of the real annotator loop, `next` (no exclude) then `submit`.
- export: `GET /api/projects/{id}/export/?format=jsonl` (and `format=json`) streamed and
  discarded, lines counted and checked against N.
- beside the labeling (next, submit, loop): the CPU seconds of each part of the stack
  (`labeling_cpu_seconds`), the WAL it wrote per item, and the machine's steal time and major page
  faults (`labeling_host`), to tell a slow run's cause: the stack doing more, or the host.

Logs of every process are kept in the temporary directory; `--keep` leaves it in place.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import (  # noqa: E402  (the stack of processes, the HTTP client, job polling)
    Api,
    BenchError,
    Stack,
    add_user,
    cpu_by_part,
    host_counters,
    log,
    run_command,
    wait_for_job,
    wait_for_quiet_database,
    wait_for_search_vectors,
    wal_counters,
)

LABELS = ["pos", "neg", "neutral"]
WARMUP, TIMED = 20, 200  # p50 of 200 samples: run-to-run spread of a 50-sample p50 was ~1 ms
EXCLUDE_MAX = 100  # the API's cap on `exclude`
BODY_CHUNK = 20_000

WORDS = (
    "the product arrived quickly and works exactly as described but the battery life is shorter than "
    "expected great value for money would buy again terrible customer service never answered my emails "
    "sound quality excellent screen bright easy setup instructions unclear packaging damaged refund "
    "fast shipping love it hate it okay average decent solid flimsy sturdy cheap expensive recommend "
    "avoid colour size fits perfectly too small too large comfortable noisy quiet smells strange"
).split()


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


# ---------------------------------------------------------------------------------------------
# The workload


def synthetic_records(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    return [{"text": " ".join(rng.choices(WORDS, k=15)), "external_id": f"r{i}"} for i in range(n)]


def multipart(field: str, filename: str, content: bytes, content_type: str) -> tuple[bytes, str]:
    boundary = f"----hitlbench{uuid.uuid4().hex}"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def run_import(api: Api, stack: Stack, project_id: int, records: list[dict], mode: str, timeout: float,
               stall: float) -> dict:
    """Import the records; return timing facts."""
    n = len(records)
    if mode == "file":
        content = b"".join(json.dumps(r).encode() + b"\n" for r in records)
        body, ctype = multipart("file", "bench.jsonl", content, "application/x-ndjson")
        log(f"importing {n} records as a {len(content) / 1e6:.1f} MB .jsonl upload")
        t0 = time.perf_counter()
        status, answer = api.call("POST", f"/api/projects/{project_id}/import/", body=body, content_type=ctype,
                                  expect=(201, 202))
        t_http = time.perf_counter() - t0
        if status == 202:
            job = wait_for_job(api, stack, answer["job"], timeout, stall)
            imported, path = job["result"]["imported"], "job"
        else:
            imported, path = answer["imported"], "inline"
        elapsed = time.perf_counter() - t0
        facts = {"import_path": path, "import_upload_seconds": round(t_http, 3),
                 "import_file_mb": round(len(content) / 1e6, 2)}
    else:
        chunks = [json.dumps(records[i:i + BODY_CHUNK]).encode() for i in range(0, n, BODY_CHUNK)]
        log(f"importing {n} records as {len(chunks)} JSON bodies of up to {BODY_CHUNK}")
        imported = 0
        t0 = time.perf_counter()
        for chunk in chunks:
            _, answer = api.call("POST", f"/api/projects/{project_id}/import/", body=chunk,
                                 content_type="application/json", expect=(201,))
            imported += answer["imported"]
        elapsed = time.perf_counter() - t0
        facts = {"import_path": "inline"}
    if imported != n:
        raise BenchError(f"imported {imported} items, expected {n}")
    facts.update({"import_seconds": round(elapsed, 3), "import_items_per_s": round(n / elapsed)})
    facts["search_vectors_seconds"] = wait_for_search_vectors(stack)
    # The vacuums that follow a large import (its jobs, autovacuum) finish before the labeling is timed.
    facts["quiet_wait_seconds"] = wait_for_quiet_database(stack)
    return facts


def timed(fn) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def latency_facts(prefix: str, samples: list[float]) -> dict:
    return {f"{prefix}_p50_ms": round(pct(samples, 50), 2), f"{prefix}_p95_ms": round(pct(samples, 95), 2)}


def label_batch(api: Api, project_id: int, k: int) -> tuple[list[float], list[float]]:
    """`k` (at most `EXCLUDE_MAX`) prefetch-style `next` calls, each excluding the items the batch leased so far
    (so it leases a new one), then the submission of each: the times of both (ms), in order."""
    next_ms: list[float] = []
    leased: list[int] = []
    for _ in range(k):
        exclude = ",".join(map(str, leased))
        path = f"/api/projects/{project_id}/next/" + (f"?exclude={exclude}" if exclude else "")
        ms, (_, answer) = timed(lambda: api.call("GET", path))
        item_id = answer["item"]["id"]
        if item_id in leased:
            raise BenchError(f"next handed out item {item_id} twice")
        leased.append(item_id)
        next_ms.append(ms)
    submit_ms: list[float] = []
    for item_id in leased:
        value = {"value": {"label": LABELS[item_id % len(LABELS)]}, "lead_time": 1.5}
        ms, _ = timed(lambda: api.call("POST", f"/api/items/{item_id}/annotations/", value, expect=(201,)))
        submit_ms.append(ms)
    return next_ms, submit_ms


def run_labeling(api: Api, project_id: int) -> dict:
    """next (prefetch-style, distinct leases), submit of those leases, then the next+submit loop."""
    # Rounds of up to 100 leases (the most `exclude` takes: beyond it, `next` hands back the caller's oldest open
    # lease), then their submissions; the first WARMUP of each are not timed.
    next_ms: list[float] = []
    submit_ms: list[float] = []
    while len(next_ms) < WARMUP + TIMED:
        leases, submissions = label_batch(api, project_id, min(EXCLUDE_MAX, WARMUP + TIMED - len(next_ms)))
        next_ms += leases
        submit_ms += submissions
    next_ms, submit_ms = next_ms[WARMUP:], submit_ms[WARMUP:]

    loop_next: list[float] = []
    loop_submit: list[float] = []
    for i in range(WARMUP + TIMED):
        ms_next, (_, answer) = timed(lambda: api.call("GET", f"/api/projects/{project_id}/next/"))
        item_id = answer["item"]["id"]
        value = {"value": {"label": LABELS[item_id % len(LABELS)]}}
        ms_submit, _ = timed(lambda: api.call("POST", f"/api/items/{item_id}/annotations/", value, expect=(201,)))
        if i >= WARMUP:
            loop_next.append(ms_next)
            loop_submit.append(ms_submit)
    return {**latency_facts("next", next_ms), **latency_facts("submit", submit_ms),
            **latency_facts("loop_next", loop_next), **latency_facts("loop_submit", loop_submit)}


def start_project(stack: Stack, n: int, http_timeout: float) -> tuple[Api, Api, dict]:
    """On a started stack: the admin's client, a classification project for `n` items and the client of one
    annotator, its member."""
    admin = Api(stack.port, http_timeout).login("admin")
    _, project = admin.call("POST", "/api/projects/", {"name": f"bench {n}", "task_type": "classification",
                                                      "labels": LABELS}, expect=(201,))
    annotator = add_user(admin, "annotator", "annotator", [project["id"]])
    return admin, annotator, project


class ExportFailed(BenchError):
    """The export answered something other than 200 (recorded in the result; the run goes on)."""


def run_export(api: Api, project_id: int, fmt: str, n: int) -> tuple[float, float, int]:
    """Stream one export to nowhere: (seconds, seconds to first byte, bytes)."""
    t0 = time.perf_counter()
    try:
        lines, size, head, ttfb = api.stream_lines(f"/api/projects/{project_id}/export/?format={fmt}")
    except BenchError as exc:
        raise ExportFailed(str(exc)) from None
    elapsed = time.perf_counter() - t0
    # JSON Lines: one line per record. JSON: records joined by ",\n" and closed by "]\n".
    if lines != n:
        raise BenchError(f"{fmt} export has {lines} lines, expected {n}")
    if fmt == "json" and not head.startswith(b"["):
        raise BenchError(f"json export does not start with '[': {head!r}")
    return elapsed, ttfb, size


def bench(args: argparse.Namespace) -> dict:
    stack = Stack(args.backend, pg_durability=args.pg_durability, web_workers=args.web_workers,
                  web_threads=args.threads, keep=args.keep)
    try:
        stack.start()
        admin, annotator, project = start_project(stack, args.n, args.http_timeout)
        records = synthetic_records(args.n)
        result: dict[str, Any] = {"backend": args.backend, "n": args.n, "import_mode": args.import_mode}
        result.update(run_import(admin, stack, project["id"], records, args.import_mode, args.import_timeout,
                                 args.import_stall))
        del records
        log(f"imported in {result['import_seconds']}s ({result['import_items_per_s']} items/s)")

        wal_before, cpu_before, host_before = wal_counters(stack), cpu_by_part(stack), host_counters()
        t0 = time.perf_counter()
        result.update(run_labeling(annotator, project["id"]))
        wal_after, cpu_after, host_after = wal_counters(stack), cpu_by_part(stack), host_counters()
        # What ran beside the timed requests: CPU seconds of each part of the stack over the labeling's wall time.
        result["labeling_seconds"] = round(time.perf_counter() - t0, 2)
        result["labeling_cpu_seconds"] = {part: round(cpu_after[part] - cpu_before[part], 2) for part in cpu_after}
        result["labeling_host"] = {key: round(host_after[key] - host_before[key], 2) for key in host_after}
        if wal_before and wal_after:
            # Per labeled item (a `next` and a submit each, twice over): the log each one writes and its share of
            # full-page images, the first change of a page after a checkpoint.
            rounds = 2 * (WARMUP + TIMED)
            result.update({f"labeling_wal_{key}_per_item": round((wal_after[key] - wal_before[key]) / rounds, 1)
                           for key in ("records", "fpi", "bytes")})
        log(f"next p50 {result['next_p50_ms']} ms, submit p50 {result['submit_p50_ms']} ms")

        try:
            seconds, ttfb, size = run_export(admin, project["id"], "jsonl", args.n)
            result.update({"export_seconds": round(seconds, 3), "export_ttfb_ms": round(ttfb * 1000, 1),
                           "export_mb": round(size / 1e6, 1)})
        except ExportFailed as exc:
            result.update({"export_seconds": None, "export_error": str(exc)})
        try:
            seconds, _, _ = run_export(admin, project["id"], "json", args.n)
            result["export_json_seconds"] = round(seconds, 3)
        except ExportFailed as exc:
            result.update({"export_json_seconds": None, "export_json_error": str(exc)})
        log(f"export jsonl {result['export_seconds']}s, json {result['export_json_seconds']}s")

        stack.check_alive()
        result.update(stack.facts)
        result.update({"web_server": "granian", "web_workers": args.web_workers, "threads": args.threads,
                       "http_reconnects": admin.reconnects + annotator.reconnects,
                       "commit": stack.commit})
        return result
    except BenchError:
        if args.keep:
            log(f"logs kept in {stack.logs}")
        raise
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["postgres", "sqlite"], required=True)
    parser.add_argument("--n", type=int, default=100_000, help="items to import (at least 120)")
    parser.add_argument("--import-mode", choices=["file", "body"], default="file",
                        help="file: one .jsonl multipart upload (a job when large); body: JSON arrays of 20,000")
    parser.add_argument("--pg-durability", choices=["production", "test"], default="production",
                        help="production: fsync/synchronous_commit/full_page_writes on (PostgreSQL defaults); "
                             "test: tests.servers.start_postgres as is (all three off)")
    parser.add_argument("--web-workers", type=int, default=2,
                        help="granian worker processes (docker-compose.yml's WEB_CONCURRENCY)")
    parser.add_argument("--threads", type=int, default=4,
                        help="granian's blocking threads per worker, which run the app (docker-compose.yml's "
                             "WEB_THREADS)")
    parser.add_argument("--http-timeout", type=float, default=600, help="socket timeout of the client (s)")
    parser.add_argument("--import-timeout", type=float, default=900, help="how long to wait for the import job (s)")
    parser.add_argument("--import-stall", type=float, default=300,
                        help="fail when a running import job's progress stays the same this long (s; 0: never). "
                             "Where the app cannot show progress during the job's transaction it stays at 0 "
                             "until the end, so keep this above the whole import's expected time")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    args = parser.parse_args(argv)
    if args.n < WARMUP * 2 + TIMED * 2:
        parser.error(f"--n must be at least {WARMUP * 2 + TIMED * 2} (the labeling phases use that many items)")

    return run_command("bench", lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())
