#!/usr/bin/env python
"""End-to-end benchmark of hitl over its HTTP API; prints one JSON line on stdout.

    .venv/bin/python bench/bench.py --backend postgres --n 100000
    .venv/bin/python bench/bench.py --backend sqlite --n 20000

Everything runs from a temporary directory and is torn down at the end: a throwaway
PostgreSQL (+ Redis as the Celery broker) or an SQLite file (+ the embedded file-system
broker), `manage.py migrate`, gunicorn (`hitl.wsgi -w 2`) and a Celery worker. The client
is the standard library's `http.client` with one persistent connection (gunicorn's sync
workers close it after each response; `http.client` then reconnects, which on loopback
costs a fraction of a millisecond and is part of what a real client pays).

What is measured (client-side, `time.perf_counter`):
- import: N synthetic reviews uploaded as one `.jsonl` multipart file (or, with
  `--import-mode body`, as JSON array bodies of 20,000 records); from the first byte sent
  until the answer is 201, or until the 202's job reports `succeeded`.
- next: 10 warm-up + 50 timed `GET /api/projects/{id}/next/?exclude=<ids leased so far>`
  by one annotator. `exclude` (the API's prefetch parameter) makes each call lease a new
  item; without it the caller's open lease would simply be handed back.
- submit: 10 warm-up + 50 timed `POST /api/items/{id}/annotations/` of those leased items.
- loop: 10 + 50 rounds of the real annotator loop, `next` (no exclude) then `submit`.
- export: `GET /api/projects/{id}/export/?format=jsonl` (and `format=json`) streamed and
  discarded, lines counted and checked against N.

Logs of every process are kept in the temporary directory; `--keep` leaves it in place.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import servers  # noqa: E402  (start_postgres / start_redis and their helpers)

PASSWORD = "bench-password-4711"
LABELS = ["pos", "neg", "neutral"]
WARMUP, TIMED = 10, 50
BODY_CHUNK = 20_000

WORDS = (
    "the product arrived quickly and works exactly as described but the battery life is shorter than "
    "expected great value for money would buy again terrible customer service never answered my emails "
    "sound quality excellent screen bright easy setup instructions unclear packaging damaged refund "
    "fast shipping love it hate it okay average decent solid flimsy sturdy cheap expensive recommend "
    "avoid colour size fits perfectly too small too large comfortable noisy quiet smells strange"
).split()


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and why."""


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


# ---------------------------------------------------------------------------------------------
# HTTP client


class Api:
    """One persistent `http.client` connection (re-opened by http.client when the server closes it)."""

    def __init__(self, port: int, timeout: float):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.token: str | None = None
        self.reconnects = 0

    def _headers(self, extra: dict | None = None) -> dict:
        headers = {"Host": "127.0.0.1", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        headers.update(extra or {})
        return headers

    def _send(self, method: str, path: str, body: bytes | None, headers: dict) -> http.client.HTTPResponse:
        for attempt in (1, 2):
            try:
                if self.conn.sock is None and attempt == 1:
                    self.reconnects += 1
                self.conn.request(method, path, body=body, headers=self._headers(headers))
                return self.conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A keep-alive connection the server dropped between requests: retry once, fresh.
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, payload: Any = None, *, expect: tuple[int, ...] = (200,),
             body: bytes | None = None, content_type: str | None = None) -> tuple[int, Any]:
        """Send a request, read the whole answer, decode JSON; raise BenchError on an unexpected status."""
        headers = {}
        if payload is not None:
            body = json.dumps(payload).encode()
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        resp = self._send(method, path, body, headers)
        raw = resp.read()
        if resp.will_close:
            self.conn.close()
        if resp.status not in expect:
            raise BenchError(f"{method} {path} answered {resp.status} (expected {expect}): {raw[:500]!r}")
        if not raw:
            return resp.status, None
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw

    def stream_lines(self, path: str, chunk: int = 1 << 20) -> tuple[int, int, bytes, float]:
        """GET a streamed body, discarding it: (newlines, bytes, first bytes, seconds to first byte)."""
        t0 = time.perf_counter()
        resp = self._send("GET", path, None, {})
        if resp.status != 200:
            raise BenchError(f"GET {path} answered {resp.status}: {resp.read()[:500]!r}")
        lines = size = 0
        head = b""
        ttfb = None
        while True:
            block = resp.read1(chunk) if hasattr(resp, "read1") else resp.read(chunk)
            if not block:
                break
            if ttfb is None:
                ttfb = time.perf_counter() - t0
                head = block[:64]
            lines += block.count(b"\n")
            size += len(block)
        if resp.will_close:
            self.conn.close()
        return lines, size, head, ttfb or 0.0


