"""The data browser: a project's items as keyset-paginated, filtered pages, and one item's history.

Every filter is served by an index on PostgreSQL (migrations `tasks/0012_browse_indexes`,
`annotations/0003_browse_indexes`), and pages are keyset pages on the item id (`after` / `before`
a cursor id), never OFFSET: a page deep in a million items costs what the first one does.

Filters, all combined with AND:
- `status`: the item's status.
- `source`: who set the final value (`gold`, `consensus`, `reviewer`, `model`), or `none` for items
  without one. Whether a model scored an item is its status: `new` items have no prediction.
- `annotator`: items this user annotated (skips do not count).
- `confidence_min` / `confidence_max`: the active model's confidence, both bounds inclusive; items
  without a prediction never match a bound.
- `disagreement`: items whose annotators disagreed: in review for `disagreement` or `low_agreement`
  now, or decided by a reviewer for one of those reasons.
- `label`: the final value carries this label (classification: is it; multi-label: includes it;
  spans, boxes: some region has it).
- `q`: full-text search of `data.text` (PostgreSQL: English stemming, web-search syntax with
  "quoted phrases", `or` and `-word`, over each item's tsvector in `tasks_itemtext` and its GIN
  index, built after an import by a job; an item whose vector is not built yet is matched by parsing
  its text on the fly, with the same result; SQLite: a case-insensitive substring). See `browse` for
  how a search picks its plan.

Counts: the first page (no cursor) counts the matches up to COUNT_CAP ("1,000+"); a search for
common words reports PostgreSQL's estimate instead; pages after a cursor are not counted.
"""
from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import OperationalError, connection, transaction
from django.db.models import BooleanField, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from accounts.models import User
from annotations.models import Annotation, ReviewDecision
from audit.models import AuditEvent
from common.errors import Invalid
from models_registry.models import Prediction
from tasks import text_search
from tasks.lifecycle import Reason, Source, Status
from tasks.models import Item, Project

# Why an item was disputed by its annotators (rather than escalated by the model, or audited).
DISPUTE_REASONS = (Reason.DISAGREEMENT.value, Reason.LOW_AGREEMENT.value)
SOURCES = (*(s.value for s in Source), "none")
LABEL_TASK_TYPES = ("classification", "multi_label", "spans", "boxes")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Counts stop here: "1,000+" costs at most this many index entries, at any size.
COUNT_CAP = 1000
# An item matches a search by its vector in `tasks_itemtext` (GIN index `item_text_search`), or, while
# that is not built yet (the minutes after an import), by the vector it will get (tasks/text_search.py).
TEXT_SEARCH_SQL = text_search.MATCH_SQL
# How long a search may walk the items in id order before it turns to the GIN index (see `browse`).
SEARCH_BUDGET_MS = 20
PREVIEW_CHARS = 200
MAX_ID = 2**63 - 1  # ids are bigints; a larger number is a bad cursor, not a database error


