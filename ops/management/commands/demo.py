"""`manage.py demo`: demo users and projects, then the web server and a real Celery worker."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Role, User
from dataio.importing import import_records, schema_of
from dataio.records import iter_array
from ops import demo_data
from tasks import services
from tasks.models import Project

DEMO_USERS = [
    ("admin", Role.ADMIN, "demo-admin"),
    ("ml", Role.ML_ENGINEER, "demo-ml"),
    ("reviewer", Role.REVIEWER, "demo-reviewer"),
    ("annotator", Role.ANNOTATOR, "demo-annotator"),
    ("annotator2", Role.ANNOTATOR, "demo-annotator2"),
]


def _strip_meta(records):
    for r in records:
        r.pop("meta_label", None)
        yield r


class Command(BaseCommand):
    help = "Set up demo users and projects with real data, then run the web server and a Celery worker."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--setup-only", action="store_true", help="Create the demo data and exit.")

    def handle(self, *args, addr: str, setup_only: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        users = self.create_users()
        self.create_projects(users)
        if setup_only:
            return
        self.serve(addr)

    def create_users(self) -> dict[str, User]:
        users = {}
        self.stdout.write("Demo users (username / password / role):")
        for username, role, password in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username, defaults={"role": role})
            user.role = role
            user.is_staff = role == Role.ADMIN
            user.set_password(password)
            user.save()
            users[username] = user
            self.stdout.write(f"  {username:<11} {password:<16} {role}")
        return users

    @transaction.atomic
    def create_projects(self, users: dict[str, User]) -> None:
        members = [u for name, u in users.items() if name != "admin"]
        specs = [
            dict(name="Movie reviews", task_type="classification", labels=["fresh", "rotten"],
                 instructions="Is the critic's snippet positive (fresh) or negative (rotten)?",
                 records=lambda: demo_data.movie_reviews(gold_every=10)),
            dict(name="Handwritten digits", task_type="classification", labels=[str(d) for d in range(10)],
                 instructions="Which digit is shown?", records=lambda: demo_data.digits()),
            dict(name="Review phrases", task_type="spans", labels=["PRAISE", "CRITICISM"],
                 instructions="Mark the phrases that praise or criticise the film.",
                 records=lambda: demo_data.review_spans()),
            dict(name="Digit boxes", task_type="boxes", labels=["digit"],
                 instructions="Draw a tight box around the digit.", records=lambda: demo_data.digit_boxes()),
            dict(name="Which review is warmer", task_type="pairwise", labels=[],
                 instructions="Choose the more positive review, or tie; then answer the questions under it.",
                 questions=demo_data.PAIRWISE_RUBRIC, question_spread=2, records=lambda: demo_data.review_pairs()),
            dict(name="Rank the reviews by warmth", task_type="ranking", labels=[],
                 instructions="Order the reviews from warmest (top) to coldest; tie the ones equally warm.",
                 records=lambda: demo_data.review_rankings()),
        ]
        for spec in specs:
            records = spec.pop("records")
            if Project.objects.filter(name=spec["name"]).exists():
                continue
            project = services.create_project(user=users["admin"], **spec)
            for member in members:
                services.add_member(project, member, user=users["admin"])
            n = import_records(project, iter_array(_strip_meta(records()), schema_of(project)), user=users["admin"])
            self.stdout.write(f"Project {project.name!r}: {n} items")

    def serve(self, addr: str) -> None:
        worker = subprocess.Popen(
            # -B: the worker runs beat too, for the lease clean-up and projects' retraining schedules.
            [sys.executable, "-m", "celery", "-A", "hitl", "worker", "--pool=solo", "--loglevel=INFO", "-B",
             "--schedule", str(Path(settings.VAR_DIR) / "celerybeat-schedule")],
            env=os.environ.copy(),
        )
        self.stdout.write(f"Celery worker started (pid {worker.pid}), broker {settings.CELERY_BROKER_URL}")
        self.stdout.write(f"Open http://{addr}/ (API docs at http://{addr}/api/docs/). Ctrl-C stops everything.")
        # `kill` (SIGTERM) stops the worker too, as Ctrl-C does: by default SIGTERM would end this process at
        # once, skipping the `finally` below and leaving the worker running without its server.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            call_command("runserver", addr, use_reloader=False)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)
