"""Real PostgreSQL and Redis servers for the test session (a pytest plugin: `-p tests.servers`).

Both run from a temporary directory on free loopback ports and are stopped when the session
ends. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user. The
environment variables are set before Django reads its settings, so the whole suite, and every
worker process it starts, talks to these servers.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

_procs: list[subprocess.Popen] = []
_cleanups: list = []
# How to stop and start again each server started here, by its URL (see `down`).
_controls: dict[str, tuple] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start listening on port {port}")


def _need(binary: str) -> str:
    path = shutil.which(binary) or next(
        (str(p) for p in Path("/usr/lib/postgresql").glob(f"*/bin/{binary}")), None
    )
    if path is None:
        raise pytest.UsageError(
            f"{binary} is not installed; run `bin/system-deps` (as root) to install PostgreSQL and Redis."
        )
    return path


def start_postgres(root: Path, *, durable: bool = False, settings: Mapping[str, str] | None = None) -> str:
    """Start a throwaway PostgreSQL server; return its DATABASE_URL.

    Not `durable` (for tests): no fsync and no synchronous commit. `durable` keeps PostgreSQL's
    production defaults, for benchmark figures a real deployment would see. `settings` are more server
    settings (`-c name=value`), e.g. docker-compose.yml's (`bench.stack.production_postgres_settings`).
    """
    initdb, pg_ctl = _need("initdb"), _need("pg_ctl")
    data = root / "pg"
    data.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        os.chown(data, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(as_user + [initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
                   check=True, stdout=subprocess.DEVNULL)
    durability = "on" if durable else "off"
    options = (f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=200 "
               f"-c fsync={durability} -c synchronous_commit={durability} -c full_page_writes={durability}"
               + "".join(f" -c {name}={value}" for name, value in (settings or {}).items()))
    subprocess.run(as_user + [pg_ctl, "-D", str(data), "-o", options, "-l", str(data / "log"), "-w", "start"],
                   check=True, stdout=subprocess.DEVNULL)
    _cleanups.append(lambda: subprocess.run(as_user + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    _wait_for_port(port, "PostgreSQL")
    url = f"postgres://postgres@127.0.0.1:{port}/hitl"

    def stop() -> None:  # "fast": clients are disconnected, as by a restart in production
        subprocess.run(as_user + [pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], check=True,
                       stdout=subprocess.DEVNULL)

    def start() -> None:
        subprocess.run(as_user + [pg_ctl, "-D", str(data), "-o", options, "-l", str(data / "log"), "-w", "start"],
                       check=True, stdout=subprocess.DEVNULL)
        _wait_for_port(port, "PostgreSQL")

    _controls[url] = (stop, start)
    return url


def start_redis(root: Path) -> str:
    """Start a throwaway Redis server; return its URL."""
    port = _free_port()
    argv = [_need("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(root)]
    running: list[subprocess.Popen] = []

    def start() -> None:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        _procs.append(proc)
        running[:] = [proc]
        _wait_for_port(port, "Redis")

    def stop() -> None:  # SIGTERM: Redis closes its clients' connections and exits (its data is not kept)
        proc = running.pop()
        proc.terminate()
        proc.wait(timeout=10)
        _procs.remove(proc)

    start()
    url = f"redis://127.0.0.1:{port}/0"
    _controls[url] = (stop, start)
    return url


def can_stop(url: str) -> bool:
    """Whether `down(url)` can stop this server (one this process started)."""
    return url in _controls


@contextlib.contextmanager
def down(url: str):
    """Stop the server at `url` (PostgreSQL or Redis started by this process) for the `with` block, then
    start it again on the same port with the same data directory, even if the block fails."""
    stop, start = _controls[url]
    stop()
    try:
        yield
    finally:
        start()


def _stop_all() -> None:
    for proc in _procs:
        proc.terminate()
    for proc in _procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    _procs.clear()
    while _cleanups:
        _cleanups.pop()()


@pytest.hookimpl(hookwrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # A wrapper runs before every plain implementation, pytest-django's settings set-up included.
    if not os.environ.get("HITL_TEST_EXTERNAL_SERVERS"):
        root = Path(tempfile.mkdtemp(prefix="hitl-test-"))
        os.chmod(root, 0o755)
        _cleanups.append(lambda: shutil.rmtree(root, ignore_errors=True))
        atexit.register(_stop_all)
        os.environ["DATABASE_URL"] = start_postgres(root)
        os.environ["REDIS_URL"] = start_redis(root)
        var = root / "var"
        var.mkdir()
        os.environ["HITL_VAR_DIR"] = str(var)
    os.environ.setdefault("SECRET_KEY", "tests-only-secret")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
    # Redeliver the job of a killed worker after seconds, not the production hour.
    os.environ.setdefault("CELERY_VISIBILITY_TIMEOUT", "5")
    os.environ.setdefault("CELERY_UNACKED_RESTORE_INTERVAL", "1")
    os.environ.setdefault("CELERY_UNACKED_RESTORE_THROTTLE", "1")
    # Re-send a job whose message could not be published (broker down) a second after, not a minute.
    os.environ.setdefault("HITL_JOB_RESEND_SECONDS", "1")
    yield


def pytest_unconfigure(config):
    _stop_all()


@contextlib.contextmanager
def json_endpoint(state, path: str = "/predict"):
    """A loopback HTTP server answering each JSON POST with `state.answer(body) -> (status, bytes)`;
    sets `state.url` and yields `state` (the tests' stand-in for a team's model endpoint)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, payload = state.answer(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                self.wfile.write(payload)
            except OSError:  # the client gave up (timeout)
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
