"""After an import commits, a job on the worker builds its items' search vectors (tasks.text_search)."""
from __future__ import annotations

import time

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from tasks.models import Item, ItemText, ItemTextPending
from tests.conftest import wait_for_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker,
              pytest.mark.skipif(connection.vendor != "postgresql", reason="search vectors are PostgreSQL's")]


def test_the_worker_builds_the_vectors_of_an_import_job(worker, settings, as_user, admin, project):
    settings.HITL_INLINE_IMPORT_MAX_BYTES = 1000
    body = b"".join(orjson.dumps({"text": f"review {i} of a splendid film"}) + b"\n" for i in range(3000))
    r = as_user(admin).post(f"/api/projects/{project.pk}/import/",
                            {"file": SimpleUploadedFile("items.jsonl", body)}, format="multipart")
    assert r.status_code == 202
    assert wait_for_job(r.json()["job"]).state == "succeeded"
    deadline = time.monotonic() + 60
    while ItemTextPending.objects.filter(project_id=project.pk).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not ItemTextPending.objects.filter(project_id=project.pk).exists()
    built = ItemText.objects.filter(project_id=project.pk).count()
    assert built == Item.objects.filter(project=project).count() == 3000
