"""Preference pairs of ranking projects: every pair a final ranking implies; the records carry rankings as is."""
from __future__ import annotations

import csv
import io
import json

import pytest

from tests.conftest import make_project
from tests.dataio.export_helpers import add_items, body_of, export, final

pytestmark = pytest.mark.django_db

DATA = {"prompt": "Which review is warmest?",
        "responses": [{"id": "r1", "text": "cold"}, {"id": "r2", "text": "lovely"}, {"id": "r3", "text": "fine"},
                      {"id": "r4", "text": "dreary"}]}


@pytest.fixture
def ranked(admin):
    project = make_project(admin, name="Rank", task_type="ranking", labels=[])
    items = add_items(
        project,
        {"data": DATA, "external_id": "k-1", **final({"ranking": [["r2"], ["r1", "r3"], ["r4"]]})},
        {"data": DATA, **final({"ranking": [["r1", "r2", "r3", "r4"]]}, source="reviewer")},  # all tied: no pair
        {"data": DATA},  # undecided
    )
    return project, items


def lines_of(response) -> list[dict]:
    return [json.loads(line) for line in body_of(response).splitlines()]


def test_pairs_give_chosen_above_rejected_and_ties_give_none(as_user, admin, ranked):
    project, (first, tied, undecided) = ranked

    r = export(as_user(admin), project, "pairs")

    assert r["Content-Type"] == "application/x-ndjson"
    assert f'filename="project-{project.pk}-pairs.jsonl"' in r["Content-Disposition"]
    lines = lines_of(r)
    assert [(line["chosen_id"], line["rejected_id"]) for line in lines] == [
        ("r2", "r1"), ("r2", "r3"), ("r2", "r4"), ("r1", "r4"), ("r3", "r4")]
    assert lines[0] == {"prompt": "Which review is warmest?", "chosen": "lovely", "rejected": "cold",
                        "chosen_id": "r2", "rejected_id": "r1", "id": first.pk, "external_id": "k-1"}
    assert {line["id"] for line in lines} == {first.pk}


def test_pairs_honour_the_filters(as_user, admin, ranked):
    project, _ = ranked

    assert body_of(export(as_user(admin), project, "pairs", source="reviewer")) == ""


def test_pairs_are_for_ranking_projects_only(as_user, admin, project):
    r = export(as_user(admin), project, "pairs")

    assert r.status_code == 400
    assert "ranking" in r.json()["format"][0]


def test_records_carry_the_ranking_value_as_is(as_user, admin, ranked):
    project, (first, tied, undecided) = ranked

    records = [json.loads(line) for line in body_of(export(as_user(admin), project, "jsonl")).splitlines()]
    rows = list(csv.DictReader(io.StringIO(body_of(export(as_user(admin), project, "csv")))))

    assert records[0]["data"] == DATA
    assert records[0]["final"]["value"] == {"ranking": [["r2"], ["r1", "r3"], ["r4"]]}
    assert len(rows) == 3
    assert json.loads(rows[0]["final_value"]) == {"ranking": [["r2"], ["r1", "r3"], ["r4"]]}
