"""A world of real objects for the security tests: a project with items in every state, two model
versions with stored files, a failed job, an image, and personas inside and outside the project."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.test import Client
from django.utils import timezone
from PIL import Image
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Role, User
from annotations.models import Annotation
from models_registry import artifacts
from models_registry.models import LabelIssue, ModelVersion
from tasks.models import FinalSource, Item, ItemStatus, Job, JobState, Project, ReviewReason
from tests.conftest import make_project, make_user
from webhooks.models import Delivery, Webhook

# Everyone the matrix asks: an admin, a member of each role, a non-member of each role, and nobody.
MEMBERS = ("annotator", "reviewer", "ml_engineer")
OUTSIDERS = ("outsider_annotator", "outsider_reviewer", "outsider_ml_engineer")
PERSONAS = ("admin", *MEMBERS, *OUTSIDERS, "anonymous")
ROLE_OF = {"admin": Role.ADMIN, "annotator": Role.ANNOTATOR, "reviewer": Role.REVIEWER,
           "ml_engineer": Role.ML_ENGINEER, "outsider_annotator": Role.ANNOTATOR,
           "outsider_reviewer": Role.REVIEWER, "outsider_ml_engineer": Role.ML_ENGINEER}
IMAGE_PATH = "sec/pic.png"


@dataclass
class World:
    users: dict[str, User]
    project: Project
    spare: User  # not a member of anything: added, patched, ...
    second_annotator: User  # a member, removed in the members test
    queued: Item  # labelable, nobody annotated it yet
    undoable: Item  # admin, annotator and reviewer annotated it a moment ago
    in_review: Item
    image_item: Item
    earlier: ModelVersion  # was active before
    current: ModelVersion  # active
    failed_job: Job  # started by the admin
    tokens: dict[str, str] = field(default_factory=dict)
    webhook: Webhook | None = None  # of the project, with one failed delivery
    delivery: Delivery | None = None

    def user(self, persona: str) -> User | None:
        return self.users.get(persona)

    def api(self, persona: str) -> APIClient:
        """An API client with the persona's token (none for anonymous)."""
        client = APIClient()
        if persona != "anonymous":
            client.credentials(HTTP_AUTHORIZATION=f"Token {self.tokens[persona]}")
        return client

    def browser(self, persona: str) -> Client:
        """A browser session logged in as the persona (none for anonymous)."""
        client = Client()
        if persona != "anonymous":
            client.force_login(self.users[persona])
        return client


def png_bytes(size=(8, 6)) -> bytes:
    import io

    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


def build_world(media_root: Path) -> World:
    users = {"admin": make_user("alice", Role.ADMIN), "annotator": make_user("ann", Role.ANNOTATOR),
             "reviewer": make_user("rita", Role.REVIEWER), "ml_engineer": make_user("mel", Role.ML_ENGINEER),
             "outsider_annotator": make_user("otto", Role.ANNOTATOR),
             "outsider_reviewer": make_user("olga", Role.REVIEWER),
             "outsider_ml_engineer": make_user("oscar", Role.ML_ENGINEER)}
    second = make_user("bob", Role.ANNOTATOR)
    spare = make_user("sam", Role.ANNOTATOR)
    project = make_project(users["admin"], [users[m] for m in MEMBERS] + [second], overlap=2)
    # Outsiders are members of a project of their own, so "not a member" is not "member of nothing".
    make_project(users["admin"], [users[o] for o in OUTSIDERS], name="Elsewhere")

    def item(**fields) -> Item:
        fields.setdefault("data", {"text": "a text"})
        fields.setdefault("needed", 5)
        return Item.objects.create(project=project, **fields)

    queued = item(status=ItemStatus.QUEUED)
    item(status=ItemStatus.QUEUED)  # so `next` has something for everyone
    undoable = item(status=ItemStatus.QUEUED, annotation_count=3)
    for persona in ("admin", "annotator", "reviewer"):
        Annotation.objects.create(project=project, item=undoable, user=users[persona], value={"label": "pos"})
    in_review = item(status=ItemStatus.IN_REVIEW, review_reason=ReviewReason.DISAGREEMENT, needed=2,
                     annotation_count=2)
    Annotation.objects.create(project=project, item=in_review, user=users["annotator"], value={"label": "pos"})
    Annotation.objects.create(project=project, item=in_review, user=second, value={"label": "neg"})
    done = item(status=ItemStatus.DONE, final_source=FinalSource.CONSENSUS, final_value={"label": "pos"},
                final_at=timezone.now())

    image = media_root / IMAGE_PATH
    image.parent.mkdir(parents=True, exist_ok=True)
    image.write_bytes(png_bytes())
    image_item = item(status=ItemStatus.QUEUED, data={"image": f"/media/{IMAGE_PATH}"})

    versions = []
    now = timezone.now()
    for number in (1, 2):
        relative = artifacts.relative_path(project.pk, number)
        artifacts.save({"weights": np.linspace(0.0, 1.0, 50) * number}, relative)
        versions.append(ModelVersion.objects.create(
            project=project, version=number, backend="builtin_text", labels=list(project.labels), train_size=30,
            metrics={"accuracy": 0.9, "macro_f1": 0.9}, artifact=relative, artifact_sha256="",
            active=number == 2, activated_at=now - timedelta(hours=3 - number)))
    LabelIssue.objects.create(model_version=versions[1], item=done, rank=1, given={"label": "pos"},
                              suggested={"label": "neg"}, given_probability=0.1, suggested_confidence=0.9)
    failed = Job.objects.create(kind="train", project=project, created_by=users["admin"],
                                state=JobState.FAILED, error="boom")
    world = World(users=users, project=project, spare=spare, second_annotator=second, queued=queued,
                  undoable=undoable, in_review=in_review, image_item=image_item, earlier=versions[0],
                  current=versions[1], failed_job=failed)
    world.webhook = Webhook.objects.create(project=project, url="http://127.0.0.1:9/hook", events=["item.final"])
    world.delivery = Delivery.objects.create(webhook=world.webhook, project=project, url=world.webhook.url,
                                             event="item.final", payload={"item_id": done.pk}, state="failed",
                                             attempts=8)
    world.tokens = {persona: Token.objects.create(user=user).key for persona, user in users.items()}
    return world


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture
def world(db, media_root) -> World:
    return build_world(media_root)


def clean_env(**env: str) -> dict[str, str]:
    """A minimal environment for a fresh Django process: only what the test says (plus PATH and a
    test secret), so nothing of this test session (DEBUG, DJANGO_ALLOW_ASYNC_UNSAFE, ...) leaks in."""
    import os

    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    return {**base, "DJANGO_SETTINGS_MODULE": "hitl.settings", "SECRET_KEY": "tests-only-secret", **env}
