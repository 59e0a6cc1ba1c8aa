"""The data browser: filters, keyset pages, access, gold, bad input, an item's history, its indexes, its page."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIRequestFactory

from annotations import browse
from annotations.browse_api import row
from annotations.models import Annotation, ReviewDecision
from audit import trail
from models_registry.models import ModelVersion, Prediction
from tasks.models import Item
from tests.conftest import client_for, make_items
from tests.plans import plan_with_only

pytestmark = pytest.mark.django_db


def ids(answer) -> list[int]:
    return [r["id"] for r in answer.json()["results"]]


def get(user, project, **params):
    return client_for(user).get(f"/api/projects/{project.pk}/browse/", params)


@pytest.fixture
def items(project, annotator, annotator2, reviewer):
    """Ten items of every kind the filters tell apart."""
    now = timezone.now()
    texts = ["A wonderful movie", "Dull and boring", "The movies were fun", "Nothing to say", "Boring acting",
             "Great fun overall", "A masterpiece", "Terrible plot", "Fine", "Wonderful cast"]
    made = Item.objects.bulk_create([Item(project=project, data={"text": t}, external_id=f"ext-{i}")
                                     for i, t in enumerate(texts)])
    it = {i: m for i, m in enumerate(made)}

    def update(i, **fields):
        Item.objects.filter(pk=it[i].pk).update(**fields)

    update(0, status="done", final_value={"label": "pos"}, final_source="consensus", final_at=now,
           confidence=0.91, prediction={"value": {"label": "pos"}, "confidence": 0.91}, annotation_count=2)
    update(1, status="done", final_value={"label": "neg"}, final_source="reviewer", final_at=now,
           final_by=reviewer, confidence=0.55, prediction={"value": {"label": "pos"}, "confidence": 0.55},
           annotation_count=2)
    update(2, status="auto_accepted", final_value={"label": "pos"}, final_source="model", final_at=now,
           confidence=0.97, prediction={"value": {"label": "pos"}, "confidence": 0.97})
    update(3, status="in_review", review_reason="disagreement", confidence=0.4, annotation_count=2)
    update(4, status="in_review", review_reason="escalated", confidence=0.2, annotation_count=1)
    update(5, status="queued", confidence=0.7)
    update(6, status="done", gold={"label": "pos"}, final_value={"label": "pos"}, final_source="gold", final_at=now)
    update(7, status="in_review", review_reason="low_agreement", annotation_count=2)
    # 8, 9: new, nothing yet.
    Annotation.objects.bulk_create([
        Annotation(project=project, item=it[0], user=annotator, value={"label": "pos"}),
        Annotation(project=project, item=it[0], user=annotator2, value={"label": "pos"}),
        Annotation(project=project, item=it[1], user=annotator, value={"label": "pos"}),
        Annotation(project=project, item=it[1], user=annotator2, value={"label": "neg"}),
        Annotation(project=project, item=it[3], user=annotator2, value={"label": "neg"}),
        Annotation(project=project, item=it[5], user=annotator, skipped=True),
    ])
    ReviewDecision.objects.create(project=project, item=it[1], reviewer=reviewer, value={"label": "neg"},
                                  reason="disagreement", note="clearly negative")
    return [it[i].pk for i in range(10)]


def test_without_filters_it_lists_every_item_in_id_order(project, admin, items):
    answer = get(admin, project)
    assert answer.status_code == 200
    body = answer.json()
    assert ids(answer) == items
    assert body["count"] == 10 and not body["count_capped"]
    assert body["next"] is None and body["prev"] is None
    first = body["results"][0]
    assert first["external_id"] == "ext-0" and first["preview"] == {"kind": "text", "text": "A wonderful movie"}
    assert first["final"]["value"] == {"label": "pos"} and first["final"]["source"] == "consensus"
    assert first["confidence"] == 0.91 and first["annotation_count"] == 2


def test_cursor_pages_forward_and_back(project, admin, items):
    page1 = get(admin, project, limit=4).json()
    assert [r["id"] for r in page1["results"]] == items[:4] and page1["prev"] is None
    page2 = get(admin, project, limit=4, after=page1["next"]).json()
    assert [r["id"] for r in page2["results"]] == items[4:8]
    page3 = get(admin, project, limit=4, after=page2["next"]).json()
    assert [r["id"] for r in page3["results"]] == items[8:] and page3["next"] is None
    back = get(admin, project, limit=4, before=page3["prev"]).json()
    assert [r["id"] for r in back["results"]] == items[4:8] and back["next"] == items[7]
    start = get(admin, project, limit=4, before=back["prev"]).json()
    assert [r["id"] for r in start["results"]] == items[:4] and start["prev"] is None
    assert start["next"] == items[3]


def test_cursor_pages_keep_the_filters(project, admin, items):
    page1 = get(admin, project, status="in_review", limit=2).json()
    assert [r["id"] for r in page1["results"]] == [items[3], items[4]]
    page2 = get(admin, project, status="in_review", limit=2, after=page1["next"]).json()
    assert [r["id"] for r in page2["results"]] == [items[7]] and page2["next"] is None
    assert page2["prev"] == items[7]
    assert [r["id"] for r in get(admin, project, status="in_review", limit=2, before=page2["prev"]).json()["results"]] \
        == [items[3], items[4]]


@pytest.mark.parametrize("params, expected", [
    ({"status": "done"}, [0, 1, 6]),
    ({"status": "new"}, [8, 9]),
    ({"source": "model"}, [2]),
    ({"source": "gold"}, [6]),
    ({"source": "none"}, [3, 4, 5, 7, 8, 9]),
    ({"confidence_min": "0.5"}, [0, 1, 2, 5]),
    ({"confidence_max": "0.5"}, [3, 4]),
    ({"confidence_min": "0.5", "confidence_max": "0.9"}, [1, 5]),
    ({"confidence_min": "0.91", "confidence_max": "0.91"}, [0]),
    ({"disagreement": "1"}, [1, 3, 7]),
    ({"disagreement": "0"}, list(range(10))),
    ({"label": "pos"}, [0, 2, 6]),
    ({"label": "neg"}, [1]),
    ({"q": "boring"}, [1, 4]),
    ({"q": "movie"}, [0, 2]),  # stemmed: "movies" too
    ({"q": "wonderful -cast"}, [0]),
    ({"q": '"great fun"'}, [5]),
    ({"status": "done", "label": "pos"}, [0, 6]),
    ({"source": "reviewer", "disagreement": "true", "q": "dull"}, [1]),
])
def test_each_filter_finds_what_it_says(project, admin, items, params, expected):
    answer = get(admin, project, **params)
    assert answer.status_code == 200, answer.json()
    assert ids(answer) == [items[i] for i in expected]
    # All on one page: counted exactly, whatever the filter.
    assert answer.json()["count"] == len(expected) and not answer.json()["count_estimated"]


def test_annotator_filter_finds_the_items_a_user_annotated_not_skipped(project, admin, annotator, annotator2, items):
    assert ids(get(admin, project, annotator=annotator.pk)) == [items[0], items[1]]
    assert ids(get(admin, project, annotator=annotator2.pk)) == [items[0], items[1], items[3]]
    assert ids(get(admin, project, annotator=annotator2.pk, disagreement=1)) == [items[1], items[3]]


def test_disagreement_pages_merge_review_queue_and_decisions(project, admin, items):
    page1 = get(admin, project, disagreement=1, limit=2).json()
    assert [r["id"] for r in page1["results"]] == [items[1], items[3]] and page1["next"] == items[3]
    page2 = get(admin, project, disagreement=1, limit=2, after=page1["next"]).json()
    assert [r["id"] for r in page2["results"]] == [items[7]] and page2["next"] is None


def test_counts_stop_at_the_cap(project, admin, monkeypatch):
    make_items(project, 12)
    monkeypatch.setattr(browse, "COUNT_CAP", 5)
    body = get(admin, project, limit=3).json()
    assert body["count"] == 5 and body["count_capped"] is True


@pytest.mark.parametrize("params, field", [
    ({"status": "finished"}, "status"),
    ({"source": "oracle"}, "source"),
    ({"annotator": "ann"}, "annotator"),
    ({"annotator": "999999"}, "annotator"),
    ({"confidence_min": "high"}, "confidence_min"),
    ({"confidence_min": "1.5"}, "confidence_min"),
    ({"confidence_max": "nan"}, "confidence_max"),
    ({"confidence_min": "0.8", "confidence_max": "0.2"}, "confidence_max"),
    ({"disagreement": "maybe"}, "disagreement"),
    ({"label": "meh"}, "label"),
    ({"q": "x" * 201}, "q"),
    ({"after": "abc"}, "after"),
    ({"before": "-3"}, "before"),
    ({"after": str(2**64)}, "after"),
    ({"after": "1", "before": "5"}, "before"),
    ({"limit": "0"}, "limit"),
    ({"limit": "5000"}, "limit"),
])
def test_bad_filter_values_answer_400_naming_the_field(project, admin, items, params, field):
    answer = get(admin, project, **params)
    assert answer.status_code == 400
    assert list(answer.json()) == [field]


def test_label_filter_is_refused_where_values_have_no_labels(admin):
    from tests.conftest import make_project

    pairwise = make_project(admin, task_type="pairwise", labels=[])
    answer = get(admin, pairwise, label="a")
    assert answer.status_code == 400 and "label" in answer.json()


def test_multi_label_filter_matches_values_that_include_the_label(admin):
    from tests.conftest import make_project

    proj = make_project(admin, task_type="multi_label", labels=["a", "b", "c"])
    made = make_items(proj, 3)
    Item.objects.filter(pk=made[0].pk).update(final_value={"labels": ["a", "b"]}, final_source="consensus")
    Item.objects.filter(pk=made[1].pk).update(final_value={"labels": ["c"]}, final_source="consensus")
    assert ids(get(admin, proj, label="b")) == [made[0].pk]
    assert ids(get(admin, proj, label="c")) == [made[1].pk]


def test_reviewers_and_ml_engineers_browse_annotators_may_not_and_outsiders_see_nothing(
        project, admin, reviewer, ml_engineer, annotator, outsider, items):
    assert get(reviewer, project).status_code == 200
    assert get(ml_engineer, project).status_code == 200
    assert get(annotator, project).status_code == 403
    assert get(outsider, project).status_code == 404
    assert client_for(None).get(f"/api/projects/{project.pk}/browse/").status_code == 401
    assert client_for(annotator).get(f"/api/items/{items[0]}/history/").status_code == 403
    assert client_for(outsider).get(f"/api/items/{items[0]}/history/").status_code == 404


def test_gold_shows_to_those_who_may_tell_it_and_stays_hidden_from_annotators(project, reviewer, annotator, items):
    gold_row = next(r for r in get(reviewer, project, source="gold").json()["results"])
    assert gold_row["gold"] is True and gold_row["final"]["source"] == "gold" and gold_row["status"] == "done"
    # The row as an annotator would get it: a gold item looks like any waiting one.
    request = APIRequestFactory().get("/")
    request.user = annotator
    hidden = row(Item.objects.get(pk=items[6]), request)
    assert hidden["gold"] is False and hidden["final"] is None and hidden["status"] == "queued"


def test_history_shows_annotations_prediction_review_and_audit_in_time_order(project, admin, reviewer, annotator,
                                                                              annotator2, items):
    item = Item.objects.get(pk=items[1])
    version = ModelVersion.objects.create(project=project, version=1, active=True)
    Prediction.objects.create(item=item, model_version=version, value={"label": "pos"}, confidence=0.55)
    trail.record("final.set", user=reviewer, project=project, item=item, value={"label": "neg"}, source="reviewer")
    # Make the order observable: the annotations came before the prediction record, the review after.
    base = timezone.now() - timedelta(hours=1)
    Annotation.objects.filter(item=item, user=annotator).update(created_at=base)
    Annotation.objects.filter(item=item, user=annotator2).update(created_at=base + timedelta(minutes=1))
    ReviewDecision.objects.filter(item=item).update(created_at=base + timedelta(minutes=2))
    Item.objects.filter(pk=item.pk).update(created_at=base - timedelta(minutes=5))

    answer = client_for(admin).get(f"/api/items/{item.pk}/history/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["item"]["id"] == item.pk and body["item"]["data"] == {"text": "Dull and boring"}
    assert body["item"]["final"]["source"] == "reviewer"
    assert [(a["user"], a["value"]) for a in body["annotations"]] == [("ann", {"label": "pos"}),
                                                                      ("bob", {"label": "neg"})]
    assert [(p["model_version"], p["confidence"]) for p in body["predictions"]] == [(1, 0.55)]
    assert [(r["reviewer"], r["note"], r["reason"]) for r in body["reviews"]] == [
        ("rita", "clearly negative", "disagreement")]
    assert [(e["action"], e["user"]) for e in body["audit"]] == [("final.set", "rita")]
    kinds = [(e["kind"], e.get("user")) for e in body["events"]]
    assert kinds == [("imported", None), ("annotation", "ann"), ("annotation", "bob"), ("review", "rita"),
                     ("prediction", "model v1"), ("audit", "rita")]
    times = [e["at"] for e in body["events"]]
    assert times == sorted(times)


def _plan(sql_and_params) -> str:
    sql, params = sql_and_params
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(r[0] for r in cursor.fetchall())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the browser's indexes are PostgreSQL's")
@pytest.mark.parametrize("params, index", [
    ({}, "item_browse_id"),
    ({"source": "model"}, "item_browse_source"),
    ({"label": "pos"}, "item_browse_label"),
    ({"confidence_min": "0.2", "confidence_max": "0.3"}, "item_browse_confidence"),
    ({"q": "boring"}, "item_text_search"),
    ({"disagreement": "1"}, "item_browse_dispute"),
    ({"annotator": "ANNOTATOR"}, "annotation_browse_user"),
])
def test_filters_are_served_by_indexes(project, annotator, items, params, index):
    # On ten rows the planner may pick any of the browser's indexes; which one it picks at a million
    # items is in bench/README.md (bench/data_browser.py prints the plans). Here: none scans the table.
    params = {k: str(annotator.pk) if v == "ANNOTATOR" else v for k, v in params.items()}
    filters = browse.parse_filters(project, params)
    qs = browse._branches(project, filters)[0].order_by("id")[:51]
    plan = _plan(qs.query.sql_with_params())
    assert "Seq Scan" not in plan and "Index" in plan, plan
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [index])
        assert cursor.fetchone(), f"index {index} is missing"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the browser's indexes are PostgreSQL's")
@pytest.mark.parametrize("params, index", [
    ({"source": "model"}, "item_browse_source"),
    ({"label": "pos"}, "item_browse_label"),
    ({"confidence_min": "0.2", "confidence_max": "0.3"}, "item_browse_confidence"),
    ({"confidence_min": "0.2"}, "item_browse_confidence"),
    ({"source": "none"}, "item_browse_id"),
])
def test_each_filter_implies_the_condition_of_its_partial_index(project, items, params, index):
    # With the item's other indexes gone (`tests.plans`) and no order asked for (so the primary key is of no
    # use), the filter's query can only use its own index if the filter implies the index's WHERE; otherwise the
    # plan scans the table. No cost estimate decides it either way.
    filters = browse.parse_filters(project, params)
    plan = plan_with_only(index, browse._branches(project, filters)[0])
    assert index in plan and "Seq Scan" not in plan, plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the browser's indexes are PostgreSQL's")
def test_browse_indexes_leave_out_items_their_filter_cannot_match():
    # An imported item (no final value, source or confidence) is inserted into none of these three.
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN "
                       "('item_browse_source', 'item_browse_label', 'item_browse_confidence')")
        definitions = dict(cursor.fetchall())
    assert "WHERE ((final_source)::text <> ''::text)" in definitions["item_browse_source"]
    assert "WHERE ((final_value -> 'label'::text) IS NOT NULL)" in definitions["item_browse_label"]
    assert "WHERE (confidence IS NOT NULL)" in definitions["item_browse_confidence"]


def test_data_page_renders_its_config_for_reviewers_and_refuses_annotators(client, project, reviewer, annotator):
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/data/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="hitl-config"' in html and "js/data.js" in html and "css/data.css" in html
    assert "<script>" not in html and "style=" not in html
    client.force_login(annotator)
    assert client.get(f"/projects/{project.pk}/data/").status_code == 403


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the two search plans are PostgreSQL's")
@pytest.mark.parametrize("params, expected", [
    ({"q": "boring"}, [1, 4]),
    ({"q": "wonderful -cast"}, [0]),
    ({"q": "fun", "status": "queued"}, [5]),
    ({"q": "boring", "disagreement": "1"}, [1]),
])
def test_a_search_that_runs_out_of_its_budget_in_id_order_turns_to_the_index_and_counts(
        project, admin, items, monkeypatch, params, expected):
    walked = []
    original = browse._browse

    def out_of_time(project, filters, cursor, count, ids=None):
        if count == "estimated":  # the walk in id order: as if statement_timeout had cancelled it
            walked.append(filters)
            with connection.cursor() as cursor_:
                cursor_.execute("SELECT pg_sleep(1)")  # longer than the budget: cancelled for real
        return original(project, filters, cursor, count, ids=ids)

    monkeypatch.setattr(browse, "_browse", out_of_time)
    body = get(admin, project, **params).json()
    assert walked, "the walk in id order was tried first"
    assert [r["id"] for r in body["results"]] == [items[i] for i in expected]
    assert body["count"] == len(expected) and body["count_estimated"] is False


def test_pages_after_a_cursor_are_not_counted(project, admin, items):
    page1 = get(admin, project, limit=4).json()
    assert page1["count"] == 10
    page2 = get(admin, project, limit=4, after=page1["next"]).json()
    assert page2["count"] is None and page2["count_capped"] is False


@pytest.mark.skipif(connection.vendor != "postgresql", reason="estimated counts are PostgreSQL's")
def test_a_search_over_more_than_a_page_estimates_its_count(project, admin, items):
    body = get(admin, project, q="boring", limit=1).json()
    assert [r["id"] for r in body["results"]] == [items[1]] and body["next"] == items[1]
    assert body["count_estimated"] is True and body["count"] >= 2
