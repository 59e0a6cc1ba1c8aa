"""The labeling queue behind `next`: who gets which item, with leases that expire.

Correctness under concurrency:
- PostgreSQL: the candidate row is taken with `FOR UPDATE SKIP LOCKED`, so concurrent callers
  never wait on each other and never pick the same row at once. Every write that changes an
  item's capacity (a lease, a submission) holds that item's row lock, and once we hold it we
  re-check the item's capacity in a fresh statement (the one that writes the lease): a lease
  committed between our query's snapshot and our lock would otherwise be invisible to us.
- SQLite: transactions are IMMEDIATE (see settings), so they run one at a time.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from common import prepared
from common.rows import converted, moment
from tasks import standing
from tasks.access import ITEM_COLUMNS
from tasks.models import LABELABLE, Assignment, Item, LeaseState, Project, StandingState

_LABELABLE_SQL = ", ".join(f"'{s.value}'" for s in LABELABLE)

# An item `i` the caller may take: labelable, not had by them (their own unexpired lease or
# finished row), and with room: unexpired leases of others count against its capacity.
_OPEN_FOR_USER = f"""
  i.status IN ({_LABELABLE_SQL})
  AND NOT EXISTS (
      SELECT 1 FROM tasks_assignment a
      WHERE a.item_id = i.id AND a.user_id = %(user)s
        AND (a.state <> 'leased' OR a.expires_at > %(now)s))
  AND i.annotation_count + (
      SELECT COUNT(*) FROM tasks_assignment a
      WHERE a.item_id = i.id AND a.state = 'leased' AND a.expires_at > %(now)s) < i.needed
"""

# The first such item in queue order: the whole row (`columns`), so the answer needs no second read.
_CANDIDATE_SQL = f"""
SELECT {{columns}} FROM tasks_item i
WHERE i.project_id = %(project)s AND {_OPEN_FOR_USER} {{exclude}}
ORDER BY i.priority DESC, i.id
LIMIT 1
{{lock}}
"""

# The lease of one locked item, taken only if it is still open to the caller: the re-check and the write
# are one statement, which sees everything committed so far. A row of the caller's (an expired lease)
# is renewed in place: one row per (item, user).
_TAKE_SQL = f"""
INSERT INTO tasks_assignment (project_id, item_id, user_id, state, leased_at, expires_at, finished_at)
SELECT i.project_id, i.id, %(user)s, 'leased', %(now)s, %(expires)s, NULL
FROM tasks_item i WHERE i.id = %(item)s AND {_OPEN_FOR_USER}
ON CONFLICT (item_id, user_id) DO UPDATE
SET state = 'leased', leased_at = excluded.leased_at, expires_at = excluded.expires_at, finished_at = NULL
"""


# The caller's oldest open lease on an item still waiting (or a gold one), with the item's row.
_HELD_SQL = f"""
SELECT {ITEM_COLUMNS.sql}, a.expires_at FROM tasks_assignment a JOIN tasks_item i ON i.id = a.item_id
WHERE a.project_id = %(project)s AND a.user_id = %(user)s AND a.state = 'leased' AND a.expires_at > %(now)s
  AND (i.status IN ({_LABELABLE_SQL}) OR i.gold IS NOT NULL) {{exclude}}
ORDER BY a.leased_at, a.id
LIMIT 1
"""

# `_HELD_SQL`, else the first item the caller may take, locked (`_CANDIDATE_SQL`): one statement, one round
# trip. The second part runs only when the first finds nothing (a query reads a WITH part only as far as it
# needs rows from it), so a resumed lease locks no other item. An open item's row ends in NULL where a held
# lease's has its expiry.
_HELD_OR_OPEN_SQL = f"""
WITH held AS MATERIALIZED ({_HELD_SQL}),
open_item AS MATERIALIZED ({_CANDIDATE_SQL})
SELECT * FROM held UNION ALL SELECT * FROM open_item LIMIT 1
"""

# The parameters' types where PostgreSQL cannot infer them when preparing (the values of `_TAKE_SQL`'s SELECT list).
_TYPES = {"user": "bigint", "now": "timestamptz", "expires": "timestamptz", "exclude": "bigint[]"}

# A lease is not something the caller submitted: its transaction need not wait for the WAL to reach the disk.
# Should PostgreSQL crash within the moment before it does, the lease is lost (the item may go to someone
# else; the caller's answer is still taken while the item has room, see `annotations.services`), never an
# answer: submissions commit durably. Sent with the transaction's first statement (`_held`), and only where
# `next_item`'s transaction is the outermost one (in a caller's transaction it would cover the caller's writes).
_LEASE_COMMIT = "SET LOCAL synchronous_commit TO OFF"

# How often a caller who finds only locked items looks again before giving up.
_MAX_WAITS = 20


# Gold (honeypot) items the caller has not had yet, in import order. A gold item goes to every
# annotator once, so it has no capacity to guard and needs no lock.
_GOLD_SQL = """
SELECT i.id FROM tasks_item i
WHERE i.project_id = %(project)s AND i.gold IS NOT NULL {exclude}
  AND NOT EXISTS (SELECT 1 FROM tasks_assignment a WHERE a.item_id = i.id AND a.user_id = %(user)s)
