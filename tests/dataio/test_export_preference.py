"""Preference dataset export of pairwise projects: prompt, chosen, rejected."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from models_registry import artifacts
from models_registry.backends.pairwise import preference
from models_registry.training import train
from tests.conftest import make_project
from tests.dataio.export_helpers import add_items, body_of, export, final
from tests.models_registry.preference_pairs import warmer_pairs

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
         "external_id": "p-1", "model_score": None, "model_version": None},  # no model yet
        {"prompt": "Which is warmer?", "chosen": "dreary film", "rejected": "lovely film", "id": b.pk,
         "external_id": None, "model_score": None, "model_version": None},
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


def test_each_pair_carries_the_active_reward_models_probability_of_the_chosen_answer(as_user, admin):
    project = make_project(admin, name="Warmer", task_type="pairwise", labels=[])
    pairs = warmer_pairs(80, seed=5)
    choices = [p["meta_choice"] for p in pairs[:60]] + ["tie"] * 5  # the last 15 pairs stay undecided
    items = add_items(project, *({"data": p["data"], "external_id": p["external_id"], **final({"choice": c})}
                                 for p, c in zip(pairs, choices)), *({"data": p["data"]} for p in pairs[65:]))
    mv = train(project)
    assert mv.backend == "builtin_reward" and mv.active

    lines = lines_of(export(as_user(admin), project, "preference", ties="include"))

    model = artifacts.load(mv.artifact.name, mv.artifact_sha256)
    assert [line["id"] for line in lines] == [item.pk for item in items[:65]]
    for line, item, choice in zip(lines, items, choices):
        p_a = preference(model, [item.data])[0]
        # P(chosen preferred), rounded to 4 places (from the stored 6-place score: allow the last place).
        assert line["model_score"] == pytest.approx(p_a if choice in ("a", "tie") else 1 - p_a, abs=1.01e-4)
        assert line["model_version"] == 1
    # The model agrees with most human choices (these are the pairs it was trained on).
    decided = [line["model_score"] for line in lines if not line["tie"]]
    assert sum(score > 0.5 for score in decided) > 0.8 * len(decided)


def test_a_damaged_model_file_gives_no_score_and_the_export_goes_on(as_user, admin, pairs):
    project, _ = pairs
    add_items(project, *({"data": p["data"], **final({"choice": p["meta_choice"]})} for p in warmer_pairs(20, seed=6)))
    mv = train(project)
    (Path(settings.MEDIA_ROOT) / mv.artifact.name).write_bytes(b"damaged")

    lines = lines_of(export(as_user(admin), project, "preference"))

    assert len(lines) == 22
    assert {(line["model_score"], line["model_version"]) for line in lines} == {(None, None)}


def test_an_external_model_is_never_called_by_the_export(as_user, admin, pairs):
    project, _ = pairs
    add_items(project, *({"data": p["data"], **final({"choice": p["meta_choice"]})} for p in warmer_pairs(20, seed=6)))
    train(project)
    project.model_backend, project.model_endpoint = "http", "http://127.0.0.1:9/never-called"
    project.save()

    lines = lines_of(export(as_user(admin), project, "preference"))

    assert len(lines) == 22
    assert {(line["model_score"], line["model_version"]) for line in lines} == {(None, None)}
