"""Preference dataset export of pairwise projects: prompt, chosen, rejected."""
from __future__ import annotations

import json

import pytest

from tests.conftest import make_project
from tests.dataio.export_helpers import add_items, body_of, export, final

pytestmark = pytest.mark.django_db


@pytest.fixture
def pairs(admin):
    project = make_project(admin, name="Pairs", task_type="pairwise", labels=[])
    pair = {"prompt": "Which is warmer?", "a": "lovely film", "b": "dreary film"}
    items = add_items(
        project,
        {"data": pair, "external_id": "p-1", **final({"choice": "a"})},
        {"data": pair, **final({"choice": "b"}, source="reviewer")},
        {"data": pair, **final({"choice": "tie"})},
        {"data": pair},
    )
    return project, items


def lines_of(response) -> list[dict]:
    return [json.loads(line) for line in body_of(response).splitlines()]


def test_preference_pairs_chosen_and_rejected_and_leaves_ties_out(as_user, admin, pairs):
    project, (a, b, tie, undecided) = pairs

    r = export(as_user(admin), project, "preference")

    assert r["Content-Type"] == "application/x-ndjson"
    assert f'filename="project-{project.pk}-preference.jsonl"' in r["Content-Disposition"]
    assert lines_of(r) == [
        {"prompt": "Which is warmer?", "chosen": "lovely film", "rejected": "dreary film", "id": a.pk,
         "external_id": "p-1"},
        {"prompt": "Which is warmer?", "chosen": "dreary film", "rejected": "lovely film", "id": b.pk,
         "external_id": None},
    ]


def test_ties_may_be_included_and_are_marked(as_user, admin, pairs):
    project, (a, b, tie, undecided) = pairs

    lines = lines_of(export(as_user(admin), project, "preference", ties="include"))

    assert [(line["id"], line["tie"]) for line in lines] == [(a.pk, False), (b.pk, False), (tie.pk, True)]
    assert (lines[2]["chosen"], lines[2]["rejected"]) == ("lovely film", "dreary film")


def test_preference_honours_the_filters(as_user, admin, pairs):
    project, (a, b, tie, undecided) = pairs

    assert [line["id"] for line in lines_of(export(as_user(admin), project, "preference", source="reviewer"))] == [b.pk]


def test_an_unknown_ties_option_is_400(as_user, admin, pairs):
    project, _ = pairs

    r = export(as_user(admin), project, "preference", ties="sometimes")

    assert r.status_code == 400
    assert "sometimes" in r.json()["ties"][0]