ORDER BY i.id
LIMIT 1
"""


@dataclass(frozen=True)
class Lease:
    item: Item
    expires_at: datetime
    resumed: bool  # the caller already held this lease


def _bind(sql: str, params: dict, exclude: list[int], **parts: str) -> str:
    """A queue query with the `exclude` list bound as parameters (added to `params`): on PostgreSQL one array,
    so that the statement's text (and its prepared plan, `common.prepared`) is the same for any list."""
    if not exclude:
        excl = ""
    elif connection.vendor == "postgresql":
        params["exclude"] = exclude
        excl = "AND i.id <> ALL(%(exclude)s)"
    else:
        names = []
        for n, item_id in enumerate(exclude):
            params[f"x{n}"] = item_id
            names.append(f"%(x{n})s")
        excl = f"AND i.id NOT IN ({', '.join(names)})"
    return sql.format(exclude=excl, **parts)


def _row(sql: str, params: dict, before: str = "") -> tuple | None:
    with connection.cursor() as cur:
        prepared.execute(cur, sql, params, _TYPES, before=before)
        return cur.fetchone()


def _first(sql: str, params: dict, exclude: list[int], **parts: str) -> int | None:
    """Run a queue query; the first id or None."""
    row = _row(_bind(sql, params, exclude, **parts), params)
    return row[0] if row else None


def _candidate(project: Project, user, now: datetime, exclude: list[int]) -> int | None:
    """Whether any item is open to the caller, locked or not: the id of the first, or None."""
    return _first(_CANDIDATE_SQL, {"project": project.pk, "user": user.pk, "now": moment(now)}, exclude,
                  columns="i.id", lock="")


def _lock() -> str:
    return "FOR UPDATE OF i SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""


def _locked_candidate(project: Project, user, now: datetime, exclude: list[int]) -> Item | None:
    """The first item the caller may take, locked (skipping rows others hold), read whole."""
    params = {"project": project.pk, "user": user.pk, "now": moment(now)}
    row = _row(_bind(_CANDIDATE_SQL, params, exclude, columns=ITEM_COLUMNS.sql, lock=_lock()), params)
    return None if row is None else ITEM_COLUMNS.load(row)


def _take(item_id: int, user, now: datetime, expires: datetime) -> bool:
    """Lease the locked item to the caller if it is still open to them (see `_TAKE_SQL`)."""
    with connection.cursor() as cur:
        params = {"item": item_id, "user": user.pk, "now": moment(now), "expires": moment(expires)}
        prepared.execute(cur, _TAKE_SQL, params, _TYPES)
        return cur.rowcount == 1


def _gold(project: Project, user, exclude: list[int]) -> int | None:
    return _first(_GOLD_SQL, {"project": project.pk, "user": user.pk}, exclude)


def _held(project: Project, user, now: datetime, exclude: list[int], before: str, *,
          or_open: bool) -> tuple[Lease | None, Item | None]:
    """The caller's open lease (see `_HELD_SQL`), if any; with `or_open`, when there is none, the first item the
    caller may take, locked (`_HELD_OR_OPEN_SQL`). The first statement of `next_item`'s transaction."""
    params = {"project": project.pk, "user": user.pk, "now": moment(now)}
    sql = _HELD_OR_OPEN_SQL if or_open else _HELD_SQL
    row = _row(_bind(sql, params, exclude, columns=f"{ITEM_COLUMNS.sql}, CAST(NULL AS timestamptz)", lock=_lock()),
               params, before=before)
    if row is None:
        return None, None
    if row[-1] is None:
        return None, ITEM_COLUMNS.load(row[:-1])
    return Lease(item=ITEM_COLUMNS.load(row[:-1]), expires_at=converted(Assignment, "expires_at", row[-1]),
                 resumed=True), None


