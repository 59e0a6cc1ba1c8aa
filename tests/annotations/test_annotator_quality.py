"""Annotator quality acted upon: a qualification quiz before real work, and a pause (with the annotator's
recent labels re-queued) once their gold accuracy is confidently below the project's floor."""
from __future__ import annotations

import pytest

from annotations.models import Annotation, RetiredAnnotation
from audit.models import AuditEvent
from tasks import standing
from tasks.models import Item, Standing, StandingState
from tests.conftest import client_for, make_items

pytestmark = pytest.mark.django_db


def make_gold(project, labels: list[str]) -> list[Item]:
    return Item.objects.bulk_create([
        Item(project=project, data={"text": f"gold {i}"}, gold={"label": label}, status="done",
             final_value={"label": label}, final_source="gold", needed=1)
        for i, label in enumerate(labels)])


def next_item(user, project):
    return client_for(user).get(f"/api/projects/{project.pk}/next/")


def answer(user, item_id: int, label: str):
    return client_for(user).post(f"/api/items/{item_id}/annotations/", {"value": {"label": label}}, format="json")


def test_a_new_annotator_takes_the_quiz_first_and_sees_each_right_answer(project, annotator):
    project.qualification_items, project.qualification_pass = 3, 0.6
    project.instructions = "Sarcasm is *neg*."
    project.save()
    make_items(project, 5)
    gold = {g.pk: g.gold["label"] for g in make_gold(project, ["pos", "neg", "pos", "neg"])}

    seen = []
    for wrong in (False, True, False):  # two of three right: 0.67 >= 0.6
        r = next_item(annotator, project)
        assert r.status_code == 200 and r.data["item"]["id"] in gold, "only quiz items while qualifying"
        item_id = r.data["item"]["id"]
        right = gold[item_id]
        given = ("neg" if right == "pos" else "pos") if wrong else right
        body = answer(annotator, item_id, given).data
        seen.append(body["quiz"])
        assert body["quiz"]["answer"] == {"label": right}
        assert body["quiz"]["correct"] is (not wrong)
        assert body["quiz"]["instructions"] == "Sarcasm is *neg*."

    assert [q["answered"] for q in seen] == [1, 2, 3]
    assert [q["passed"] for q in seen] == [None, None, True]
    assert Standing.objects.get(user=annotator).state == StandingState.ACTIVE
    project.gold_rate = 0.0  # now regular work (gold only at the project's rate, here none)
    project.save()
    r = next_item(annotator, project)
    assert r.status_code == 200 and r.data["item"]["id"] not in gold
    assert AuditEvent.objects.filter(action="annotator.qualified", payload__annotator=annotator.pk).exists()


def test_failing_the_quiz_stops_work_until_an_admin_allows_a_retake(project, annotator, admin):
    project.qualification_items, project.qualification_pass = 2, 1.0
    project.save()
    make_items(project, 2)
    make_gold(project, ["pos", "pos", "pos"])
    for _ in range(2):
        item_id = next_item(annotator, project).data["item"]["id"]
        assert answer(annotator, item_id, "neg").status_code == 201

    r = next_item(annotator, project)

    assert r.status_code == 403
    assert "qualification quiz" in r.data["detail"] and r.data["state"] == "failed"
    unpause = f"/api/projects/{project.pk}/annotators/{annotator.pk}/unpause/"
    assert client_for(annotator).post(unpause).status_code == 403
    r = client_for(admin).post(unpause)
    assert r.status_code == 200 and r.data["state"] == "qualifying"
    item_id = next_item(annotator, project).data["item"]["id"]
    assert Item.objects.get(pk=item_id).gold is not None, "the retake serves the quiz item not yet had"


def test_a_quiz_with_too_few_gold_items_is_decided_on_those_answered(project, annotator):
    project.qualification_items = 5
    project.save()
    items = make_items(project, 2)
    (g,) = make_gold(project, ["pos"])
    assert next_item(annotator, project).data["item"]["id"] == g.pk
    answer(annotator, g.pk, "pos")

    r = next_item(annotator, project)

    assert r.status_code == 200 and r.data["item"]["id"] in {i.pk for i in items}
    assert Standing.objects.get(user=annotator).state == StandingState.ACTIVE


