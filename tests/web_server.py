"""The production web server (granian with docker-compose.yml's options, `bench.stack.production_web_argv`) in a
subprocess on the test database, and a plain HTTP client for it."""
from __future__ import annotations

import http.client
import subprocess
import sys
import time
from pathlib import Path

from bench.stack import production_web_argv
from tests.servers import _free_port

ROOT = Path(__file__).resolve().parent.parent


class WebServer:
    """granian with `workers` processes of `threads` threads each; `env` points it at the test database."""

    def __init__(self, env: dict, log: Path, *, workers: int = 1, threads: int = 1):
        self.port = _free_port()
        self.log = log
        argv = [sys.executable, "-m", "granian", *production_web_argv(self.port, workers, threads)]
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.get("/login/")
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("granian did not start:\n" + log.read_text()[-3000:]) from None
                time.sleep(0.1)

    def request(self, method: str, path: str, body: bytes | None = None,
                **headers) -> tuple[int, http.client.HTTPMessage, bytes, float]:
        """Status, headers (names in any case: granian sends them in lower case), body and seconds taken."""
        started = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request(method, path, body=body, headers={"Host": "127.0.0.1", **headers})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read(), time.monotonic() - started
        finally:
            conn.close()

    def get(self, path: str, **headers) -> tuple[int, http.client.HTTPMessage, bytes, float]:
        return self.request("GET", path, **headers)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