def next_item(project: Project, user, *, exclude: list[int] | None = None, max_tries: int = 20) -> Lease | None:
    """Lease the caller's next item, or return None when nothing is left for them.

    The caller's own unexpired lease comes first (a reload shows the same item); `exclude`
    skips items the caller already has on screen, so a client can prefetch the one after.
    """
    low, high = connection.ops.integer_field_range("BigAutoField")
    exclude = [x for x in map(int, exclude or []) if low <= x <= high][:100]  # others are no item's id
    now = timezone.now()
    expires = now + timedelta(seconds=project.lease_seconds)
    gate = standing.gate(project, user, now)  # 403 (Paused) for a paused annotator
    before = "" if connection.in_atomic_block else _LEASE_COMMIT
    wants_gold = bool(project.gold_rate) and random.random() < project.gold_rate
    # Without a quiz or gold to serve first, the caller's open lease and the first open item are one look-up.
    plain = gate != standing.Gate.QUIZ and not wants_gold
    with transaction.atomic():
        held, item = _held(project, user, now, exclude, before, or_open=plain)
        if held is not None:
            return held
        if gate == standing.Gate.QUIZ:
            gold_id = _gold(project, user, exclude)
            if gold_id is not None:
                return _lease(project, user, gold_id, now, expires)
            if _gold(project, user, []) is not None or Assignment.objects.filter(
                    project=project, user=user, state=LeaseState.LEASED, expires_at__gt=now,
                    item__gold__isnull=False).exists():
                return None  # the last quiz items are on the caller's screen, not answered yet
            if standing.quiz_ran_out(project, user).state != StandingState.ACTIVE:
                standing.gate(project, user, now)  # raises: the quiz was failed
        if wants_gold:
            gold_id = _gold(project, user, exclude)
            if gold_id is not None:
                return _lease(project, user, gold_id, now, expires)
        if not plain:
            item = _locked_candidate(project, user, now, exclude)
        skipped: list[int] = []
        waits = 0
        for _ in range(max_tries + _MAX_WAITS):
            if item is None:
                # Everything left may only be locked for an instant by other callers' leases;
                # "nothing left" must mean nothing, so look again without skipping them.
                if waits < _MAX_WAITS and _candidate(project, user, now, exclude + skipped):
                    waits += 1
                    time.sleep(0.005 * waits)
                    item = _locked_candidate(project, user, now, exclude + skipped)
                    continue
                return None
            if _take(item.pk, user, now, expires):
                return Lease(item=item, expires_at=expires, resumed=False)
            skipped.append(item.pk)  # lost a race for its last place; take the next one
            item = _locked_candidate(project, user, now, exclude + skipped)
    return None


def _lease(project: Project, user, item_id: int, now: datetime, expires: datetime) -> Lease:
    """Lease the item to the user (renewing their expired lease on it, if any)."""
    renewed = Assignment.objects.filter(item_id=item_id, user=user).update(
        state=LeaseState.LEASED, leased_at=now, expires_at=expires, finished_at=None
    )
    if not renewed:
        Assignment.objects.create(project=project, item_id=item_id, user=user, leased_at=now, expires_at=expires)
    return Lease(item=Item.objects.get(pk=item_id), expires_at=expires, resumed=False)


def release(item: Item, user) -> int:
    """Give up the caller's lease on an item so others can have it."""
    return Assignment.objects.filter(item=item, user=user, state=LeaseState.LEASED).delete()[0]


def expire_leases_of(user) -> int:
    """End every open lease of the user now (a deactivated account), so others can have the items.

    The rows stay, expired, and count for nothing; the user's annotations are kept."""
    now = timezone.now()
    return Assignment.objects.filter(user=user, state=LeaseState.LEASED, expires_at__gt=now).update(expires_at=now)


def delete_expired_leases(older_than: timedelta = timedelta(0)) -> int:
    """Drop expired, unfinished leases (they already count for nothing; this keeps the table small)."""
    cutoff = timezone.now() - older_than
    return Assignment.objects.filter(state=LeaseState.LEASED, expires_at__lt=cutoff).delete()[0]
