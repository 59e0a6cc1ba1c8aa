"""Adaptive overlap (`overlap_mode: "adaptive"`): an item collects annotations until the posterior of its
leading label reaches the project's target, up to `max_overlap`, and the queue finishes nearly settled
items first."""
from __future__ import annotations

import pytest

from accounts.models import Role
from annotations import adaptive
from annotations.models import Annotation
from tasks.models import ConfusionFit, Item, Job, Standing
from tests.conftest import client_for, make_items, make_project, make_user

pytestmark = pytest.mark.django_db
DIGITS = [str(d) for d in range(10)]


def submit(user, item, label):
    r = client_for(user).post(f"/api/items/{item.pk}/annotations/", {"value": {"label": label}}, format="json")
    assert r.status_code == 201, r.content


def next_id(user, project):
    r = client_for(user).get(f"/api/projects/{project.pk}/next/")
    assert r.status_code == 200, r.content
    return r.data["item"]["id"]


@pytest.fixture
def crowd(admin):
    return [make_user(f"crowd{k}", Role.ANNOTATOR) for k in range(5)]


def adaptive_project(admin, crowd, **fields):
    fields = {"labels": DIGITS, "overlap": 2, "overlap_mode": "adaptive", "posterior_target": 0.95,
              "max_overlap": 4, **fields}
    return make_project(admin, crowd, **fields)


def test_two_agreeing_annotators_settle_the_item(admin, crowd):
    project = adaptive_project(admin, crowd)
    [item] = make_items(project, 1)

    submit(crowd[0], item, "3")
    item.refresh_from_db()
    assert item.status != "done", "one annotation is not enough (overlap 2)"
    submit(crowd[1], item, "3")

    item.refresh_from_db()
    assert (item.status, item.final_source, item.final_value) == ("done", "consensus", {"label": "3"})
    assert item.needed == 2 and item.annotation_count == 2


def test_annotators_reliable_on_gold_settle_a_two_label_item(admin, crowd):
    # With two labels, two annotators of the default accuracy (0.7) agreeing give only 0.84; a gold record of
    # 20 right out of 20 makes their word enough.
    project = adaptive_project(admin, crowd, labels=["pos", "neg"])
    for user in crowd[:2]:
        Standing.objects.create(project=project, user=user, gold_answered=20, gold_correct=20)
    [item, other] = make_items(project, 2)

    submit(crowd[0], item, "pos")
    submit(crowd[1], item, "pos")
    submit(crowd[2], other, "pos")
    submit(crowd[3], other, "pos")

    item.refresh_from_db(), other.refresh_from_db()
    assert (item.status, item.final_value) == ("done", {"label": "pos"})
    assert (other.status, other.needed) == ("new", 3), "two annotators without a record are not sure enough"


def test_a_disagreement_asks_for_a_third_annotation(admin, crowd):
    project = adaptive_project(admin, crowd)
    [item] = make_items(project, 1)

    submit(crowd[0], item, "3")
    submit(crowd[1], item, "5")

    item.refresh_from_db()
    assert (item.status, item.needed, item.final_value) == ("new", 3, None)
    assert adaptive.PRIORITY_BASE <= item.priority < adaptive.PRIORITY_BASE + 1
    assert next_id(crowd[2], project) == item.pk, "a third annotator gets it"
    submit(crowd[2], item, "5")
    item.refresh_from_db()
    # Two of three annotators of the default accuracy (0.7) among ten labels: 0.94, one more.
    assert (item.status, item.needed) == ("new", 4)
    submit(crowd[3], item, "5")

    item.refresh_from_db()
    assert (item.status, item.final_source, item.final_value) == ("done", "consensus", {"label": "5"})
    assert item.annotation_count == 4


def test_at_max_overlap_a_still_uncertain_item_goes_to_review(admin, crowd):
    project = adaptive_project(admin, crowd, max_overlap=3)
    [item] = make_items(project, 1)

    for user, label in zip(crowd, ["1", "2", "3"]):
        submit(user, item, label)

    item.refresh_from_db()
    assert (item.status, item.review_reason, item.needed) == ("in_review", "disagreement", 3)
    assert client_for(crowd[3]).get(f"/api/projects/{project.pk}/next/").status_code == 204


def test_the_queue_serves_items_closest_to_settling_first(admin, crowd):
    project = adaptive_project(admin, crowd)
    fresh, split, leaning = make_items(project, 3)
    submit(crowd[0], split, "1")
    submit(crowd[1], split, "2")  # an even split: posterior 0.5
    for user, label in zip(crowd[:3], ["7", "2", "7"]):
        submit(user, leaning, label)  # two of three: nearly settled (0.94), not quite

    split.refresh_from_db(), leaning.refresh_from_db()
    assert leaning.status == "new" and leaning.needed == 4
    assert leaning.priority > split.priority > fresh.priority
    newcomer = crowd[4]
    order = []
    for _ in range(3):
        item_id = next_id(newcomer, project)
        order.append(item_id)
        submit(newcomer, Item.objects.get(pk=item_id), "9")
    assert order == [leaning.pk, split.pk, fresh.pk]