def test_wrong_gold_answers_pause_an_annotator_who_never_passed_a_check_and_requeue_all_their_labels(
        project, annotator, annotator2, admin):
    project.accuracy_floor, project.gold_rate = 0.5, 0.0
    project.save()
    regular = make_items(project, 6)
    gold = make_gold(project, ["pos"] * 9)

    # One right gold answer, then two regular labels that settle their items (overlap 1)...
    answer(annotator, gold[0].pk, "pos")
    for item in regular[:2]:
        assert answer(annotator, item.pk, "pos").status_code == 201
    assert Item.objects.filter(pk__in=[i.pk for i in regular[:2]], status="done").count() == 2
    # ...then wrong gold answers: 1 right of 7 still has a 95% upper bound of 0.51 (could be bad luck);
    # 1 of 8 has 0.47, under the floor: paused at that answer.
    states = []
    for g in gold[1:8]:
        assert answer(annotator, g.pk, "neg").status_code == 201
        states.append(Standing.objects.get(user=annotator).state)
    assert states == ["active"] * 6 + ["paused"]

    r = next_item(annotator, project)
    assert r.status_code == 403 and r.data["state"] == "paused"
    assert "below the project's floor of 50%" in r.data["detail"]
    # 1 right of 1 is no passed check (its lower bound, 0.21, is under the floor): both labels no longer
    # count; they are kept aside and their items wait again.
    assert not Annotation.objects.filter(user=annotator, item__in=regular[:2]).exists()
    retired = RetiredAnnotation.objects.filter(user=annotator, reason="requeued")
    assert sorted(retired.values_list("item_id", flat=True)) == sorted(i.pk for i in regular[:2])
    assert all(r.value == {"label": "pos"} for r in retired)
    assert set(Item.objects.filter(pk__in=[i.pk for i in regular[:2]]).values_list("status", "annotation_count")) \
        == {("new", 0)}
    assert next_item(annotator2, project).data["item"]["id"] == regular[0].pk, "others label them again"
    assert AuditEvent.objects.filter(action="annotator.paused", payload__annotator=annotator.pk).exists()
    assert AuditEvent.objects.filter(action="annotations.requeued", payload__count=2).exists()

    standings = client_for(admin).get(f"/api/projects/{project.pk}/annotators/").data
    assert standings[0]["username"] == "ann" and standings[0]["state"] == "paused"
    assert standings[0]["accuracy_interval"][1] < 0.5

    r = client_for(admin).post(f"/api/projects/{project.pk}/annotators/{annotator.pk}/unpause/")
    assert r.status_code == 200 and r.data["state"] == "active" and r.data["gold_answered"] == 0
    assert next_item(annotator, project).status_code == 200
    assert AuditEvent.objects.filter(action="annotator.unpaused", user=admin).exists()


def test_an_honest_annotator_with_some_mistakes_is_not_paused(project, annotator):
    project.accuracy_floor = 0.5
    project.save()
    gold = make_gold(project, ["pos"] * 8)
    for n, g in enumerate(gold):
        answer(annotator, g.pk, "neg" if n % 3 == 0 else "pos")  # 5 of 8 right
    assert Standing.objects.get(user=annotator).state == StandingState.ACTIVE


def test_reviewers_who_label_are_not_quizzed(project, reviewer):
    project.qualification_items = 3
    project.save()
    items = make_items(project, 1)
    make_gold(project, ["pos"] * 3)
    project.gold_rate = 0.0
    project.save()
    assert next_item(reviewer, project).data["item"]["id"] == items[0].pk


def test_the_wilson_interval():
    low, high = standing.accuracy_interval(8, 10)
    assert round(low, 3) == 0.490 and round(high, 3) == 0.943
    assert standing.accuracy_interval(0, 0) == (0.0, 1.0)
    assert standing.below_floor(0, 4, 0.5) and not standing.below_floor(0, 3, 0.5)
    assert not standing.below_floor(0, 10, None)


def test_labels_before_a_passed_check_stand_when_the_annotator_is_paused_later(project, annotator):
    project.accuracy_floor, project.gold_rate = 0.5, 0.0
    project.save()
    before, after = make_items(project, 2)
    gold = make_gold(project, ["pos"] * 19)
    for g in gold[:4]:
        answer(annotator, g.pk, "pos")
    answer(annotator, before.pk, "pos")
    answer(annotator, gold[4].pk, "pos")  # 5 of 5: the interval's lower end (0.57) clears the floor
    passed_at = Standing.objects.get(user=annotator).last_passed_at
    assert passed_at is not None
    answer(annotator, after.pk, "pos")
    for g in gold[5:]:  # 14 wrong: 5 of 19 right has an upper bound of 0.49
        answer(annotator, g.pk, "neg")

    s = Standing.objects.get(user=annotator)
    assert s.state == StandingState.PAUSED and s.last_passed_at == passed_at
    assert Annotation.objects.filter(user=annotator, item=before).exists()
    assert list(RetiredAnnotation.objects.filter(user=annotator).values_list("item_id", flat=True)) == [after.pk]
