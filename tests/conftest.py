"""Personas, factories and the real Celery worker shared by every test."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Role, User
from tasks.models import Item, Job, Membership, Project

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Personas are created per test; the production hasher would cost a second each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_user(username: str, role: str, **extra) -> User:
    return User.objects.create_user(username=username, password=PASSWORD, role=role, **extra)


def browser(user) -> Client:
    """A browser session logged in as `user` (Django's test client, for the pages)."""
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin(db):
    return make_user("alice", Role.ADMIN)


@pytest.fixture
def annotator(db):
    return make_user("ann", Role.ANNOTATOR)


@pytest.fixture
def annotator2(db):
    return make_user("bob", Role.ANNOTATOR)


@pytest.fixture
def reviewer(db):
    return make_user("rita", Role.REVIEWER)


@pytest.fixture
def ml_engineer(db):
    return make_user("mel", Role.ML_ENGINEER)


@pytest.fixture
def outsider(db):
    """An annotator who is not a member of any project."""
    return make_user("otto", Role.ANNOTATOR)


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def as_user():
    """`as_user(user)` is an API client authenticated as that user."""
    return client_for


def make_project(admin: User, members=(), **fields) -> Project:
    fields.setdefault("name", "Reviews")
    fields.setdefault("task_type", "classification")
    fields.setdefault("labels", ["pos", "neg"])
    project = Project.objects.create(created_by=admin, **fields)
    Membership.objects.bulk_create([Membership(project=project, user=u) for u in (admin, *members)])
    return project


def make_items(project: Project, n: int, **fields) -> list[Item]:
    return Item.objects.bulk_create(
        [Item(project=project, data={"text": f"text {i}"}, needed=project.overlap, **fields) for i in range(n)]
    )


@pytest.fixture
def project(admin, annotator, annotator2, reviewer, ml_engineer):
    """A classification project whose members are one of each role (plus a second annotator)."""
    return make_project(admin, [annotator, annotator2, reviewer, ml_engineer])


class Worker:
    """A real Celery process bound to the test database and Redis broker: `celery worker` by default,
    or what `argv` says (`celery beat`); with `log`, its output goes to that file."""

    def __init__(self, env: dict, argv: list[str] | None = None, log: Path | None = None):
        self.env = env
        self.argv = argv or ["worker", "--pool=solo", "--loglevel=INFO", "--without-gossip", "--without-mingle",
                             "--without-heartbeat"]
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.name = ""  # a worker's node name, for remote control
        self.queue = env.get("CELERY_TASK_DEFAULT_QUEUE", django_settings.CELERY_TASK_DEFAULT_QUEUE)  # what it takes
        self.paused = False  # it takes no jobs (`pause`)

    def start(self) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "hitl", *self.argv]
        self.paused = False  # a worker takes jobs from the start
        if self.argv[0] == "worker":
            self.name = f"test-{time.time_ns()}@{socket.gethostname()}"
            argv += ["-n", self.name]
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.log_start = out.tell() if self.log else 0  # where this run's output begins
        try:
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        finally:
            if self.log:
                out.close()

    def output(self) -> str:
        """What the process has logged so far (with `log`)."""
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the worker (started with `log`) is connected to the broker and consuming."""
        deadline = time.monotonic() + timeout
        while b" ready." not in self.log.read_bytes()[self.log_start:]:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Celery worker did not get ready:\n" + self.output()[-3000:])
            time.sleep(0.1)

    def pause(self, timeout: float = 60.0) -> None:
        """Let the job in progress finish, then take no more (their messages wait in the queue), and drop the
        delayed ones the worker holds (a retry's countdown); restart it, paused, if it stays busy.

        A job must not run while a finished test's database is emptied: it holds locks in its transaction
        while its progress update, on the second connection, queues behind the flush's TRUNCATE, which waits
        for those locks - a deadlock PostgreSQL cannot see, which once hung the suite until CI gave up; or a
        job's statement queued behind the TRUNCATE makes it one PostgreSQL sees, and the flush is the one
        aborted. Settling once is not enough: beat's sweep, or a message of a killed worker coming back after
        its visibility timeout, sends a job again at any time.

        Remote control's orders go out on Redis' publish/subscribe, which a worker still reconnecting after an
        outage does not hear, and its answers say the order was taken, not carried out: each order is repeated
        until the worker's own account of its queues and jobs shows it done. The solo pool answers only between
        two jobs.
        """
        from hitl.celery import app

        if not self.running():
            return
        deadline = time.monotonic() + timeout
        while True:
            app.control.cancel_consumer(self.queue, destination=[self.name], reply=True, timeout=5, limit=1)
            queues, active = self._account()
            if queues == [] and active == []:
                break
            if time.monotonic() > deadline:  # stuck in a job: a fresh worker takes the order at once
                self.restart()
                deadline = time.monotonic() + timeout
        self.paused = True
        delayed = (app.control.inspect(destination=[self.name], timeout=5, limit=1).scheduled() or {}).get(self.name)
        if delayed:
            app.control.revoke([job["request"]["id"] for job in delayed])

    def resume(self, timeout: float = 30.0) -> None:
        """Drop the jobs left in the queue (an earlier test's) and take jobs again; start the worker if a test
        stopped it. The order is repeated until the worker consumes the queue (see `pause`)."""
        from hitl.celery import app

        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(self.queue)
        if not self.running():
            self.start()
        elif self.paused:
            deadline = time.monotonic() + timeout
            while self._account()[0] != [self.queue]:
                if time.monotonic() > deadline:
                    self.restart()  # a fresh worker consumes its queue
                    break
                app.control.add_consumer(self.queue, destination=[self.name], reply=True, timeout=5, limit=1)
        self.paused = False

    def _account(self) -> tuple[list[str] | None, list | None]:
        """The queues the worker consumes and the jobs it runs, as it answers (None: no answer)."""
        from hitl.celery import app

        inspect = app.control.inspect(destination=[self.name], timeout=5, limit=1)
        queues, active = inspect.active_queues(), inspect.active()
        return ([q["name"] for q in queues[self.name]] if queues and self.name in queues else None,
                active.get(self.name) if active else None)

    def restart(self) -> None:
        self.stop()
        self.start()
        self.wait_ready()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as when a machine dies: no chance to clean up or acknowledge."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.running():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                # Stuck in a job: what it forked (a multiprocessing pool) goes too, or it would outlive the
                # session, connected to the test database.
                for child in _children(self.proc.pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child, signal.SIGKILL)
                self.proc.kill()
                self.proc.wait()


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    except OSError:
        return []


def _celery_env(django_db_blocker) -> dict:
    """The test process's environment, with DATABASE_URL pointing at the test database."""
    with django_db_blocker.unblock():
        settings_dict = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}"
    )
    return env