def test_fixed_overlap_is_unchanged(admin, crowd):
    project = make_project(admin, crowd, labels=DIGITS, overlap=2)
    agreed, disputed = make_items(project, 2)

    submit(crowd[0], agreed, "4")
    submit(crowd[1], agreed, "4")
    submit(crowd[0], disputed, "4")
    submit(crowd[1], disputed, "6")

    agreed.refresh_from_db(), disputed.refresh_from_db()
    assert (agreed.status, agreed.final_value, agreed.needed) == ("done", {"label": "4"}, 2)
    assert (disputed.status, disputed.review_reason, disputed.needed) == ("in_review", "disagreement", 2)
    assert not Job.objects.filter(kind=adaptive.CONFUSION_FIT).exists()


def test_adaptive_overlap_is_refused_outside_classification(admin):
    project = make_project(admin, task_type="spans", labels=["PER"])
    r = client_for(admin).patch(f"/api/projects/{project.pk}/", {"overlap_mode": "adaptive"}, format="json")
    assert r.status_code == 400 and "overlap_mode" in r.data


def history(project, crowd, n=60):
    """Past items: crowd[0..2] say the truth, crowd[3] clicks at random (a fixed, shuffled pattern)."""
    items = make_items(project, n)
    for i, item in enumerate(items):
        truth = DIGITS[i % 10]
        for user in crowd[:3]:
            Annotation.objects.create(project=project, item=item, user=user, value={"label": truth})
        Annotation.objects.create(project=project, item=item, user=crowd[3], value={"label": DIGITS[(i * 7 + 3) % 10]})
    return items


def test_enough_new_annotations_ask_for_one_refit_job_and_it_learns_who_is_reliable(admin, crowd, monkeypatch):
    monkeypatch.setattr(adaptive, "MIN_NEW", 20)
    project = adaptive_project(admin, crowd)
    history(project, crowd)
    a, b = make_items(project, 2)

    submit(crowd[0], a, "8")
    submit(crowd[3], a, "8")
    submit(crowd[1], b, "2")
    submit(crowd[3], b, "2")

    jobs = Job.objects.filter(project=project, kind=adaptive.CONFUSION_FIT)
    assert jobs.count() == 1, "one refit at a time"
    adaptive.run_refit_job(jobs.get())
    adaptive.run_refit_job(jobs.get())  # a redelivered message changes nothing
    fit = ConfusionFit.objects.get(project=project)
    assert jobs.get().state == "succeeded" and fit.annotations >= 120
    known = fit.data["annotators"]
    assert known[str(crowd[0].pk)]["accuracy"] > 0.9 > 0.3 > known[str(crowd[3].pk)]["accuracy"]

    # With the fit, the clicker's agreement adds nothing: a newcomer (default accuracy) and the clicker are not
    # enough (two newcomers would be), and an annotator the fit found reliable settles it.
    [c] = make_items(project, 1)
    submit(crowd[4], c, "6")
    submit(crowd[3], c, "6")
    c.refresh_from_db()
    assert (c.status, c.needed) == ("new", 3)
    submit(crowd[0], c, "6")
    c.refresh_from_db()
    assert (c.status, c.final_value) == ("done", {"label": "6"})


def test_the_posterior_follows_the_stored_fit_and_the_gold_record(admin, crowd):
    project = adaptive_project(admin, crowd)
    history(project, crowd)
    fit = adaptive.refit(project)
    honest, clicker, newcomer = crowd[0].pk, crowd[3].pk, crowd[4].pk

    assert adaptive.posterior_of(project, {honest: "5", crowd[1].pk: "5"}, fit)["5"] > 0.99
    alone = adaptive.posterior_of(project, {honest: "5"}, fit)["5"]
    assert adaptive.posterior_of(project, {honest: "5", clicker: "5"}, fit)["5"] == pytest.approx(alone, abs=0.05)
    # A voter the fit does not know counts at their gold accuracy (the default without a record).
    default = adaptive.posterior_of(project, {newcomer: "5"}, fit)["5"]
    Standing.objects.create(project=project, user=crowd[4], gold_answered=30, gold_correct=3)
    assert adaptive.posterior_of(project, {newcomer: "5"}, fit)["5"] < default


def test_a_young_fit_is_not_used_and_the_gold_record_steers_a_grown_one():
    ratings = [(i, who, DIGITS[i % 10]) for i in range(60) for who in ("a", "b", "c")]
    assert adaptive.fit_data(ratings[:3 * (adaptive.MIN_FIT_ITEMS - 1)], DIGITS) == {}
    data = adaptive.fit_data(ratings, DIGITS, {"a": 0.5})
    # Everyone agrees throughout, so DS finds them all perfect; a's weak gold record pulls theirs down.
    assert data["annotators"]["a"]["accuracy"] < data["annotators"]["b"]["accuracy"]
    assert data["annotators"]["b"]["accuracy"] > 0.95
