"""Live decisions under load: the latency of `POST /api/projects/{id}/decisions/` at a steady rate.

A throwaway stack (`bench/stack.py`: PostgreSQL, Redis, granian, a Celery worker), a classification
project with an auto-accept threshold and a metadata rule, and an open-loop client: requests are sent
at fixed times (`--rate` per second, from `--threads` threads, each with its own connection), so a slow
answer does not slow the offered load. A share `--pending-share` of the calls carries a low confidence
(pending for a person), the rest are decided at once. Prints a JSON summary: p50/p95/p99 in ms, the
rate achieved, errors.

    .venv/bin/python bench/decisions.py                      # 100 requests/s for 30 s after 5 s warm-up
    .venv/bin/python bench/decisions.py --rate 200 --duration 60
"""
from __future__ import annotations

import argparse
import json
import queue
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.load_test import Conn  # noqa: E402
from bench.stack import PASSWORD, Api, Stack, add_user, log, stopping  # noqa: E402


def percentile(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def client(port: int, token: str, project: int, todo: queue.Queue, out: list, errors: list, cfg: dict) -> None:
    conn = Conn(port, token, cfg["http_timeout"])
    rng = random.Random()
    path = f"/api/projects/{project}/decisions/"
    while True:
        job = todo.get()
        if job is None:
            return
        at, k = job
        delay = at - time.time()
        if delay > 0:
            time.sleep(delay)
        pending = rng.random() < cfg["pending_share"]
        body = {"data": {"text": f"payment {k}: card ending {rng.randrange(10_000):04d}"},
                "prediction": {"label": rng.choice(["ok", "fraud"])},
                "confidence": 0.3 if pending else 0.999, "metadata": {"amount": rng.randrange(900)},
                "deadline_seconds": 300}
        started = time.perf_counter()
        try:
            status, data = conn.request("POST", path, json.dumps(body).encode())
        except Exception as exc:
            errors.append(repr(exc))
            continue
        took = (time.perf_counter() - started) * 1000
        late = (time.time() - at) * 1000 - took  # how long the request waited for a free thread
        out.append((at, status, took, late, pending))


def run(args: argparse.Namespace) -> dict[str, Any]:
    stack = Stack("postgres", web_workers=args.web_workers, web_threads=args.web_threads,
                  prefix="hitl-decisions-")
    with stopping(stack, "decisions benchmark"):
        stack.start()
        admin = Api(stack.port, args.http_timeout).login("admin", PASSWORD)
        _, project = admin.call("POST", "/api/projects/", {
            "name": "live decisions", "task_type": "classification", "labels": ["ok", "fraud"],
            "auto_accept_threshold": 0.9, "audit_rate": 0.0}, expect=(201,))
        pid = project["id"]
        system = add_user(admin, "production", "ml_engineer", [pid])
        todo: queue.Queue = queue.Queue()
        out: list = []
        errors: list = []
        cfg = {"http_timeout": args.http_timeout, "pending_share": args.pending_share}
        threads = [threading.Thread(target=client, args=(stack.port, system.token, pid, todo, out, errors, cfg),
                                    daemon=True) for _ in range(args.threads)]
        for t in threads:
            t.start()
        total = int(args.rate * (args.warmup + args.duration))
        start = time.time() + 1
        for k in range(total):
            todo.put((start + k / args.rate, k))
        for _ in threads:
            todo.put(None)
        log(f"sending {total} decisions at {args.rate}/s from {args.threads} threads")
        for t in threads:
            t.join()
        stack.check_alive()
        measured = [r for r in out if r[0] >= start + args.warmup]
        ok = [r for r in measured if r[1] in (201, 202)]
        lat = [r[2] for r in ok]
        span = (max(r[0] for r in measured) - min(r[0] for r in measured)) if measured else 0.0
        result = {
            "rate_offered": args.rate, "measured_requests": len(measured),
            "rate_achieved": round(len(ok) / span, 1) if span else None,
            "p50_ms": round(percentile(lat, 50), 1), "p95_ms": round(percentile(lat, 95), 1),
            "p99_ms": round(percentile(lat, 99), 1), "max_ms": round(max(lat), 1) if lat else None,
            "p50_ms_decided": round(percentile([r[2] for r in ok if not r[4]], 50), 1),
            "p50_ms_pending": round(percentile([r[2] for r in ok if r[4]], 50), 1),
            "max_queue_wait_ms": round(max((r[3] for r in measured), default=0.0), 1),
            "non_2xx": len(measured) - len(ok), "errors": len(errors),
            "web_workers": args.web_workers, "web_threads": args.web_threads,
        }
        result.update(stack.facts)
        result["commit"] = stack.commit
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second offered")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds, after the warm-up")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=16, help="client threads (connections)")
    parser.add_argument("--pending-share", type=float, default=0.3, help="share of calls left to a person")
    parser.add_argument("--web-workers", type=int, default=2, help="granian worker processes")
    parser.add_argument("--web-threads", type=int, default=8,
                        help="granian's blocking threads per worker (run the app; --threads is the client's)")
    parser.add_argument("--http-timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
