"""Full-text search over search vectors kept off the write path (tasks.text_search, migration tasks/0015).

An import's items have no vector until the build job runs: search must find them all the same, by
either of its plans (walking items in id order, or the GIN index), and find them after the build.
Items inserted one at a time get their vector at once; a change of `data` rebuilds it; other UPDATEs
of the item never write it.
"""
from __future__ import annotations

import pytest
from django.db import connection

from annotations import browse
from dataio.importing import import_into, schema_of
from dataio.records import RecordError, iter_array
from tasks import text_search
from tasks.models import Item, ItemText, ItemTextPending

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(connection.vendor != "postgresql", reason="search vectors are PostgreSQL's")]

TEXTS = ["A wonderful movie", "Dull and boring", "The movies were fun", "Boring acting", "Wonderful cast"]


def _import(project, texts=TEXTS, **fields):
    records = [{"data": {"text": t}, "external_id": f"t{i}", **fields} for i, t in enumerate(texts)]
    return import_into(project, iter_array(records, schema_of(project)))


def _search(project, q: str) -> set[str]:
    """Texts a search finds, by the plan that walks items in id order (over every item)."""
    page = browse.browse(project, browse.parse_filters(project, {"q": q}), browse.Cursor(limit=200))
    return {item.data["text"] for item in page.items}


def _search_by_index(project, q: str) -> set[str]:
    """Texts a search finds by the other plan: the GIN index plus the items not built yet."""
    ids = browse._search_ids(project, q, browse.Cursor())
    return set(Item.objects.filter(pk__in=ids).values_list("data__text", flat=True))


def test_imported_items_are_found_before_and_after_their_vectors_are_built(project):
    _import(project)
    items = list(Item.objects.filter(project=project).order_by("id"))
    assert not ItemText.objects.filter(item_id__in=[i.pk for i in items]).exists()  # not paid by the import
    pending = ItemTextPending.objects.get(project_id=project.pk)
    assert (pending.first_id, pending.last_id) == (items[0].pk, items[-1].pk)
    for search in (_search, _search_by_index):
        assert search(project, "wonderful") == {"A wonderful movie", "Wonderful cast"}
        assert search(project, "movie") == {"A wonderful movie", "The movies were fun"}  # stemmed
        assert search(project, '"boring acting"') == {"Boring acting"}

    text_search.build(project.pk)
    assert ItemText.objects.filter(project_id=project.pk).count() == len(TEXTS)
    assert not ItemTextPending.objects.filter(project_id=project.pk).exists()
    for search in (_search, _search_by_index):
        assert search(project, "wonderful") == {"A wonderful movie", "Wonderful cast"}
        assert search(project, "boring -acting") == {"Dull and boring"}


def test_vectors_are_built_in_steps_of_ids(project):
    _import(project)
    first = Item.objects.filter(project=project).order_by("id")[0].pk
    assert text_search.build_step(project.pk, batch=2)  # more to do
    assert set(ItemText.objects.values_list("item_id", flat=True)) == {first, first + 1}
    assert ItemTextPending.objects.get(project_id=project.pk).first_id == first + 2
    assert _search_by_index(project, "wonderful") == {"A wonderful movie", "Wonderful cast"}  # half built
    while text_search.build_step(project.pk, batch=2):
        pass
    assert ItemText.objects.filter(project_id=project.pk).count() == len(TEXTS)


def test_the_sweep_finds_the_projects_whose_vectors_wait_to_be_built(project, monkeypatch):
    from dataio import celery_tasks

    _import(project)
    sent = []
    monkeypatch.setattr(celery_tasks.build_text_search, "delay", sent.append)  # the broker is not the point
    assert celery_tasks.text_search_sweep() == 1 and sent == [project.pk]
    text_search.build(project.pk)
    assert celery_tasks.text_search_sweep() == 0 and sent == [project.pk]


def test_an_item_made_outside_an_import_gets_its_vector_at_once(project):
    item = Item.objects.create(project=project, data={"text": "A splendid evening"})
    assert ItemText.objects.filter(item_id=item.pk).exists()
    assert _search_by_index(project, "splendid") == {"A splendid evening"}


def test_the_import_defers_only_its_own_inserts(project):
    from django.db import transaction

    with transaction.atomic():
        _import(project, ["Quiet film"])
        later = Item.objects.create(project=project, data={"text": "Loud film"})  # same transaction, after it
    assert ItemText.objects.filter(item_id=later.pk).exists()


def test_a_failed_import_leaves_nothing_pending(project):
    with pytest.raises(RecordError):
        import_into(project, iter_array([{"data": {"text": "fine"}}, {"data": "bad"}], schema_of(project)))
    assert not ItemTextPending.objects.exists()
    item = Item.objects.create(project=project, data={"text": "after the failure"})
    assert ItemText.objects.filter(item_id=item.pk).exists()  # the import's setting did not outlive it


def _xmin(item_id: int) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT xmin::text FROM tasks_itemtext WHERE item_id = %s", [item_id])
        return cur.fetchone()[0]


def test_new_data_rebuilds_the_vector_and_other_updates_leave_it_alone(project):
    item = Item.objects.create(project=project, data={"text": "A splendid evening"})
    before = _xmin(item.pk)
    Item.objects.filter(pk=item.pk).update(priority=0.9, status="queued", confidence=0.5,
                                           prediction={"value": {"label": "pos"}, "confidence": 0.5})
    assert _xmin(item.pk) == before  # pre-labeling and routing UPDATEs do not touch it
    Item.objects.filter(pk=item.pk).update(data={"text": "A dreadful evening"})
    assert _search_by_index(project, "dreadful") == {"A dreadful evening"}
    assert _search_by_index(project, "splendid") == set()


def test_updating_data_through_an_import_rebuilds_the_vector(project):
    _import(project, ["Old words"])
    text_search.build(project.pk)
    import_into(project, iter_array([{"data": {"text": "New words"}, "external_id": "t0"}], schema_of(project)),
                on_duplicate="update")
    assert _search_by_index(project, "new") == {"New words"}
    assert _search(project, "old") == set()


def test_deleting_items_deletes_their_vectors(project):
    item = Item.objects.create(project=project, data={"text": "Gone soon"})
    Item.objects.filter(pk=item.pk).delete()
    assert not ItemText.objects.filter(item_id=item.pk).exists()


def test_other_projects_pending_items_are_not_found(project, admin):
    from tests.conftest import make_project

    other = make_project(admin)
    _import(other, ["Wonderful elsewhere"])
    _import(project)
    assert _search_by_index(project, "wonderful") == {"A wonderful movie", "Wonderful cast"}
    assert _search_by_index(other, "wonderful") == {"Wonderful elsewhere"}


def test_deleting_a_project_deletes_its_pending_ranges(project):
    _import(project)
    project.delete()
    assert not ItemTextPending.objects.exists()
    assert not ItemText.objects.exists()
