"""`manage.py export_items`: the API's formats and filters, written to a file or stdout."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from annotations.models import Annotation
from tests.conftest import make_project
from tests.dataio.export_helpers import add_items, body_of, export, final

pytestmark = pytest.mark.django_db


@pytest.fixture
def items(project, annotator):
    decided, fresh = add_items(project, {"data": {"text": "a"}, "external_id": "e-1", **final({"label": "pos"})},
                               {"data": {"text": "b"}})
    Annotation.objects.create(project=project, item=decided, user=annotator, value={"label": "pos"})
    return decided, fresh


def run(*args, stdout=None, stderr=None) -> None:
    call_command("export_items", *map(str, args), stdout=stdout or io.StringIO(), stderr=stderr or io.StringIO())


def test_writes_the_same_records_as_the_api(as_user, admin, project, items, tmp_path):
    target = tmp_path / "out.jsonl"

    run(project.pk, "--format", "jsonl", "--output", target, "--no-progress")

    assert target.read_text() == body_of(export(as_user(admin), project, "jsonl"))
    assert [json.loads(line)["external_id"] for line in target.read_text().splitlines()] == ["e-1", None]
    assert list(tmp_path.iterdir()) == [target]  # no .partial left behind


def test_jsonl_is_the_default_format_and_filters_apply(project, items, tmp_path):
    decided, _ = items
    target = tmp_path / "done.jsonl"

    run(project.pk, "-o", target, "--status", "done,queued", "--since", "2000-01-01", "--only-final", "--no-progress")

    assert [json.loads(line)["id"] for line in target.read_text().splitlines()] == [decided.pk]


def test_dash_writes_to_stdout(project, items):
    out = io.StringIO()

    run(project.pk, "--format", "csv", "--output", "-", "--no-progress", stdout=out)

    assert out.getvalue().splitlines()[0].startswith("id,external_id,status,data")
    assert len(out.getvalue().splitlines()) == 3


def test_progress_bar_counts_the_items(project, items, tmp_path):
    err = io.StringIO()

    run(project.pk, "--format", "json", "--output", tmp_path / "out.json", stderr=err)

    assert "2/2" in err.getvalue()
    assert "Exported 2 items" in err.getvalue()


def test_preference_ties_option(admin, tmp_path):
    project = make_project(admin, name="Pairs", task_type="pairwise", labels=[])
    add_items(project, {"data": {"prompt": "p", "a": "x", "b": "y"}, **final({"choice": "tie"})})
    target = tmp_path / "prefs.jsonl"

    run(project.pk, "--format", "preference", "--output", target, "--no-progress")
    assert target.read_text() == ""
    run(project.pk, "--format", "preference", "--output", target, "--ties", "include", "--no-progress")
    assert json.loads(target.read_text())["tie"] is True


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "xlsx"], "--format: unknown format 'xlsx'; use one of json, jsonl, csv"),
    (["--format", "coco"], "--format: the coco format is for boxes projects; this project's task type is "
                           "classification"),
    (["--since", "soon"], "--since: 'soon' must be an ISO date"),
    (["--until", "2024-02-31"], "--until: '2024-02-31' is not a valid date"),
    (["--status", "finished"], "--status: unknown status 'finished'"),
    (["--source", "crowd"], "--source: unknown final value source 'crowd'"),
])
def test_bad_options_are_clear_errors(project, tmp_path, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(project.pk, "--output", tmp_path / "x", "--no-progress", *args)
    assert not list(tmp_path.iterdir())


def test_unknown_project_and_missing_directory(project, tmp_path):
    with pytest.raises(CommandError, match="There is no project 999999"):
        run(999999, "--output", tmp_path / "x")
    with pytest.raises(CommandError, match="no such directory"):
        run(project.pk, "--output", tmp_path / "nowhere" / "x")


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_reads_one_snapshot(admin, tmp_path):
    """On PostgreSQL the export runs in its own read-only REPEATABLE READ transaction."""
    project = make_project(admin, name="Boxes", task_type="boxes", labels=["car"])
    add_items(project, *[{"data": {"image": f"/i/{k}.png"},
                          **final({"boxes": [{"x": 1, "y": 1, "w": 2, "h": 2, "label": "car"}]})} for k in range(3)])
    target = tmp_path / "coco.json"

    run(project.pk, "--format", "coco", "--output", target, "--no-progress")

    doc = json.loads(target.read_text())
    assert (len(doc["images"]), len(doc["annotations"])) == (3, 3)
