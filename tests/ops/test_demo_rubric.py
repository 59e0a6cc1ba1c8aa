"""The demo's pairwise project asks a three-question rubric besides the choice."""
from __future__ import annotations

import pytest

from ops import demo_data
from tasks.questions import validate_questions


def test_the_demo_rubric_is_valid_and_has_a_rating_a_flag_and_an_optional_text():
    rubric = validate_questions(demo_data.PAIRWISE_RUBRIC)
    assert [(q["id"], q["type"], q["required"]) for q in rubric] == [
        ("helpful", "rating", True), ("offensive", "flag", True), ("why", "text", False)]
    assert rubric[0]["scale"] == 5
    assert rubric == demo_data.PAIRWISE_RUBRIC  # stored as the API would store it


@pytest.mark.django_db
def test_demo_creates_the_pairwise_project_with_its_rubric(monkeypatch):
    from ops.management.commands.demo import Command
    from tasks.models import Project

    cmd = Command()
    monkeypatch.setattr(demo_data, "movie_reviews", lambda gold_every=0: iter(()))
    monkeypatch.setattr(demo_data, "digits", lambda limit=None, size=64: iter(()))
    cmd.create_projects(cmd.create_users())
    project = Project.objects.get(task_type="pairwise")
    assert project.questions == demo_data.PAIRWISE_RUBRIC and project.question_spread == 2