# ---------------------------------------------------------------------------------------------
# The stack: database, broker, migrate, gunicorn, worker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_database(url: str) -> dict:
    """Create the database named in `url` and return the server's durability settings."""
    import psycopg2

    base, name = url.rsplit("/", 1)
    conn = psycopg2.connect(f"{base}/postgres", connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
            settings = {}
            for setting in ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "server_version"):
                cur.execute(f"SHOW {setting}")
                settings[setting] = cur.fetchone()[0]
    finally:
        conn.close()
    return settings


class Stack:
    """Every process the benchmark starts, and their teardown."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.root = Path(tempfile.mkdtemp(prefix="hitl-bench-"))
        os.chmod(self.root, 0o755)  # PostgreSQL runs as `postgres` and must reach its data dir
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.var = self.root / "var"
        self.var.mkdir()
        self.procs: dict[str, subprocess.Popen] = {}
        self.port = _free_port()
        self.facts: dict[str, Any] = {}
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")}
        self.env.update({
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "HITL_VAR_DIR": str(self.var),
            "DJANGO_SETTINGS_MODULE": "hitl.settings",
            "PYTHONPATH": str(ROOT),
            "LOG_LEVEL": "WARNING",
        })

    # -- servers
    def start_backend(self) -> None:
        if self.args.backend == "postgres":
            url = servers.start_postgres(self.root, durable=self.args.pg_durability == "production")
            pg = create_database(url)
            self.facts.update({
                "pg_fsync": pg["fsync"] == "on",
                "pg_synchronous_commit": pg["synchronous_commit"],
                "pg_full_page_writes": pg["full_page_writes"] == "on",
                "pg_shared_buffers": pg["shared_buffers"],
                "pg_version": pg["server_version"].split()[0],
            })
            self.env["DATABASE_URL"] = url
            self.env["REDIS_URL"] = servers.start_redis(self.root)
            log(f"PostgreSQL {pg['server_version'].split()[0]} at {url} (fsync={pg['fsync']}, "
                f"synchronous_commit={pg['synchronous_commit']}); Redis at {self.env['REDIS_URL']}")
        else:
            # The embedded file-system broker; web and worker share HITL_VAR_DIR (and so its folders).
            for folder in ("queue", "processed"):
                (self.var / "broker" / folder).mkdir(parents=True, exist_ok=True)
            log(f"SQLite at {self.var / 'hitl.sqlite3'}; file-system broker under {self.var / 'broker'}")

    def manage(self, *argv: str, timeout: float = 600, extra_env: dict | None = None) -> None:
        name = argv[0]
        with open(self.logs / f"manage-{name}.log", "ab") as out:
            proc = subprocess.run([sys.executable, str(ROOT / "manage.py"), *argv], cwd=ROOT,
                                  env={**self.env, **(extra_env or {})}, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=timeout)
        if proc.returncode != 0:
            raise BenchError(f"manage.py {' '.join(argv)} failed (exit {proc.returncode}):\n"
                             + self.tail(f"manage-{name}.log"))

    def spawn(self, name: str, argv: list[str], cwd: Path, env: dict | None = None) -> subprocess.Popen:
        out = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, cwd=cwd, env=env or self.env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        out.close()
        self.procs[name] = proc
        return proc

    def start_web(self) -> None:
        argv = [sys.executable, "-m", "gunicorn", "hitl.wsgi", "-w", str(self.args.web_workers),
                "-b", f"127.0.0.1:{self.port}", "--timeout", str(self.args.gunicorn_timeout)]
        if _version("gunicorn") >= (25, 1):
            argv.append("--no-control-socket")  # else it takes over ~/.gunicorn/gunicorn.ctl
        env = dict(self.env)
        # cwd is the temporary var dir, for the same reason as the worker's (see start_worker):
        # publishing a job through the file-system broker writes `control/` there too.
        proc = self.spawn("gunicorn", argv, self.var, env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"gunicorn exited with {proc.returncode}:\n" + self.tail("gunicorn.log"))
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz/", headers={"Host": "127.0.0.1"})
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status == 200:
                    log(f"gunicorn ready on 127.0.0.1:{self.port}")
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError("gunicorn did not answer /healthz/ within 60 s:\n" + self.tail("gunicorn.log"))

    def start_worker(self) -> None:
        # cwd is the temporary var dir: kombu's file-system transport keeps its exchange table in a
        # `control/` folder relative to the working directory (the settings do not set
        # control_folder), which must not land in the repository.
        argv = [sys.executable, "-m", "celery", "-A", "hitl", "worker", "--pool=solo", "-l", "info",
                "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"bench-{uuid.uuid4().hex[:8]}@%h"]
        proc = self.spawn("worker", argv, self.var)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"celery worker exited with {proc.returncode}:\n" + self.tail("worker.log"))
            if b" ready." in (self.logs / "worker.log").read_bytes():
                log("celery worker ready")
                return
            time.sleep(0.2)
        raise BenchError("celery worker was not ready within 60 s:\n" + self.tail("worker.log"))

    def start(self) -> None:
        self.start_backend()
        t0 = time.perf_counter()
        self.manage("migrate", "--noinput")
        log(f"migrated in {time.perf_counter() - t0:.1f}s")
        self.manage("createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com",
                    extra_env={"DJANGO_SUPERUSER_PASSWORD": PASSWORD})
        self.start_worker()
        self.start_web()

    # -- diagnostics and teardown
    def tail(self, name: str, lines: int = 40) -> str:
        try:
            text = (self.logs / name).read_text(errors="replace")
        except OSError:
            return f"({name}: no log)"
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise BenchError(f"{name} died (exit {proc.returncode}):\n" + self.tail(f"{name}.log"))

    def stop(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is None:
                proc.terminate()
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in 20 s; killing it")
                proc.kill()
                proc.wait(timeout=10)
        servers._stop_all()
        if self.args.keep:
            log(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


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


def wait_for_job(api: Api, stack: Stack, job_id: int, timeout: float, stall: float) -> dict:
    """Poll the job until it succeeds; fail on failure, on timeout, or when it stops moving."""
    deadline = time.monotonic() + timeout
    last_seen, moved_at = None, time.monotonic()
    while time.monotonic() < deadline:
        _, job = api.call("GET", f"/api/jobs/{job_id}/")
        if job["state"] == "succeeded":
            return job
        if job["state"] == "failed":
            raise BenchError(f"import job {job_id} failed: {job['error']}")
        seen = (job["state"], job["progress"])
        if seen != last_seen:
            last_seen, moved_at = seen, time.monotonic()
        elif stall and job["state"] == "running" and time.monotonic() - moved_at > stall:
            raise BenchError(f"import job {job_id} is running but its progress has stayed at {job['progress']} "
                             f"for {stall:.0f} s (a lock wait?); worker log:\n" + stack.tail("worker.log"))
        stack.check_alive()
        time.sleep(0.05)
    raise BenchError(f"import job {job_id} did not finish within {timeout:.0f} s (last state {job['state']}, "
                     f"progress {job['progress']}):\n" + stack.tail("worker.log"))


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
    return facts


def timed(fn) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def latency_facts(prefix: str, samples: list[float]) -> dict:
    return {f"{prefix}_p50_ms": round(pct(samples, 50), 2), f"{prefix}_p95_ms": round(pct(samples, 95), 2)}


def run_labeling(api: Api, project_id: int) -> dict:
    """next (prefetch-style, distinct leases), submit of those leases, then the next+submit loop."""
    leased: list[int] = []
    next_ms: list[float] = []
    for i in range(WARMUP + TIMED):
        exclude = ",".join(map(str, leased[-100:]))
        path = f"/api/projects/{project_id}/next/" + (f"?exclude={exclude}" if exclude else "")
        ms, (status, answer) = timed(lambda: api.call("GET", path))
        item_id = answer["item"]["id"]
        if item_id in leased:
            raise BenchError(f"next handed out item {item_id} twice")
        leased.append(item_id)
        if i >= WARMUP:
            next_ms.append(ms)

    submit_ms: list[float] = []
    for i, item_id in enumerate(leased):
        value = {"value": {"label": LABELS[item_id % len(LABELS)]}, "lead_time": 1.5}
        ms, _ = timed(lambda: api.call("POST", f"/api/items/{item_id}/annotations/", value, expect=(201,)))
        if i >= WARMUP:
            submit_ms.append(ms)

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
    stack = Stack(args)
    try:
        stack.start()
        admin = Api(stack.port, args.http_timeout)
        _, answer = admin.call("POST", "/api/auth/token/", {"username": "admin", "password": PASSWORD})
        admin.token = answer["token"]
        _, project = admin.call("POST", "/api/projects/", {"name": f"bench {args.n}", "task_type": "classification",
                                                          "labels": LABELS}, expect=(201,))
        _, user = admin.call("POST", "/api/users/", {"username": "annotator", "password": PASSWORD,
                                                      "role": "annotator"}, expect=(201,))
        admin.call("POST", f"/api/projects/{project['id']}/members/", {"user": user["id"]}, expect=(201,))
        annotator = Api(stack.port, args.http_timeout)
        _, answer = annotator.call("POST", "/api/auth/token/", {"username": "annotator", "password": PASSWORD})
        annotator.token = answer["token"]

        records = synthetic_records(args.n)
        result: dict[str, Any] = {"backend": args.backend, "n": args.n, "import_mode": args.import_mode}
        result.update(run_import(admin, stack, project["id"], records, args.import_mode, args.import_timeout,
                                 args.import_stall))
        del records
        log(f"imported in {result['import_seconds']}s ({result['import_items_per_s']} items/s)")

        result.update(run_labeling(annotator, project["id"]))
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
        result.update({"web_workers": args.web_workers,
                       "http_reconnects": admin.reconnects + annotator.reconnects,
                       "commit": _git_head()})
        return result
    except BenchError:
        if args.keep:
            log(f"logs kept in {stack.logs}")
        raise
    finally:
        stack.stop()


def _version(dist: str) -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(part) for part in version(dist).split(".")[:2] if part.isdigit())


def _git_head() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["postgres", "sqlite"], required=True)
    parser.add_argument("--n", type=int, default=100_000, help="items to import (at least 120)")
    parser.add_argument("--import-mode", choices=["file", "body"], default="file",
                        help="file: one .jsonl multipart upload (a job when large); body: JSON arrays of 20,000")
    parser.add_argument("--pg-durability", choices=["production", "test"], default="production",
                        help="production: fsync/synchronous_commit/full_page_writes on (PostgreSQL defaults); "
                             "test: tests.servers.start_postgres as is (all three off)")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--gunicorn-timeout", type=int, default=120,
                        help="gunicorn worker timeout (s); a sync worker is killed if one request runs longer")
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

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    try:
        result = bench(args)
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench interrupted; everything it started has been stopped", file=sys.stderr)
        return 130
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
