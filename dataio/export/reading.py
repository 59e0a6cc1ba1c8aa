"""Reading a project's items for export: in id order, a chunk at a time, in constant memory.

A chunk costs at most four queries whatever its size (items, their annotations, their review
decisions, the users not seen yet), never one per item. JSON columns are read as text: the JSON
formats copy that text into their output untouched (`orjson.Fragment`), which saves decoding and
re-encoding every value; the other formats decode what they use.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from accounts.models import User
from annotations.models import Annotation, ReviewDecision
from dataio.export.filters import Filters
from tasks.models import Item, Project

CHUNK = 2000

_ITEM_COLUMNS = ("id", "external_id", "status", "final_source", "final_at", "final_by_id", "review_reason", "needed",
                 "created_at", "data_json", "final_value_json", "gold_json", "prediction_json")


def _text(column: str) -> Cast:
    return Cast(column, TextField())


class UserRow(NamedTuple):
    username: str
    email: str


@dataclass
class Chunk:
    """Up to CHUNK items (named rows of `_ITEM_COLUMNS`) with what the export needs about them."""

    items: list
    annotations: dict[int, list] = field(default_factory=dict)  # item id -> rows, in submission order
    reviews: dict[int, list] = field(default_factory=dict)  # item id -> rows, in decision order
    users: dict[int, UserRow] = field(default_factory=dict)  # every user seen so far, by id

    def username(self, user_id: int | None) -> str | None:
        user = self.users.get(user_id)
        return user.username if user else None


def selected_items(project: Project, filters: Filters) -> QuerySet:
    """The project's items that `filters` keep."""
    return filters.apply(Item.objects.filter(project=project))


def count(project: Project, filters: Filters) -> int:
    """How many items `filters` keep (one query)."""
    return selected_items(project, filters).count()


def iter_chunks(project: Project, filters: Filters, *, annotations: bool = True, reviews: bool = True,
                progress: Callable[[int], None] | None = None, size: int | None = None) -> Iterator[Chunk]:
    """The selected items in id order, `size` at a time, with their annotations and review decisions
    (when asked for) and the names of everyone involved. `progress(n)` is called after each chunk
    of n items has been used."""
    size = size or CHUNK
    rows = (selected_items(project, filters).order_by("id")
            .annotate(data_json=_text("data"), final_value_json=_text("final_value"), gold_json=_text("gold"),
                      prediction_json=_text("prediction"))
            .values_list(*_ITEM_COLUMNS, named=True))
    users: dict[int, UserRow] = {}
    last_id = 0
    while True:
        # Keyset pagination: every chunk is an index range scan, however deep into the project.
        items = list(rows.filter(id__gt=last_id)[:size])
        if not items:
            return
        # The chunk's annotations and reviews are those of its id range that pass the same filters: a
        # range scan of their item index (a list of 2,000 ids would cost Django more to prepare than
        # the database to read, and a subquery of ids makes PostgreSQL hash the whole table).
        in_chunk = {"project": project, "item_id__gt": last_id, "item_id__lte": items[-1].id}
        last_id = items[-1].id
        chunk = Chunk(items=items, users=users)
        wanted = {row.final_by_id for row in items if row.final_by_id is not None}
        if annotations:
            chunk.annotations = _grouped(
                filters.apply(Annotation.objects.filter(**in_chunk), item="item__").order_by("item_id", "id")
                .annotate(value_json=_text("value"))
                .values_list("item_id", "user_id", "value_json", "skipped", "lead_time", "created_at", named=True))
            wanted.update(a.user_id for group in chunk.annotations.values() for a in group)
        if reviews:
            chunk.reviews = _grouped(
                filters.apply(ReviewDecision.objects.filter(**in_chunk), item="item__").order_by("item_id", "id")
                .annotate(value_json=_text("value"))
                .values_list("item_id", "reviewer_id", "value_json", "note", "reason", "created_at", named=True))
            wanted.update(r.reviewer_id for group in chunk.reviews.values() for r in group)
        missing = wanted - users.keys()
        if missing:
            users.update((pk, UserRow(username, email)) for pk, username, email in
                         User.objects.filter(id__in=missing).values_list("id", "username", "email"))
        yield chunk
        if progress is not None:
            progress(len(items))


def _grouped(rows) -> dict[int, list]:
    out: dict[int, list] = defaultdict(list)
    for row in rows:
        out[row.item_id].append(row)
    return out