@dataclass(frozen=True)
class Filters:
    """What the caller asked for; every field None (or False) means "any"."""

    status: str | None = None
    source: str | None = None
    annotator: int | None = None
    confidence_min: float | None = None
    confidence_max: float | None = None
    disagreement: bool = False
    label: str | None = None
    q: str | None = None

    def as_params(self) -> dict[str, Any]:
        """The filters that are set, as query parameters."""
        out: dict[str, Any] = {}
        for name in ("status", "source", "annotator", "confidence_min", "confidence_max", "label", "q"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.disagreement:
            out["disagreement"] = 1
        return out


@dataclass(frozen=True)
class Cursor:
    after: int | None = None
    before: int | None = None
    limit: int = DEFAULT_LIMIT


@dataclass
class Page:
    """One page of items in id order, with the cursors of its neighbours (None: no such page)."""

    items: list[Item]
    next: int | None
    prev: int | None
    # Matching items, counted up to COUNT_CAP; `count_capped` when there are more. A search for common
    # words is not counted but estimated by PostgreSQL's planner (`count_estimated`). None on pages
    # after a cursor.
    count: int | None
    count_capped: bool
    count_estimated: bool = False
    filters: Filters = field(default_factory=Filters)


def _one(params, name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _int(params, name: str, minimum: int = 0, maximum: int = MAX_ID) -> int | None:
    raw = _one(params, name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise Invalid({name: ["Must be a whole number."]}) from None
    if value < minimum or value > maximum:
        raise Invalid({name: [f"Must be from {minimum} to {maximum}."]})
    return value


def _confidence(params, name: str) -> float | None:
    raw = _one(params, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Invalid({name: ["Must be a number from 0 to 1."]}) from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise Invalid({name: ["Must be a number from 0 to 1."]})
    return value


def parse_filters(project: Project, params) -> Filters:
    """Filters from query parameters; raises Invalid (400) naming the first bad field."""
    status = _one(params, "status")
    if status is not None and status not in {s.value for s in Status}:
        raise Invalid({"status": [f"Unknown status; use one of {[s.value for s in Status]}."]})
    source = _one(params, "source")
    if source is not None and source not in SOURCES:
        raise Invalid({"source": [f"Unknown source; use one of {list(SOURCES)}."]})
    annotator = _int(params, "annotator", minimum=1)
    if annotator is not None and not User.objects.filter(pk=annotator).exists():
        raise Invalid({"annotator": ["No such user."]})
    low, high = _confidence(params, "confidence_min"), _confidence(params, "confidence_max")
    if low is not None and high is not None and low > high:
        raise Invalid({"confidence_max": ["Must not be below confidence_min."]})
    disagreement = _one(params, "disagreement")
    if disagreement is not None and disagreement.lower() not in ("1", "true", "0", "false"):
        raise Invalid({"disagreement": ["Must be 1 (true) or 0 (false)."]})
    label = _one(params, "label")
    if label is not None:
        if project.task_type not in LABEL_TASK_TYPES:
            raise Invalid({"label": [f"A {project.task_type} project's values have no labels to filter by."]})
        if label not in project.labels:
            raise Invalid({"label": [f"Unknown label; the project's labels are {list(project.labels)}."]})
    q = _one(params, "q")
    if q is not None and len(q) > 200:
        raise Invalid({"q": ["At most 200 characters."]})
    if q is not None and "\x00" in q:
        raise Invalid({"q": ["Must not contain NUL characters."]})
    return Filters(status=status, source=source, annotator=annotator, confidence_min=low, confidence_max=high,
                   disagreement=disagreement is not None and disagreement.lower() in ("1", "true"),
                   label=label, q=q)


def parse_cursor(params) -> Cursor:
    """`after` / `before` (an item id, not both) and `limit`; raises Invalid (400) naming the field."""
    after, before = _int(params, "after"), _int(params, "before")
    if after is not None and before is not None:
        raise Invalid({"before": ["Give either after or before, not both."]})
    limit = _int(params, "limit", minimum=1, maximum=MAX_LIMIT)
    return Cursor(after=after, before=before, limit=DEFAULT_LIMIT if limit is None else limit)


def _label_q(project: Project, label: str) -> Q:
    if project.task_type == "classification":
        # `(final_value -> 'label') = '"x"'`: the expression of the index item_browse_label.
        return Q(final_value__label=label)
    if connection.vendor == "postgresql":
        key = {"multi_label": "labels", "spans": "spans", "boxes": "boxes"}[project.task_type]
        wanted: Any = [label] if key == "labels" else [{"label": label}]
        return Q(final_value__contains={key: wanted})
    # SQLite has no JSON containment: the label as a JSON string anywhere in the value (labels are its
    # only strings, besides rubric answers).
    return Q(final_value_text__contains=json.dumps(label))


def _branches(project: Project, f: Filters, after: int | None = None, before: int | None = None,
              ids: list[int] | None = None) -> list[QuerySet[Item]]:
    """Querysets whose union is the filtered items (more than one only for `disagreement`), with ids
    above `after` and below `before` (and among `ids`, when given).

    The id bounds are repeated inside the subqueries of other tables: PostgreSQL carries `id = item_id`
    across a join but not `id > n`, and without them an index in item order is read from its start.
    """
    def bounded(qs, field):
        if after is not None:
            qs = qs.filter(**{f"{field}__gt": after})
        if before is not None:
            qs = qs.filter(**{f"{field}__lt": before})
        return qs

    qs = bounded(Item.objects.filter(project=project), "id")
    if ids is not None:
        qs = qs.filter(RawSQL('"tasks_item"."id" = ANY(%s)', [ids], output_field=BooleanField()))
    if f.status is not None:
        qs = qs.filter(status=f.status)
    if f.source is not None:
        qs = qs.filter(final_source="" if f.source == "none" else f.source)
    if f.confidence_min is not None:
        qs = qs.filter(confidence__gte=f.confidence_min)
    if f.confidence_max is not None:
        qs = qs.filter(confidence__lte=f.confidence_max)
    if f.annotator is not None:
        qs = qs.filter(id__in=bounded(Annotation.objects.filter(project=project, user_id=f.annotator,
                                                                skipped=False), "item_id").values("item_id"))
    if f.label is not None:
        if project.task_type != "classification" and connection.vendor != "postgresql":
            qs = qs.alias(final_value_text=Cast("final_value", TextField()))
        qs = qs.filter(_label_q(project, f.label))
    if f.q is not None:
        if connection.vendor == "postgresql":
            qs = qs.filter(RawSQL(TEXT_SEARCH_SQL, [f.q], output_field=BooleanField()))
        else:
            qs = qs.filter(data__text__icontains=f.q)
    if not f.disagreement:
        return [qs]
    # Two keyset scans merged by id: the items in review now (partial index item_browse_dispute) and
    # those a reviewer decided (review_browse_dispute). One OR across both tables could use neither.
    decided = bounded(ReviewDecision.objects.filter(project=project, reason__in=DISPUTE_REASONS), "item_id")
    decided = decided.values("item_id")
    return [qs.filter(review_reason__in=DISPUTE_REASONS), qs.filter(id__in=decided)]


@contextmanager
def _planner(**settings: str) -> Iterator[None]:
    """Run the queries inside with these planner settings (`enable_bitmapscan="off"`), then restore them."""
    if not settings or connection.vendor != "postgresql":
        yield
        return
    # A savepoint: when a query inside fails (a statement_timeout), rolling it back undoes the settings
    # too; on success they are set back, as SET LOCAL would otherwise last to the end of the request.
    with transaction.atomic(), connection.cursor() as cursor:
        for name, value in settings.items():
            cursor.execute(f"SET LOCAL {name} = {value}")  # names and values are this module's own
        yield
        for name in settings:
            cursor.execute(f"SET LOCAL {name} TO DEFAULT")


def _explain(sql: str, params) -> dict:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


def browse(project: Project, filters: Filters, cursor: Cursor = Cursor()) -> Page:
    """One page of the project's items matching `filters`, in id order, from `cursor`.

    Counted on the first page only (no cursor): the count is the same on every page.
    """
    if filters.q is None or connection.vendor != "postgresql":
        return _browse(project, filters, cursor, count="capped")
    # A search. Common words: walk the items in id order and test each one's vector until the page is
    # full (a few thousand rows at most); a count would read them all, so it is PostgreSQL's estimate.
    # Rare words: that walk would read every item, so past SEARCH_BUDGET_MS it is abandoned for the GIN
    # index, which hands over all the (few) matches at once, to sort. Planner estimates cannot choose:
    # beyond the most common words they are guesses, and the wrong plan costs seconds. No JIT: the walk's
    # cost estimate (a vector looked up per item) is high enough to compile it, 200 ms for a 1 ms query.
    try:
        with _planner(enable_seqscan="off", enable_bitmapscan="off", jit="off",
                      statement_timeout=f"'{SEARCH_BUDGET_MS}ms'"):
            return _browse(project, filters, cursor, count="estimated")
    except OperationalError:  # the budget ran out (QueryCanceled)
        pass
    # The matches, from the GIN index alone (bitmap scans only: no plan may walk the items again), and
    # those of items whose vectors are not built yet; then the other filters over just those ids.
    ids = _search_ids(project, filters.q, cursor)
    return _browse(project, replace(filters, q=None), cursor, count="capped", ids=ids)


def _search_ids(project: Project, q: str, cursor: Cursor) -> list[int]:
    """Ids of the project's items matching `q` between the cursor's bounds, in no order.

    Built vectors through the GIN index; items of an import whose vectors the job has not built yet
    are parsed on the fly (all of them just after a large import: slow, but complete)."""
    with _planner(enable_seqscan="off", enable_indexscan="off", jit="off"), connection.cursor() as db:
        sql, params = text_search.built_matches(project.pk, q, cursor.after, cursor.before)
        db.execute(sql, params)
        ids = [row[0] for row in db.fetchall()]
    if text_search.has_pending(project.pk):
        with _planner(jit="off"), connection.cursor() as db:
            sql, params = text_search.pending_matches(project.pk, q, cursor.after, cursor.before)
            db.execute(sql, params)
            ids += [row[0] for row in db.fetchall()]
    return ids


def _browse(project: Project, filters: Filters, cursor: Cursor, count: str, ids: list[int] | None = None) -> Page:
    backwards = cursor.before is not None
    want = cursor.limit + 1  # one more than a page tells whether there is a further one
    runs = [list(qs.order_by("-id" if backwards else "id")[:want])
            for qs in _branches(project, filters, after=cursor.after, before=cursor.before, ids=ids)]
    rows = _merge(runs, descending=backwards)[:want]
    more = len(rows) > cursor.limit
    rows = rows[:cursor.limit]
    if backwards:
        rows.reverse()
        prev_cursor = rows[0].pk if more and rows else None
        next_cursor = rows[-1].pk if rows else cursor.before
    else:
        next_cursor = rows[-1].pk if more and rows else None
        prev_cursor = (rows[0].pk if rows else cursor.after) if cursor.after is not None else None
    total: int | None = None
    capped = False
    if cursor.after is None and cursor.before is None:
        if next_cursor is None:  # all of them are on this page
            total, count = len(rows), "capped"
        elif count == "estimated":
            total = max(sum(estimated_count(qs) for qs in _branches(project, filters, ids=ids)), len(rows) + 1)
        else:
            total, capped = count_capped(_branches(project, filters, ids=ids))
    return Page(items=rows, next=next_cursor, prev=prev_cursor, count=total, count_capped=capped,
                count_estimated=count == "estimated" and total is not None, filters=filters)


def estimated_count(qs: QuerySet[Item]) -> int:
    """PostgreSQL's estimate of how many rows `qs` holds (planning only, nothing is read)."""
    sql, params = qs.order_by().values("id").query.sql_with_params()
    return int(_explain(sql, params)["Plan Rows"])


def _merge(runs: list[list[Item]], descending: bool) -> list[Item]:
    if len(runs) == 1:
        return runs[0]
    key = (lambda item: -item.pk) if descending else (lambda item: item.pk)
    out: list[Item] = []
    seen: set[int] = set()
    for item in heapq.merge(*runs, key=key):
        if item.pk not in seen:
            seen.add(item.pk)
            out.append(item)
    return out


def count_capped(branches: list[QuerySet[Item]], cap: int | None = None) -> tuple[int, bool]:
    """How many items the branches hold together, counting at most `cap` (+ whether there are more)."""
    cap = COUNT_CAP if cap is None else cap
    if len(branches) == 1:
        n = branches[0].order_by()[:cap + 1].count()
    else:
        ids: set[int] = set()
        for qs in branches:
            ids.update(qs.order_by("id").values_list("id", flat=True)[:cap + 1])
        n = len(ids)
    return min(n, cap), n > cap


def preview(data: Any) -> dict:
    """What a table row shows of an item's data: its text (cut short), image URL, or pairwise prompt."""
    if not isinstance(data, dict):
        return {"kind": "other", "text": ""}
    if isinstance(data.get("image"), str):
        return {"kind": "image", "image": data["image"], "text": str(data.get("text") or "")[:PREVIEW_CHARS]}
    for key in ("text", "prompt"):
        if isinstance(data.get(key), str):
            text = data[key]
            return {"kind": "text", "text": text[:PREVIEW_CHARS] + ("…" if len(text) > PREVIEW_CHARS else "")}
    return {"kind": "other", "text": json.dumps(data)[:PREVIEW_CHARS]}


def history(item: Item) -> dict[str, Any]:
    """Everything that happened to an item, each kind on its own and all together in time order.

    Shows everyone's annotations and gold: for callers who may see them (checked by the caller).
    """
    annotations = list(Annotation.objects.filter(item=item).select_related("user").order_by("id"))
    predictions = list(Prediction.objects.filter(item=item).select_related("model_version")
                       .order_by("created_at", "id"))
    reviews = list(ReviewDecision.objects.filter(item=item).select_related("reviewer").order_by("id"))
    audit = list(AuditEvent.objects.filter(item_id=item.pk).order_by("id"))
    names = dict(User.objects.filter(pk__in={e.user_id for e in audit if e.user_id}).values_list("pk", "username"))
    out: dict[str, Any] = {
        "annotations": [{"id": a.pk, "user": a.user.username, "user_id": a.user_id, "value": a.value,
                         "skipped": a.skipped, "lead_time": a.lead_time, "at": a.created_at.isoformat()}
                        for a in annotations],
        "predictions": [{"id": p.pk, "model_version": p.model_version.version, "value": p.value,
                         "confidence": p.confidence, "active": p.model_version.active,
                         "at": p.created_at.isoformat()} for p in predictions],
        "reviews": [{"id": r.pk, "reviewer": r.reviewer.username, "value": r.value, "note": r.note,
                     "reason": r.reason, "corrections": r.corrections, "at": r.created_at.isoformat()}
                    for r in reviews],
        "audit": [{"id": e.pk, "action": e.action, "user": names.get(e.user_id), "payload": e.payload,
                   "at": e.created_at.isoformat()} for e in audit],
    }
    events = [{"kind": "imported", "at": item.created_at.isoformat(), "summary": "imported"}]
    for a in out["annotations"]:
        events.append({"kind": "annotation", "at": a["at"], "user": a["user"],
                       "summary": "skipped" if a["skipped"] else describe(a["value"]), "value": a["value"]})
    for p in out["predictions"]:
        events.append({"kind": "prediction", "at": p["at"], "user": f"model v{p['model_version']}",
                       "summary": f"{describe(p['value'])} ({p['confidence']:.0%})", "value": p["value"]})
    for r in out["reviews"]:
        events.append({"kind": "review", "at": r["at"], "user": r["reviewer"],
                       "summary": describe(r["value"]) + (f" — {r['note']}" if r["note"] else ""),
                       "value": r["value"]})
    for e in out["audit"]:
        events.append({"kind": "audit", "at": e["at"], "user": e["user"], "summary": e["action"],
                       "payload": e["payload"]})
    order = {"imported": 0, "prediction": 1, "annotation": 2, "review": 3, "audit": 4}
    # Stable by time, then the thing before the audit event that records it.
    out["events"] = sorted(events, key=lambda e: (e["at"], order[e["kind"]]))
    return out


def describe(value: Any) -> str:
    """A labeling value in a few words: its label(s), its region count, or its choice."""
    if not isinstance(value, dict):
        return "—" if value is None else str(value)
    if "label" in value:
        return str(value["label"])
    if "labels" in value:
        return ", ".join(map(str, value["labels"])) or "(no labels)"
    for key in ("spans", "boxes"):
        if key in value:
            labels = sorted({str(r.get("label")) for r in value[key] if isinstance(r, dict)})
            return f"{len(value[key])} {key}" + (f": {', '.join(labels)}" if labels else "")
    if "choice" in value:
        return f"prefers {value['choice']}"
    if "ranking" in value:
        return " > ".join("=".join(map(str, group)) for group in value["ranking"])
    return json.dumps(value)[:80]
