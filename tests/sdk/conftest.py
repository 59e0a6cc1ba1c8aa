"""The SDK against the real server: pytest-django's `live_server` (a threaded server on the test
database, PostgreSQL) and, for jobs, the real Celery worker of tests/conftest.py."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hitl_sdk import Client

from accounts.services import issue_token
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
HITL = str(Path(sys.executable).parent / "hitl")


@pytest.fixture
def connect(live_server) -> Iterator:
    """`connect(user)`: an SDK client of the live server logged in as that user (username and password)."""
    clients: list[Client] = []

    def make(user, **kwargs) -> Client:
        client = Client(live_server.url, username=user.username, password=PASSWORD, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def run_cli(live_server, tmp_path):
    """`run_cli(user, *args)`: run the `hitl` command as that user (HITL_URL / HITL_TOKEN in its environment);
    answers the CompletedProcess (text)."""
    def run(user, *args: str, stdin: str | None = None, check: bool = False) -> subprocess.CompletedProcess:
        env = {**os.environ, "HITL_URL": live_server.url, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
        env.pop("HITL_TOKEN", None)
        if user is not None:
            env["HITL_TOKEN"] = issue_token(user).key
        done = subprocess.run([HITL, *args], env=env, capture_output=True, text=True, input=stdin, timeout=180,
                              cwd=tmp_path)
        if check and done.returncode != 0:
            raise AssertionError(f"hitl {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    return run
