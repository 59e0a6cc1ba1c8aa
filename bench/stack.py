"""What the benchmark scripts share: the stack of processes they start, an HTTP client, job polling.

`Stack` runs everything from a temporary directory and tears it down at the end: a throwaway
PostgreSQL (+ Redis as the Celery broker) or an SQLite file (+ the embedded file-system broker),
`manage.py migrate`, an admin user, the web server (granian serving `hitl.wsgi:application`, as in
docker-compose.yml) and Celery worker(s) with `--pool=solo` (the job runs in the worker process itself,
so its `/proc/<pid>` figures are the job's).
`Api` is the standard library's `http.client` with one persistent connection.
"""
from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import servers  # noqa: E402  (start_postgres / start_redis and their helpers)

PASSWORD = "bench-password-4711"


@contextmanager
def stopping(stack: Stack, name: str):
    """Run a benchmark's body; stop everything it started however it ends.

    A `BenchError` exits with 1 and its message, Ctrl-C with 130.
    """
    try:
        yield
    except BenchError as exc:
        print(f"{name} failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print("interrupted; everything it started has been stopped", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        stack.stop()


class BenchError(RuntimeError):
    """A step of the benchmark failed; the message says which and why."""


def run_command(name: str, body: Callable[[], dict], ok: Callable[[dict], bool] = lambda result: True) -> int:
    """The end of a benchmark's `main`: run `body` (which stops what it started however it ends), with SIGTERM
    taken as Ctrl-C. Its result goes to stdout as one JSON line (exit 0, or 2 where `ok` says the run broke a
    rule); a `BenchError` is one line on stderr (exit 1), an interruption exits 130."""

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    try:
        result = body()
    except BenchError as exc:
        print(f"{name} failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name} interrupted; everything it started has been stopped", file=sys.stderr)
        return 130
    print(json.dumps(result), flush=True)
    return 0 if ok(result) else 2


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# HTTP client


class Api:
    """One persistent `http.client` connection (re-opened by http.client when the server closes it)."""

    def __init__(self, port: int, timeout: float):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.token: str | None = None
        self.user_id: int | None = None
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
             body: bytes | None = None, content_type: str | None = None, raw: bool = False) -> tuple[int, Any]:
        """Send a request, read the whole answer, decode JSON (unless `raw`: the bytes); raise BenchError
        on an unexpected status."""
        headers = {}
        if payload is not None:
            body = json.dumps(payload).encode()
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        resp = self._send(method, path, body, headers)
        data = resp.read()
        if resp.will_close:
            self.conn.close()
        if resp.status not in expect:
            raise BenchError(f"{method} {path} answered {resp.status} (expected {expect}): {data[:500]!r}")
        if raw:
            return resp.status, data
        if not data:
            return resp.status, None
        try:
            return resp.status, json.loads(data)
        except ValueError:
            return resp.status, data

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


    def login(self, username: str, password: str = PASSWORD) -> Api:
        _, answer = self.call("POST", "/api/auth/token/", {"username": username, "password": password})
        self.token = answer["token"]
        return self


# ---------------------------------------------------------------------------------------------
# The stack: database, broker, migrate, web server (granian), worker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def production_postgres_settings() -> dict[str, str]:
    """The server settings docker-compose.yml's `postgres` service starts with (its `command`'s `-c name=value`
    pairs), so that a benchmark's PostgreSQL is the production one."""
    import yaml

    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["postgres"].get("command") or []
    if isinstance(command, str):
        command = command.split()
    return dict(arg.split("=", 1) for flag, arg in zip(command, command[1:], strict=False) if flag == "-c")


def production_web_argv(port: int, workers: int, threads: int) -> list[str]:
    """The arguments docker-compose.yml's `web` service gives granian (`exec granian ...` in its command), on
    loopback at `port`, with these process and thread counts, and without the access log: the benchmarks'
    web tier is the production one."""
    import yaml

    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["command"]
    words = (command if isinstance(command, str) else " ".join(command)).split("exec granian", 1)[1].split()
    given = {"--host": "127.0.0.1", "--port": str(port), "--workers": str(workers), "--blocking-threads": str(threads)}
    argv: list[str] = []
    for word in words:
        if word == "--access-log":
            continue
        argv.append(given[argv[-1]] if argv and argv[-1] in given else word)
    return argv


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
            for setting in ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_wal_size",
                            "server_version"):
                cur.execute(f"SHOW {setting}")
                settings[setting] = cur.fetchone()[0]
    finally:
        conn.close()
    return settings


