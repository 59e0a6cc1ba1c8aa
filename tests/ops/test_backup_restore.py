"""Backups: `bin/backup` dumps the database (pg_dump -Fc) and MEDIA_ROOT into one folder, and
`bin/restore` puts both into a fresh, empty database and media folder, from which the platform runs
with every project, item, image, annotation, review and model file as they were."""
from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from PIL import Image

from annotations.models import Annotation, ReviewDecision
from annotations.review import do_review
from annotations.services import Submission, submit_annotation
from models_registry.models import ModelVersion
from models_registry.training import train
from tasks.models import Item, Project
from tests.conftest import ROOT, make_project
from tests.models_registry import load, synthetic_reviews

RESTORED_DB = "hitl_restored"


def png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (12, 9), shade).save(out, "PNG")
    return out.getvalue()


def database_url(name: str) -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"


def run(*argv: str, **env: str) -> str:
    """A command of the repository (bin/backup, manage.py ...) in its own process, with `env` added."""
    done = subprocess.run([str(a) for a in argv], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def files_of(root: Path) -> dict[str, str]:
    """Every file under `root` by relative path, with the SHA-256 of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# What the restored instance tells about itself: counts, values, media files and the model file.
INSPECT = """
import json
from django.conf import settings
from annotations.models import Annotation, ReviewDecision
from models_registry import artifacts
from models_registry.models import ModelVersion
from audit.models import AuditEvent
from tasks.models import Item, Project
from django.db import DatabaseError, transaction
mv = ModelVersion.objects.get()
model = artifacts.load(mv.artifact.name, mv.artifact_sha256)
event = AuditEvent.objects.order_by("id").first()
try:
    with transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    append_only = False
except DatabaseError:
    append_only = True
print(json.dumps({
    "counts": {"projects": Project.objects.count(), "items": Item.objects.count(),
               "annotations": Annotation.objects.count(), "reviews": ReviewDecision.objects.count(),
               "models": ModelVersion.objects.count(), "audit": AuditEvent.objects.count()},
    "projects": sorted(Project.objects.values_list("name", flat=True)),
    "images": sorted(i.data["image"] for i in Item.objects.filter(project__name="Pets")),
    "review": list(ReviewDecision.objects.values_list("item__external_id", "value", "note")),
    "model": {"version": mv.version, "active": mv.active, "accuracy": mv.metrics["accuracy"],
              "artifact": mv.artifact.name, "loaded": type(model).__name__},
    "append_only": append_only,
    "media_root": str(settings.MEDIA_ROOT),
}))
"""


@pytest.fixture
def fresh_database(django_db_setup, django_db_blocker):
    """A new, empty database on the session's PostgreSQL server, dropped afterwards."""
    with django_db_blocker.unblock():
        db = connection.settings_dict
    server = psycopg2.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres")
    server.autocommit = True
    with server.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {RESTORED_DB}")
        cursor.execute(f"CREATE DATABASE {RESTORED_DB}")
    yield RESTORED_DB
    with server.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {RESTORED_DB} WITH (FORCE)")
    server.close()


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


def populate(admin, annotator, annotator2, reviewer, ml_engineer, as_user) -> dict:
    """A text project with gold labels, annotations, a review and a trained model, and an image project."""
    reviews = make_project(admin, [annotator, annotator2, reviewer, ml_engineer], name="Movie reviews",
                           labels=["fresh", "rotten"], overlap=2)
    load(reviews, synthetic_reviews(60), gold=40)
    waiting = list(Item.objects.filter(project=reviews, gold__isnull=True).order_by("id")[:3])
    for item, labels in zip(waiting, [("fresh", "rotten"), ("fresh", "fresh"), ("rotten", "rotten")]):
        for user, label in zip((annotator, annotator2), labels):
            submit_annotation(user, item.pk, Submission(value={"label": label}, lead_time=2.5))
    do_review(reviewer, waiting[0].pk, {"label": "rotten"}, note="sarcastic")
    model = train(reviews, user=ml_engineer)
    pets = make_project(admin, [annotator], name="Pets", labels=["cat", "dog"])
    r = as_user(admin).post(f"/api/projects/{pets.pk}/import/",
                            {"file": [SimpleUploadedFile(f"pet-{n}.png", png(40 * n)) for n in range(1, 4)]},
                            format="multipart")
    assert r.status_code == 201, r.content
    return {"reviewed": waiting[0], "model": model}


@pytest.mark.django_db(transaction=True)
def test_a_backup_restores_into_a_fresh_instance_with_every_row_and_file(
        admin, annotator, annotator2, reviewer, ml_engineer, as_user, media, fresh_database, tmp_path):
    made = populate(admin, annotator, annotator2, reviewer, ml_engineer, as_user)
    assert (media / made["model"].artifact.name).is_file()
    before = {"projects": Project.objects.count(), "items": Item.objects.count(),
              "annotations": Annotation.objects.count(), "reviews": ReviewDecision.objects.count(),
              "models": ModelVersion.objects.count()}
    assert before["items"] == 63 and before["annotations"] == 6 and before["reviews"] == 1
    folder = tmp_path / "backup"

    out = run("bin/backup", folder, DATABASE_URL=database_url(connection.settings_dict["NAME"]),
              MEDIA_ROOT=str(media))

    assert "Backed up to" in out
    assert sorted(p.name for p in folder.iterdir()) == ["database.dump", "manifest.json", "media.tar"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["engine"] == "postgresql" and manifest["media_files"] == len(files_of(media)) == 4
    assert manifest["counts"]["tasks.Item"] == 63
    audit_at_backup = manifest["counts"]["audit.AuditEvent"]

    restored_media = tmp_path / "restored-media"
    restored = {"DATABASE_URL": database_url(fresh_database), "MEDIA_ROOT": str(restored_media)}
    assert "Restored the backup" in run("bin/restore", folder, **restored)

    seen = json.loads(run(sys.executable, "manage.py", "shell", "-c", INSPECT, **restored).splitlines()[-1])
    # The restore itself is in the restored trail, after everything the backup held.
    assert seen["counts"] == {**before, "audit": audit_at_backup + 1}
    assert seen["projects"] == ["Movie reviews", "Pets"]
    assert seen["review"] == [[made["reviewed"].external_id, {"label": "rotten"}, "sarcastic"]]
    assert seen["model"]["version"] == 1 and seen["model"]["active"]
    assert seen["model"]["accuracy"] == made["model"].metrics["accuracy"]
    assert seen["model"]["artifact"] == made["model"].artifact.name
    assert seen["append_only"], "the audit trail's trigger came back with the tables"
    assert seen["media_root"] == str(restored_media)
    # Every file (images and the model) with the same bytes, and every image an item names is there.
    assert files_of(restored_media) == files_of(media)
    assert len(seen["images"]) == 3
    for url in seen["images"]:
        assert (restored_media / url.removeprefix("/media/")).is_file()
    # And the restored instance serves: the API reads the restored rows.
    token = run(sys.executable, "manage.py", "shell", "-c",
                "from rest_framework.authtoken.models import Token; from accounts.models import User; "
                f"print(Token.objects.create(user=User.objects.get(username='{admin.username}')).key)",
                **restored).split()[-1]
    served = run(sys.executable, "manage.py", "shell", "-c",
                 "from django.test import Client; import json; "
                 f"r = Client().get('/api/projects/', HTTP_AUTHORIZATION='Token {token}'); "
                 "print(r.status_code, json.dumps(sorted(p['name'] for p in r.json()['results'])))",
                 **restored)
    assert served.splitlines()[-1] == '200 ["Movie reviews", "Pets"]'


def test_the_sqlite_demo_backs_up_and_restores_too(tmp_path):
    origin = {"DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}", "MEDIA_ROOT": str(tmp_path / "media")}
    run(sys.executable, "manage.py", "migrate", "--noinput", **origin)
    run(sys.executable, "manage.py", "shell", "-c", """
from pathlib import Path
from django.conf import settings
from accounts.models import User
from tasks import services
from tasks.models import Item
admin = User.objects.create_user("root", password="x", role="admin")
project = services.create_project(user=admin, name="Digits", task_type="classification", labels=["0", "1"])
Path(settings.MEDIA_ROOT, "images").mkdir(parents=True)
Path(settings.MEDIA_ROOT, "images", "zero.png").write_bytes(b"not really a png")
Item.objects.create(project=project, data={"image": "/media/images/zero.png"})
""", **origin)

    run("bin/backup", tmp_path / "backup", **origin)
    restored = {"DATABASE_URL": f"sqlite:///{tmp_path / 'restored.sqlite3'}",
                "MEDIA_ROOT": str(tmp_path / "restored-media")}
    run("bin/restore", tmp_path / "backup", **restored)

    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == ["database.sqlite3", "manifest.json",
                                                                       "media.tar"]
    with sqlite3.connect(tmp_path / "restored.sqlite3") as db:
        assert db.execute("SELECT name FROM tasks_project").fetchall() == [("Digits",)]
        assert db.execute("SELECT data FROM tasks_item").fetchall() == [('{"image": "/media/images/zero.png"}',)]
    assert (tmp_path / "restored-media" / "images" / "zero.png").read_bytes() == b"not really a png"


@pytest.mark.django_db
def test_a_restore_refuses_a_database_that_has_tables(media, tmp_path):
    folder = tmp_path / "backup"
    folder.mkdir()
    (folder / "database.dump").write_bytes(b"dump")
    (folder / "media.tar").write_bytes(b"tar")
    (folder / "manifest.json").write_text(json.dumps({
        "format": 1, "engine": "postgresql", "database": "database.dump", "media": "media.tar", "media_files": 0,
        "counts": {}, "created_at": "2024-05-01T00:00:00+00:00",
        "sha256": {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
                   for name in ("database.dump", "media.tar")}}))

    with pytest.raises(CommandError, match="already has .* tables; restore into a new, empty database"):
        call_command("restore", str(folder))


@pytest.mark.django_db
def test_a_damaged_backup_is_refused_before_anything_is_restored(media, tmp_path):
    folder = tmp_path / "backup"
    folder.mkdir()
    (folder / "database.dump").write_bytes(b"dump")
    (folder / "media.tar").write_bytes(b"tar")
    (folder / "manifest.json").write_text(json.dumps({
        "format": 1, "engine": "postgresql", "database": "database.dump", "media": "media.tar", "media_files": 0,
        "counts": {}, "created_at": "2024-05-01T00:00:00+00:00",
        "sha256": {"database.dump": "0" * 64, "media.tar": "0" * 64}}))

    with pytest.raises(CommandError, match="database.dump is damaged"):
        call_command("restore", str(folder))
    assert not media.exists()


@pytest.mark.django_db
def test_a_backup_never_writes_into_a_folder_that_has_files(tmp_path):
    (tmp_path / "old.txt").write_text("keep me")

    with pytest.raises(CommandError, match="is not empty"):
        call_command("backup", str(tmp_path), stdout=io.StringIO())
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt"]

