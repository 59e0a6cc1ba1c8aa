"""Export of a rubric project: the final answers as `answers.<id>` CSV columns and JSON fields."""
from __future__ import annotations

import csv
import io
import json

import pytest

from annotations.models import Annotation
from tasks.models import FinalSource, Item, ItemStatus
from tests.conftest import make_items, make_project

pytestmark = pytest.mark.django_db

RUBRIC = [{"id": "helpful", "type": "rating", "scale": 5, "text": "Helpful?", "required": True,
           "labels": ["1", "2", "3", "4", "5"]},
          {"id": "offensive", "type": "flag", "text": "Offensive?", "required": True},
          {"id": "why", "type": "text", "text": "Why?", "required": False, "min_length": 0}]
FINAL = {"label": "pos", "answers": {"helpful": 4, "offensive": False, "why": "Short, \"quoted\", clear."}}


@pytest.fixture
def rubric_project(admin, annotator):
    project = make_project(admin, [annotator], questions=RUBRIC)
    done, fresh = make_items(project, 2)
    Item.objects.filter(pk=done.pk).update(status=ItemStatus.DONE, final_value=FINAL,
                                           final_source=FinalSource.CONSENSUS, annotation_count=1)
    Annotation.objects.create(project=project, item=done, user=annotator, value=FINAL, lead_time=2)
    return project


def export(client, project, fmt):
    r = client.get(f"/api/projects/{project.pk}/export/", {"format": fmt})
    assert r.status_code == 200
    return b"".join(r.streaming_content).decode()


def test_csv_export_has_a_column_per_question_answer(as_user, admin, rubric_project):
    rows = list(csv.DictReader(io.StringIO(export(as_user(admin), rubric_project, "csv"))))
    done, fresh = rows
    assert (done["answers.helpful"], done["answers.offensive"], done["answers.why"]) == (
        "4", "false", "Short, \"quoted\", clear.")
    assert (fresh["answers.helpful"], fresh["answers.offensive"], fresh["answers.why"]) == ("", "", "")


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_json_export_has_the_answers_as_fields(as_user, admin, rubric_project, fmt):
    text = export(as_user(admin), rubric_project, fmt)
    records = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
    done, fresh = records
    assert done["answers"] == FINAL["answers"]
    assert done["annotations"][0]["value"]["answers"] == FINAL["answers"]
    assert fresh["answers"] == {"helpful": None, "offensive": None, "why": None}


def test_a_project_without_questions_has_no_answer_columns(as_user, admin, project):
    make_items(project, 1)
    header = export(as_user(admin), project, "csv").splitlines()[0]
    assert "answers." not in header
    assert "answers" not in json.loads(export(as_user(admin), project, "json"))[0]