class Stack:
    """Every process the benchmark starts, and their teardown."""

    def __init__(self, backend: str, *, pg_durability: str = "production", web_workers: int = 2,
                 web_threads: int = 4, keep: bool = False, worker_concurrency: int = 1,
                 prefix: str = "hitl-bench-", env: dict[str, str] | None = None):
        if backend not in ("postgres", "sqlite"):
            raise ValueError(f"unknown backend {backend!r}")
        self.backend = backend
        self.pg_durability = pg_durability
        # granian's worker processes and the blocking threads (running the WSGI app) of each:
        # docker-compose.yml's WEB_CONCURRENCY and WEB_THREADS
        self.web_workers = web_workers
        self.web_threads = web_threads
        self.keep = keep
        # 1: one `--pool=solo` worker process (the work happens in that very process, whose pid is
        # `worker_pid()`); more: that many solo worker processes, named worker, worker2, ...
        self.worker_concurrency = worker_concurrency
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        os.chmod(self.root, 0o755)  # PostgreSQL runs as `postgres` and must reach its data dir
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.var = self.root / "var"
        self.var.mkdir()
        self.procs: dict[str, subprocess.Popen] = {}
        self.commit = _git_head()  # of the code the processes load
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
        self.env.update(env or {})  # e.g. BLAS thread limits for every process of the stack

    # -- servers
    def start_backend(self) -> None:
        if self.backend == "postgres":
            production = self.pg_durability == "production"
            url = servers.start_postgres(self.root, durable=production,
                                         settings=production_postgres_settings() if production else None)
            pg = create_database(url)
            self.facts.update({
                "pg_fsync": pg["fsync"] == "on",
                "pg_synchronous_commit": pg["synchronous_commit"],
                "pg_full_page_writes": pg["full_page_writes"] == "on",
                "pg_shared_buffers": pg["shared_buffers"],
                "pg_max_wal_size": pg["max_wal_size"],
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
        """granian as docker-compose.yml runs it (`production_web_argv`), registered as the process "web". granian
        has no per-request timeout: a long request (an inline import, a first stats call) runs to its end."""
        argv = [sys.executable, "-m", "granian", *production_web_argv(self.port, self.web_workers, self.web_threads)]
        env = dict(self.env)
        # cwd is the temporary var dir, for the same reason as the worker's (see start_worker):
        # publishing a job through the file-system broker writes `control/` there too.
        proc = self.spawn("web", argv, self.var, env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"web server (granian) exited with {proc.returncode}:\n" + self.tail("web.log"))
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/healthz/", headers={"Host": "127.0.0.1"})
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status == 200:
                    log(f"web server (granian) ready on 127.0.0.1:{self.port}")
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError("web server (granian) did not answer /healthz/ within 60 s:\n" + self.tail("web.log"))

    def start_worker(self, name: str = "worker") -> subprocess.Popen:
        # cwd is the temporary var dir: kombu's file-system transport keeps its exchange table in a
        # `control/` folder relative to the working directory (the settings do not set
        # control_folder), which must not land in the repository.
        argv = [sys.executable, "-m", "celery", "-A", "hitl", "worker", "--pool=solo", "-l", "info",
                "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"bench-{uuid.uuid4().hex[:8]}@%h"]
        logfile = self.logs / f"{name}.log"
        offset = logfile.stat().st_size if logfile.exists() else 0  # a restarted worker appends to its log
        proc = self.spawn(name, argv, self.var)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"celery {name} exited with {proc.returncode}:\n" + self.tail(f"{name}.log"))
            if b" ready." in logfile.read_bytes()[offset:]:
                log(f"celery {name} ready (pid {proc.pid})")
                return proc
            time.sleep(0.2)
        raise BenchError(f"celery {name} was not ready within 60 s:\n" + self.tail(f"{name}.log"))

    def start_workers(self) -> None:
        for n in range(self.worker_concurrency):
            self.start_worker("worker" if n == 0 else f"worker{n + 1}")

    def stop_process(self, name: str) -> None:
        """Stop one process this stack started (SIGTERM, then SIGKILL after 20 s)."""
        proc = self.procs.pop(name)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _kill_group(proc)

    def restart_worker(self, name: str = "worker") -> subprocess.Popen:
        """A fresh worker process (e.g. for a clean peak-memory reading); waits until it is ready."""
        self.stop_process(name)
        return self.start_worker(name)

    def worker_pid(self, name: str = "worker") -> int:
        return self.procs[name].pid

    def start(self) -> None:
        self.start_backend()
        t0 = time.perf_counter()
        self.manage("migrate", "--noinput")
        log(f"migrated in {time.perf_counter() - t0:.1f}s")
        self.manage("createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com",
                    extra_env={"DJANGO_SUPERUSER_PASSWORD": PASSWORD})
        self.start_workers()
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

    def django_env(self) -> dict:
        """The variables a process needs to use this stack's settings (database, MEDIA_ROOT, ...)."""
        keys = ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "HITL_VAR_DIR", "DJANGO_SETTINGS_MODULE", "DATABASE_URL",
                "REDIS_URL")
        return {k: self.env[k] for k in keys if k in self.env}

    def stop(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is None:
                proc.terminate()
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in 20 s; killing it")
                _kill_group(proc)
        servers._stop_all()
        if self.keep:
            log(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a process `Stack.spawn` started and everything it forked (its own session: process group =
    pid), so that nothing outlives the stack, e.g. the multiprocessing pool of a hung job."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


# ---------------------------------------------------------------------------------------------
# Users and jobs


def add_user(admin: Api, username: str, role: str, projects: list[int] = ()) -> Api:
    """Create a user with `role` (through the API), make them a member of `projects`, return their client."""
    _, user = admin.call("POST", "/api/users/", {"username": username, "password": PASSWORD, "role": role},
                         expect=(201,))
    for project_id in projects:
        admin.call("POST", f"/api/projects/{project_id}/members/", {"user": user["id"]}, expect=(201,))
    client = Api(admin.port, admin.conn.timeout)
    client.user_id = user["id"]
    return client.login(username)


def add_member(admin: Api, project_id: int, *clients: Api) -> None:
    for client in clients:
        admin.call("POST", f"/api/projects/{project_id}/members/", {"user": client.user_id}, expect=(201,))


def wait_for_job(api: Api, stack: Stack, job_id: int, timeout: float, stall: float = 0,
                 poll: float = 0.05) -> dict:
    """Poll the job until it succeeds; fail on failure, on timeout, or when it stops moving."""
    deadline = time.monotonic() + timeout
    last_seen, moved_at = None, time.monotonic()
    job: dict = {"state": "?", "progress": None}
    while time.monotonic() < deadline:
        _, job = api.call("GET", f"/api/jobs/{job_id}/")
        what = f"{job.get('kind', '')} job {job_id}".lstrip()
        if job["state"] == "succeeded":
            return job
        if job["state"] == "failed":
            raise BenchError(f"{what} failed: {job['error']}")
        seen = (job["state"], job["progress"])
        if seen != last_seen:
            last_seen, moved_at = seen, time.monotonic()
        elif stall and job["state"] == "running" and time.monotonic() - moved_at > stall:
            raise BenchError(f"{what} is running but its progress has stayed at {job['progress']} "
                             f"for {stall:.0f} s (a lock wait?); worker log:\n" + stack.tail("worker.log"))
        stack.check_alive()
        time.sleep(poll)
    raise BenchError(f"job {job_id} did not finish within {timeout:.0f} s (last state {job['state']}, "
                     f"progress {job['progress']}):\n" + stack.tail("worker.log"))


def _when(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def job_timing(job: dict, waits: dict[str, list[float]]) -> None:
    """Add the job row's seconds to `waits`: `<kind>_queued` (created -> started: broker pickup) and
    `<kind>_running` (started -> finished)."""
    created, started, finished = (_when(job.get(k)) for k in ("created_at", "started_at", "finished_at"))
    if created and started and finished:
        waits.setdefault(f"{job['kind']}_queued", []).append((started - created).total_seconds())
        waits.setdefault(f"{job['kind']}_running", []).append((finished - started).total_seconds())


def export_records(api: Api, project_id: int) -> list[dict]:
    """Every item of the project as `GET /api/projects/{id}/export/?format=jsonl` gives it."""
    status, raw = api.call("GET", f"/api/projects/{project_id}/export/?format=jsonl", raw=True)
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# Data, made in this process with the stack's settings


def setup_django(stack: Stack) -> None:
    """Configure Django in this process with the stack's settings (database, MEDIA_ROOT, ...)."""
    os.environ.update(stack.django_env())
    import django

    django.setup()


def digit_records() -> tuple[list[dict], dict[str, str]]:
    """Import records (no gold, no label) of all of scikit-learn's digits and their true labels by external_id.

    Call after `setup_django`: `ops.demo_data.digits` writes the PNGs under the stack's MEDIA_ROOT,
    which the web server serves at /media/ and the worker reads from.
    """
    from ops.demo_data import digits

    records, truth = [], {}
    for record in digits():
        truth[record["external_id"]] = record["meta_label"]
        records.append({"data": record["data"], "external_id": record["external_id"]})
    return records, truth


def _git_head() -> str | None:
    """The commit the code under test comes from, with "-dirty" if tracked files differ from it
    (read when the stack starts: the processes run the code as it was then)."""
    if os.environ.get("HITL_BENCH_COMMIT"):  # e.g. when running from an exported tree (`git archive`)
        return os.environ["HITL_BENCH_COMMIT"]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        if not head:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def blas_env(threads: int) -> dict[str, str]:
    """Environment that caps OpenBLAS/OpenMP/MKL threads (0: leave them as they are)."""
    if not threads:
        return {}
    return {name: str(threads) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (peak RSS) / VmSize of a process, in kB, from /proc/<pid>/status."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "VmSize", "VmPeak"):
                out[key] = int(rest.split()[0])
    return out


def process_cpu(pid: int) -> float:
    """A process's user + system CPU seconds, from /proc/<pid>/stat."""
    return _cpu_seconds(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split())


def _cpu_seconds(fields: list[str], first: int = 11) -> float:
    """User + system CPU seconds from the fields of /proc/<pid>/stat after the name: the process's own (from
    field 11), or those of the children it waited for (from 13)."""
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


def reset_peak_rss(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux >= 4.0: `echo 5 > /proc/<pid>/clear_refs`)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _cell(x: float | None) -> str:
    return "   -  " if x is None else f"{x:.4f}"


def curve_table(runs: list[dict], key: str) -> str:
    """Learning curves side by side: a row per number of labels, a column per run (strategy/seed)."""
    names = [f"{r['strategy'][:16]}/{r['seed']}" for r in runs]
    by_labels: dict[int, dict[int, float | None]] = {}
    for n, r in enumerate(runs):
        for p in r["curve"]:
            by_labels.setdefault(p["labels"], {})[n] = p[key]
    width = max(10, *(len(name) for name in names))
    out = ["labels " + " ".join(name.rjust(width) for name in names)]
    for labels in sorted(by_labels):
        row = by_labels[labels]
        out.append(f"{labels:6d} " + " ".join(_cell(row.get(n)).rjust(width) for n in range(len(runs))))
    return "\n".join(out)


def _poll(stack: Stack, done, timeout: float | None = None) -> float | None:
    """Ask `done(cursor)` every 0.2 s on the stack's PostgreSQL until it answers true (or `timeout` seconds
    passed); how long that took. None for SQLite."""
    if not stack.env.get("DATABASE_URL", "").startswith("postgres"):
        return None
    import psycopg2

    t0 = time.perf_counter()
    conn = psycopg2.connect(stack.env["DATABASE_URL"])
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            while not done(cur) and (timeout is None or time.perf_counter() - t0 < timeout):
                time.sleep(0.2)
        return round(time.perf_counter() - t0, 2)
    finally:
        conn.close()


def wait_for_search_vectors(stack: Stack) -> float | None:
    """Wait until the worker has built the search vectors the import left pending (PostgreSQL), so that
    build does not run during the timed labeling; answers how long it took after the import."""
    def built(cur) -> bool:
        cur.execute("SELECT EXISTS (SELECT 1 FROM tasks_itemtextpending)")
        return not cur.fetchone()[0]

    return _poll(stack, built)


def wait_for_quiet_database(stack: Stack, timeout: float = 300) -> float | None:
    """Wait until no VACUUM runs (the jobs that follow a large import, or autovacuum) for two seconds, then end
    the checkpoint the bulk write started, so that the timed labeling measures the steady state, not the
    maintenance after a bulk write; answers how long it took.

    A 1M-item import and its search vectors wrote more WAL than `max_wal_size` (1 GB by default): PostgreSQL
    started a checkpoint, spread over minutes (`checkpoint_completion_target`), and its log showed it still
    writing pages out while the labeling was timed, the commits' fsyncs sharing the disk with it (1M runs then:
    submit p50 4.08-6.61 ms; 100k runs, without a checkpoint, 3.38-3.47). `CHECKPOINT` finishes it at once."""
    quiet_since: list[float] = []

    def quiet(cur) -> bool:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND "
                    "(backend_type = 'autovacuum worker' OR query ILIKE 'vacuum%' AND state = 'active')")
        if cur.fetchone()[0]:
            quiet_since.clear()
        elif not quiet_since:
            quiet_since.append(time.perf_counter())
        if not quiet_since or time.perf_counter() - quiet_since[0] < 2:
            return False
        cur.execute("CHECKPOINT")
        return True

    return _poll(stack, quiet, timeout)


def wal_counters(stack: Stack) -> dict[str, int] | None:
    """PostgreSQL's cumulative WAL counters (`pg_stat_wal`): records, full-page images, bytes; None for SQLite.
    Two readings around a timed phase tell what each of its writes cost the log."""
    if not stack.env.get("DATABASE_URL", "").startswith("postgres"):
        return None
    import psycopg2

    conn = psycopg2.connect(stack.env["DATABASE_URL"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal")
            records, fpi, size = cur.fetchone()
        return {"records": int(records), "fpi": int(fpi), "bytes": int(size)}
    finally:
        conn.close()


def host_counters() -> dict[str, float]:
    """The machine's cumulative steal time (s: CPU time the hypervisor gave to other guests while this one wanted
    it) and major page faults (pages read back from disk, e.g. after the host reclaimed them). Two readings around a
    timed phase tell whether a slow run was the host taking the CPU or the memory away; a run slower with neither,
    for the same requests, ran slower instructions (another guest on the same core's caches)."""
    steal = int(Path("/proc/stat").read_text().split("\n", 1)[0].split()[8])
    faults = next(int(line.split()[1]) for line in Path("/proc/vmstat").read_text().splitlines()
                  if line.startswith("pgmajfault "))
    return {"steal_seconds": steal / os.sysconf("SC_CLK_TCK"), "major_faults": faults}


def _stat(pid: int) -> tuple[int, list[str]] | None:
    """A process's parent and the fields of /proc/<pid>/stat after its name; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), fields


def cpu_by_part(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by each part of the stack: `web` (granian and its workers), `worker` (every
    other process the stack started: the Celery workers), `postgres_clients` (the backends serving
    connections) and `postgres_other` (autovacuum, the checkpointer, the WAL writer, ..., with the children
    that already exited). Two readings around a timed phase tell what ran beside the requests it timed."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)

    def tree(root: int) -> list[int]:
        out, todo = [], [root]
        while todo:
            pid = todo.pop()
            if pid in stats:
                out.append(pid)
                todo.extend(children.get(pid, []))
        return out

    def own(pid: int) -> float:
        return _cpu_seconds(stats[pid][1])

    def exited(pid: int) -> float:  # the children it waited for
        return _cpu_seconds(stats[pid][1], 13)

    parts = dict.fromkeys(("web", "worker", "postgres_clients", "postgres_other"), 0.0)
    for name, proc in stack.procs.items():
        part = "web" if name == "web" else "worker"
        parts[part] += sum(own(pid) + exited(pid) for pid in tree(proc.pid))
    postmaster_pid = stack.root / "pg" / "postmaster.pid"
    if postmaster_pid.exists():
        postmaster = int(postmaster_pid.read_text().split()[0])
        for pid in tree(postmaster):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            client = pid != postmaster and "(" in title  # "postgres: user db 127.0.0.1(port) state"
            parts["postgres_clients" if client else "postgres_other"] += own(pid)
        parts["postgres_other"] += exited(postmaster)
    return {part: round(seconds, 2) for part, seconds in parts.items()}