# The fixtures that run a worker for the test; any other test's jobs go where no worker takes them.
_WITH_A_WORKER = {"worker", "beat", "own_worker"}
UNATTENDED_QUEUE = "unattended"


@pytest.fixture(autouse=True)
def _jobs_stay_with_their_test(request):
    """A test without a worker of its own still sends its jobs through the real broker (a broker outage is
    still one), but to a queue no worker consumes: the session `worker`, alive once an earlier test used it,
    would otherwise run them during the next test, or while this test's database is emptied (a TRUNCATE that
    deadlocked once with a job building search vectors, and left its rows to fail the tests after it). The
    session worker takes jobs only during the tests that use it: it pauses before their database is emptied
    (`Worker.pause`), and the next one drops what was left in its queue (`Worker.resume`)."""
    if _WITH_A_WORKER & set(request.fixturenames):
        if "worker" in request.fixturenames:
            # The database first, so that it is emptied only once the worker has paused.
            request.getfixturevalue("_django_db_helper")
            request.getfixturevalue("worker").resume()
        yield
        if "worker" in request.fixturenames:
            request.getfixturevalue("worker").pause()
        return
    with jobs_sent_to(UNATTENDED_QUEUE):
        yield


@contextlib.contextmanager
def jobs_sent_to(queue: str):
    """Within the block, the jobs this process sends go to `queue` (the Celery app's default queue)."""
    from hitl.celery import app

    default = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        yield
    finally:
        app.conf.task_default_queue = default


@pytest.fixture(scope="session")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A running worker; tests using it need `django_db(transaction=True)` so it sees their rows.

    `worker.output()` is its log."""
    w = Worker(_celery_env(django_db_blocker), log=tmp_path_factory.mktemp("worker") / "worker.log")
    w.start()
    yield w
    w.stop()


# Longest sleep of beat between two looks at its schedule (`--max-interval`; beat's default is 5 s).
BEAT_INTERVAL = 1


@pytest.fixture(scope="session")
def beat(django_db_setup, django_db_blocker, tmp_path_factory):
    """A running `celery beat` with the database scheduler (the settings' CELERY_BEAT_SCHEDULER): it fires
    what django-celery-beat's tables in the test database hold, and re-reads them when they change.

    Tests using it need `django_db(transaction=True)`, `worker` to run what it sends, and `beat_watches()`
    before they change a schedule. `beat.output()` is its log.
    """
    folder = tmp_path_factory.mktemp("beat")
    b = Worker(_celery_env(django_db_blocker), log=folder / "beat.log",
               argv=["beat", "--loglevel=INFO", "-s", str(folder / "schedule"), "--max-interval", str(BEAT_INTERVAL)])
    b.start()
    deadline = time.monotonic() + 30
    while "beat: Starting..." not in b.output():
        if b.proc.poll() is not None or time.monotonic() > deadline:
            b.stop()
            raise RuntimeError("celery beat did not start:\n" + b.output()[-3000:])
        time.sleep(0.1)
    yield b
    b.stop()


def beat_watches() -> None:
    """Make sure beat notices the next schedule change.

    Beat reloads its schedule when django-celery-beat's change marker (the one `PeriodicTasks` row) is
    newer than the marker it saw last. The flush after a `transaction=True` test deletes that row, and
    beat then takes the first marker written after it for a starting point, not for a change: a schedule
    set then would wait for beat's full reload, every 5 minutes. Writing a marker and letting beat read it
    once avoids that.
    """
    from django_celery_beat.models import PeriodicTasks

    PeriodicTasks.update_changed()
    time.sleep(BEAT_INTERVAL + 0.5)


def wait_until_running(job_id: int, timeout: float = 60.0) -> Job:
    """Poll the job row until a worker runs it and has reported some progress."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.filter(pk=job_id, state="running", progress__gt=0).first()
        if job is not None:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not get going in {timeout}s (state {Job.objects.get(pk=job_id).state})")


def wait_for_job(job_id: int, timeout: float = 60.0) -> Job:
    """Poll the job row until it finishes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.state in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s (state {job.state})")
