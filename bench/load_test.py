#!/usr/bin/env python
"""Load test: 50 simulated annotators labeling a 100,000-item project on PostgreSQL at once.

    .venv/bin/python bench/load_test.py                              # 50 users, 100,000 items, 10 s + 60 s
    .venv/bin/python bench/load_test.py --late-share 0.5             # half the lapsed leases answered late
    .venv/bin/python bench/load_test.py --web-workers 2 --threads 8
    .venv/bin/python bench/load_test.py --quality --n 20000 --duration 30 --gold-rate 0.3   # gold, pauses, rework
    .venv/bin/python bench/load_test.py --quality --overlap-mode adaptive --n 20000 --duration 30 --gold-rate 0.3

A throwaway stack (`bench/stack.py`: PostgreSQL with its production durability, Redis, one Celery
worker, granian on loopback), one classification project with `overlap` 2 and `lease_seconds` 10, N
synthetic texts imported through the API as one .jsonl upload, and `--users` annotators created through
the API. Then every annotator runs this loop for `--warmup` + `--duration` seconds, with no think time
by default (maximum load):

    GET /api/projects/{id}/next/?exclude=<the caller's lapsed leases>
    POST /api/items/{item}/annotations/  {"value": {"label": ...}}   (or {"skip": true}: --skip-share)
    ... or neither: the lease is left to lapse (--lapse-share); with --late-share, that share of the
        lapsed leases is answered after it expired (the "lease expires while the annotator submits" fault)

The client is `--procs` forked processes of `--users / --procs` threads, each annotator a thread with its
own `http.client` connection; every request is logged (kind, user, item, wall times, status, latency).
Only requests sent after the warm-up count for throughput and latency; the checks cover the whole run:

- `over_needed_items`: items with more non-skipped annotations than they need (`needed`, i.e. 2);
  `count_mismatch_items`: `annotation_count` differs from the annotation rows; `duplicate_annotations`:
  one user twice on one item (the unique constraint forbids it; checked anyway).
- `db_max_places` / `db_place_violations`: from the assignment rows, every place a user held on an item
  over time (a lease until it was submitted, skipped or expired; a submitted annotation from then on; a
  late answer from the moment it was stored), swept per item: never more at once than `needed`. The rows'
  stamps are the server's clock at the start of each request, not at its commit, so a place starts when
  the client had the answer where it saw one (see `db_checks`). `client_*`: the same from the client's
  log alone (a lease from the `next` answer to the submit request; an annotation from its 201 on).
- `lost_201`: a 201 the client received without its annotation row; `doubled_201`: one (user, item)
  answered 201 twice; `rows_without_201`: annotation rows of no 201 (a request whose answer was lost);
  `late_409_stored`: a late answer refused with 409 whose row exists anyway.
- `status` counts per request kind; `5xx` must be 0, `client_errors` (timeouts, resets) too.

`--quality` turns on the annotator-quality rules in the project: `--gold-share` of extra items imported with a
`gold` value (labels l0..l9 then: a random answer is right 10% of the time), `gold_rate` (`--gold-rate`) and
`accuracy_floor` (`--floor`); `--random-share` of the annotators answer everything at random and are paused
mid-run (their `next` answers 403: they stop, a PAUSED row), the others answer gold right `--gold-accuracy` of
the time; a reviewer thread rejects one of the latest annotations every `--reject-every` s (rework_by same and
anyone in turn); `--overlap-mode adaptive` makes the project adaptive (the worker runs the Dawid–Skene refits).
The checks then count retired annotations (re-queued by a pause, or rejected) as no longer annotations: a
retired annotation's place ends at its `retired_at`; a 201 whose annotation was retired is not lost when a
RetiredAnnotation has its id; a (user, item) may have a second 201 after its first was retired (rework);
gold items, which every annotator gets, have no `needed`; each annotator's gold record (Standing) must match
their stored gold answers; an annotator stopped by a 403 must be paused (or failed) in the database. With
adaptive overlap `needed` grows during the run and the sweeps use its final value.

CPU is read from /proc for the window after the warm-up: the client processes, the web server (granian's
main process and its workers), PostgreSQL (all its processes), the Celery worker, and the whole machine
(`/proc/stat`, so other work running on it shows as `cpu_other_cores`). One JSON line on stdout (exit
status 2 when a check fails); progress on stderr.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import pickle
import random
import resource
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench import pct, run_import, synthetic_records  # noqa: E402
from bench.stack import PASSWORD, Api, BenchError, Stack, add_user, log, run_command  # noqa: E402

LABELS = ["pos", "neg", "neutral"]
TICK = os.sysconf("SC_CLK_TCK")

# Kinds of request in the client's log.
NEXT, SUBMIT, SKIP, LATE = "next", "submit", "skip", "late"
PAUSED = "paused"  # a `next` answered 403: the annotator stops (--quality)
REJECT = "reject"  # the reviewer thread's rejections (--quality --reject-every)


# ---------------------------------------------------------------------------------------------
# The simulated annotators (run in forked client processes)


class Conn:
    """One annotator's HTTP connection: persistent while the server keeps it alive (granian does), re-opened
    where it closes it after an answer; never reused after sitting idle for a second, so a request is never
    sent into a keep-alive connection the server is closing."""

    IDLE = 1.0

    def __init__(self, port: int, token: str, timeout: float):
        self.port, self.timeout = port, timeout
        self.headers = {"Host": "127.0.0.1", "Accept": "application/json", "Authorization": f"Token {token}"}
        self.conn: http.client.HTTPConnection | None = None
        self.last = 0.0
        self.connects = 0

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        if self.conn is not None and time.monotonic() - self.last > self.IDLE:
            self.conn.close()
            self.conn = None
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.connects += 1
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except Exception:
            self.conn.close()
            self.conn = None
            raise
        if resp.will_close:
            self.conn.close()
            self.conn = None
        self.last = time.monotonic()
        return resp.status, data


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def annotator(user: int, token: str, cfg: dict, log_out: list, errors: list, connects: list) -> None:
    """One simulated annotator until `cfg["end"]` (wall clock); appends one row per request to `log_out`:
    [kind, user, item, sent, received, status, latency_ms, lease_expires, annotation_id]; at the end, its TCP
    connects to `connects`.

    With `--quality`: a gold item (its external id in `cfg["gold"]`) is answered right with probability
    `cfg["gold_accuracy"]`, except by the annotators of `cfg["random_users"]`, who answer everything
    uniformly at random; a `next` answered 403 (paused or failed) stops the annotator (a PAUSED row)."""
    rng = random.Random(cfg["seed"] * 1000 + user)
    labels = cfg["labels"]
    gold = cfg.get("gold") or {}
    at_random = user in cfg.get("random_users", ())
    conn = Conn(cfg["port"], token, cfg["http_timeout"])
    project = cfg["project"]
    lapsed: list[int] = []  # items this annotator let lapse: never asked for again (`exclude`)
    late: list[tuple[float, int]] = []  # (when to answer, item): lapsed leases to answer after they expired
    think = cfg["think_ms"] / 1000

    def call(kind: str, item: int | None, method: str, path: str, body: Any = None) -> tuple[int, bytes, list]:
        raw = json.dumps(body).encode() if body is not None else None
        sent, t0 = time.time(), time.perf_counter()
        try:
            status, data = conn.request(method, path, raw)
        except Exception as exc:  # a timeout or reset: logged apart, never retried
            errors.append((kind, user, item, sent, repr(exc)))
            return 0, b"", []
        row = [kind, user, item, sent, time.time(), status, (time.perf_counter() - t0) * 1000, None, None]
        log_out.append(row)  # list.append is atomic: the threads share the list
        return status, data, row

    def answer(kind: str, item: int, external_id: str | None = None) -> None:
        if kind == SKIP:
            body = {"skip": True}
        else:
            if at_random:
                label = rng.choice(labels)
            elif external_id in gold:
                right = gold[external_id]
                label = right if rng.random() < cfg["gold_accuracy"] else rng.choice(
                    [x for x in labels if x != right])
            else:
                # Annotators mostly agree (the item's "true" label), so most items settle by consensus and
                # some go to review, as in a real project.
                label = labels[item % len(labels)] if rng.random() < 0.85 else rng.choice(labels)
            body = {"value": {"label": label}, "lead_time": round(rng.uniform(1, 5), 2)}
        status, data, row = call(kind, item, "POST", f"/api/items/{item}/annotations/", body)
        if status == 201:
            try:
                row[8] = json.loads(data)["id"]
            except (ValueError, KeyError, TypeError):
                pass

    while time.time() < cfg["end"]:
        if late and late[0][0] <= time.time():
            _, item = late.pop(0)
            answer(LATE, item)
            continue
        path = f"/api/projects/{project}/next/"
        if lapsed:
            path += "?exclude=" + ",".join(map(str, lapsed[-100:]))
        status, data, row = call(NEXT, None, "GET", path)
        if status == 403 and cfg.get("quality"):
            try:
                state = json.loads(data).get("state")
            except (ValueError, AttributeError):
                state = None
            log_out.append([PAUSED, user, None, row[3], row[4], 403, row[6], None, state])
            break  # a paused (or failed) annotator stops
        if status != 200:
            time.sleep(0.05)  # 204 (nothing left) or an error
            continue
        body = json.loads(data)
        item = body["item"]["id"]
        external_id = body["item"].get("external_id")
        expires = _epoch(body["lease_expires_at"])
        row[2], row[7] = item, expires
        draw = rng.random()
        if draw < cfg["lapse_share"] and external_id not in gold:
            lapsed.append(item)
            if rng.random() < cfg["late_share"]:
                late.append((expires + 0.3, item))
                late.sort()
        elif draw < cfg["lapse_share"] + cfg["skip_share"] and external_id not in gold:
            answer(SKIP, item)
        else:
            answer(SUBMIT, item, external_id)
        if think:
            time.sleep(rng.expovariate(1 / think))
    connects.append(conn.connects)


def _rusage() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def client_process(users: list[tuple[int, str]], cfg: dict, out_path: str) -> None:
    """A client process: one thread per annotator; writes its log, errors and CPU seconds to `out_path`."""
    logs: list[list] = []
    errors: list = []
    connects: list[int] = []
    threads = [threading.Thread(target=annotator, args=(u, token, cfg, logs, errors, connects), daemon=True)
               for u, token in users]
    time.sleep(max(0.0, cfg["start"] - time.time()))
    for t in threads:
        t.start()
    time.sleep(max(0.0, cfg["measure_from"] - time.time()))
    cpu0 = _rusage()
    time.sleep(max(0.0, cfg["end"] - time.time()))
    cpu1 = _rusage()
    for t in threads:
        t.join()
    with open(out_path, "wb") as fh:
        pickle.dump({"log": logs, "errors": errors, "cpu_window": cpu1 - cpu0, "connects": sum(connects)}, fh)


# ---------------------------------------------------------------------------------------------
# CPU from /proc


def _stat(pid: int) -> tuple[float, float]:
    """(own CPU seconds, CPU seconds of its reaped children) of a process; (0, 0) if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime) / TICK, (cutime + cstime) / TICK


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and everything it forked (live or reaped)."""
    total = _stat(pid)[1]
    for p in _descendants(pid):
        total += _stat(p)[0]
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as fh:
        ticks = [int(x) for x in fh.readline().split()[1:]]
    idle = ticks[3] + ticks[4]
    total = sum(ticks[:8])
    return (total - idle) / TICK, total / TICK


def cpu_snapshot(stack: Stack) -> dict[str, float]:
    pg_pid = int((stack.root / "pg" / "postmaster.pid").read_text().split()[0])
    busy, total = machine_cpu()
    return {"web": tree_cpu(stack.procs["web"].pid), "postgres": tree_cpu(pg_pid),
            "celery": tree_cpu(stack.procs["worker"].pid), "machine_busy": busy, "machine_total": total}


# ---------------------------------------------------------------------------------------------
# Checks


def max_places(intervals: list[tuple[float, float]]) -> int:
    """The most intervals [start, end) that overlap at one moment."""
    events = sorted([(s, 1) for s, e in intervals if e > s] + [(e, -1) for s, e in intervals if e > s])
    most = now = 0
    for _, step in events:  # at equal times -1 sorts first: touching intervals do not overlap
        now += step
        most = max(most, now)
    return most


def client_places(log_rows: list[list], retired_at: dict[int, float] | None = None,
                  gold_items: set[int] | frozenset = frozenset(),
                  paused_from: dict[int, float] | None = None) -> dict[int, list[tuple[float, float]]]:
    """Per item, the places the client surely held: a lease from the `next` answer until the answer was
    sent (or the lease expired); an annotation from its 201 on, until it was retired (`retired_at`: the
    server's stamp per annotation id). Gold items, which take every annotator, are left out. A pause ends the
    annotator's open leases (`paused_from`: when they sent the answer that paused them). Under-counts, never
    over-counts."""
    inf = float("inf")
    retired_at = retired_at or {}
    paused_from = paused_from or {}
    places: dict[int, list[tuple[float, float]]] = defaultdict(list)
    leases: dict[tuple[int, int], tuple[float, float]] = {}
    for kind, user, item, sent, received, status, _, expires, annotation_id in sorted(log_rows, key=lambda r: r[3]):
        if kind == NEXT and status == 200:
            leases[(user, item)] = (received, expires)
        elif kind in (SUBMIT, SKIP, LATE):
            got, expires = leases.pop((user, item), (None, None))
            if got is not None:
                places[item].append((got, min(sent, expires)))
            if status == 201 and kind != SKIP:
                places[item].append((received, retired_at.get(annotation_id, inf)))
    for (user, item), (got, expires) in leases.items():  # lapsed, never answered
        places[item].append((got, min(expires, paused_from.get(user, inf))))
    return {item: iv for item, iv in places.items() if item not in gold_items}


def merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The union of intervals [start, end), as disjoint intervals (one user's places on one item)."""
    out: list[list[float]] = []
    for s, e in sorted(iv for iv in intervals if iv[1] > iv[0]):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def db_checks(stack: Stack, project_id: int, log_rows: list[list]) -> dict:
    """Read the outcome from the database (psycopg2, the stack's DATABASE_URL).

    The places are swept from the assignment rows, but their stamps are the server's `now` at the start of
    the request, not the commit: a lease committed after another annotator's skip can carry an earlier
    `leased_at` than that skip's `finished_at`. So a place starts when the client had the answer (the `next`
    200, a late 201) where the client saw it; ends are the rows' own (the earliest they can be). A place
    counted that way was surely held, and an overlap is a real one.

    Retired annotations (`--quality`: a pause re-queued them, or a reviewer rejected them) are no longer
    annotations: their place ends at `retired_at` (stamped under the item's lock, before the commit that
    frees the place). A rework lease (rejected, back to the same annotator) re-leases the user's assignment
    row, so the retired annotation's own place [created_at, retired_at) is added from its row; one user's
    places on an item are merged before the sweep. Gold items take every annotator: no `needed` to check."""
    import psycopg2

    conn = psycopg2.connect(stack.env["DATABASE_URL"])
    try:
        with conn.cursor() as cur:
            cur.execute("""
                SELECT count(*) FILTER (WHERE n > needed AND NOT gold), count(*) FILTER (WHERE n <> annotation_count),
                       count(*) FILTER (WHERE n >= needed AND NOT gold), max(n) FILTER (WHERE NOT gold)
                FROM (SELECT i.id, i.needed, i.annotation_count, i.gold IS NOT NULL AS gold,
                             count(a.id) FILTER (WHERE NOT a.skipped) AS n
                      FROM tasks_item i LEFT JOIN annotations_annotation a ON a.item_id = i.id
                      WHERE i.project_id = %s GROUP BY i.id) q""", [project_id])
            over, mismatch, complete, max_n = cur.fetchone()
            cur.execute("""SELECT count(*) FROM (SELECT 1 FROM annotations_annotation WHERE project_id = %s
                           GROUP BY item_id, user_id HAVING count(*) > 1) q""", [project_id])
            duplicates = cur.fetchone()[0]
            cur.execute("SELECT status, count(*) FROM tasks_item WHERE project_id = %s GROUP BY status", [project_id])
            statuses = dict(cur.fetchall())
            cur.execute("SELECT id, user_id, item_id, skipped FROM annotations_annotation WHERE project_id = %s",
                        [project_id])
            rows = cur.fetchall()
            cur.execute("""SELECT r.original_id, r.user_id, r.item_id, r.reason, r.created_at, r.retired_at,
                                  r.value IS NULL FROM annotations_retiredannotation r WHERE r.project_id = %s""",
                        [project_id])
            retired = cur.fetchall()
            cur.execute("""SELECT a.item_id, a.user_id, i.needed, a.state, a.leased_at, a.expires_at,
                                  a.finished_at FROM tasks_assignment a JOIN tasks_item i ON i.id = a.item_id
                           WHERE a.project_id = %s AND i.gold IS NULL""", [project_id])
            assignments = cur.fetchall()
            cur.execute("SELECT id FROM tasks_item WHERE project_id = %s AND gold IS NOT NULL", [project_id])
            gold_items = {r[0] for r in cur.fetchall()}
            cur.execute("SELECT id, needed FROM tasks_item WHERE project_id = %s AND gold IS NULL", [project_id])
            needed_all = cur.fetchall()
            needed_counts = Counter(n for _, n in needed_all)
            # The gold record against the gold answers stored (gold annotations are never retired).
            cur.execute("""
                SELECT s.user_id, s.state, s.gold_answered, s.gold_correct,
                       (SELECT count(*) FROM annotations_annotation a JOIN tasks_item i ON i.id = a.item_id
                        WHERE a.project_id = s.project_id AND a.user_id = s.user_id AND i.gold IS NOT NULL
                          AND NOT a.skipped),
                       (SELECT count(*) FROM annotations_annotation a JOIN tasks_item i ON i.id = a.item_id
                        WHERE a.project_id = s.project_id AND a.user_id = s.user_id AND i.gold IS NOT NULL
                          AND NOT a.skipped AND a.value -> 'label' = i.gold -> 'label')
                FROM tasks_standing s WHERE s.project_id = %s""", [project_id])
            standings = cur.fetchall()
            cur.execute("SELECT state, count(*) FROM tasks_job WHERE project_id = %s AND kind = 'confusion_fit' "
                        "GROUP BY state", [project_id])
            fit_jobs = dict(cur.fetchall())
    finally:
        conn.close()
    inf = float("inf")
    leased_seen: dict[tuple[int, int], float] = {}
    stored_seen: dict[tuple[int, int], float] = {}
    for kind, user, item, _, received, status, *_ in log_rows:
        if kind == NEXT and status == 200:
            leased_seen[(user, item)] = max(received, leased_seen.get((user, item), 0.0))
        elif kind == LATE and status == 201:
            stored_seen[(user, item)] = received
    current = {(u, i) for _, u, i, skipped in rows if not skipped}
    retired_end: dict[tuple[int, int], float] = {}
    pair_places: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for _, user, item, _, created_at, retired_at, was_skip in retired:
        if item in gold_items or was_skip:  # a re-queued skip held no place
            continue
        end = retired_at.timestamp()
        retired_end[(user, item)] = max(end, retired_end.get((user, item), 0.0))
        pair_places[(user, item)].append((created_at.timestamp(), end))
    needed: dict[int, int] = {}
    for item, user, need, state, leased_at, expires_at, finished_at in assignments:
        needed[item] = need
        key = (user, item)
        start = max(leased_at.timestamp(), leased_seen.get(key, 0.0))
        expiry = expires_at.timestamp()
        ivs = []
        if state == "leased":
            ivs.append((start, expiry))
        elif state == "skipped":
            ivs.append((start, min(finished_at.timestamp(), expiry)))
        else:  # submitted: the lease, then the annotation for good (a late one only from when it was stored)
            done = finished_at.timestamp()
            if done <= expiry:
                ivs.append((start, inf))
            else:
                ivs.append((start, expiry))
                ivs.append((max(done, stored_seen.get(key, 0.0)), inf))
            if key not in current and key in retired_end:  # its annotation was retired: the place ended then
                ivs = [(s, min(e, retired_end[key])) for s, e in ivs]
        pair_places[key] += ivs
    places: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for (user, item), ivs in pair_places.items():
        places[item] += merge(ivs)
    most = {item: max_places(iv) for item, iv in places.items()}
    item_needed = dict(needed_all)
    # What an over-held item looked like: each user's places on it, the assignment and retired rows.
    samples = []
    for item in sorted(i for i, m in most.items() if m > needed.get(i, m))[:3]:
        def stamp(t):
            return None if t is None else round(t if isinstance(t, float) else t.timestamp(), 3)
        samples.append({
            "item": item, "needed": needed[item],
            "places": {str(u): [(stamp(a), stamp(b)) for a, b in merge(iv)]
                       for (u, i), iv in pair_places.items() if i == item},
            "assignments": [(u, st, stamp(la), stamp(ex), stamp(fi), stamp(leased_seen.get((u, it))))
                            for it, u, _, st, la, ex, fi in assignments if it == item],
            "retired": [(r[0], r[1], r[3], stamp(r[4]), stamp(r[5])) for r in retired if r[2] == item],
            "annotations": [(a, u, sk) for a, u, i, sk in rows if i == item]})
    standing_mismatch = [u for u, _, answered, correct, stored, right in standings
                         if (answered, correct) != (stored, right)]
    return {
        "over_needed_items": over, "count_mismatch_items": mismatch, "complete_items": complete,
        "max_annotations_on_an_item": max_n or 0, "duplicate_annotations": duplicates,
        "item_statuses": statuses, "annotation_rows": rows, "retired_rows": retired,
        "assignment_rows": len(assignments),
        "db_max_places": max(most.values(), default=0),
        "db_place_violations": sum(1 for item, m in most.items() if m > needed.get(item, m)),
        "db_violation_samples": samples,
        "gold_item_ids": gold_items, "item_needed": item_needed,
        "needed_counts": {str(k): v for k, v in sorted(needed_counts.items())},
        "standings": standings, "standing_gold_mismatch": len(standing_mismatch), "fit_jobs": fit_jobs,
    }


# ---------------------------------------------------------------------------------------------
# The run


def latency(rows: list[list], kind: str, status: int) -> dict:
    ms = [r[6] for r in rows if r[0] == kind and r[5] == status]
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 1), "p95_ms": round(pct(ms, 95), 1),
            "p99_ms": round(pct(ms, 99), 1), "max_ms": round(max(ms), 1)}


def make_users(admin: Api, project_id: int, n: int) -> list[tuple[int, str]]:
    """n annotators, members of the project, logged in (four at a time: each login hashes a password)."""
    def one(k: int) -> tuple[int, str]:
        client = add_user(admin_for(k), f"annotator{k:03d}", "annotator", [project_id])
        return client.user_id, client.token

    def admin_for(k: int) -> Api:
        api = Api(admin.port, admin.conn.timeout)
        api.token = admin.token
        return api

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(n)))


def reviewer_loop(port: int, token: str, dsn: str, project_id: int, cfg: dict, out: list, errors: list) -> None:
    """The reviewer thread (`--reject-every`): every so often, reject one of the latest annotations of a regular
    item (chosen in the database, as a reviewer picks one on screen), sent back to the same annotator or to
    anyone in turn. Rows as the annotators' ([REJECT, None, annotation id, sent, received, status, ms, None,
    rework_by])."""
    import psycopg2

    rng = random.Random(cfg["seed"] * 7919)
    conn = Conn(port, token, cfg["http_timeout"])
    db = psycopg2.connect(dsn)
    db.autocommit = True
    k = 0
    try:
        time.sleep(max(0.0, cfg["start"] + 2 - time.time()))
        while time.time() < cfg["end"] - 1:
            with db.cursor() as cur:
                cur.execute("""SELECT a.id FROM annotations_annotation a JOIN tasks_item i ON i.id = a.item_id
                               WHERE a.project_id = %s AND NOT a.skipped AND i.gold IS NULL
                                 AND i.final_source <> 'reviewer' ORDER BY a.id DESC LIMIT 200""", [project_id])
                ids = [r[0] for r in cur.fetchall()]
            if ids:
                annotation_id = rng.choice(ids)
                rework_by = "same" if k % 2 == 0 else "anyone"
                k += 1
                body = json.dumps({"comment": "Please look again (load test).", "rework_by": rework_by}).encode()
                sent, t0 = time.time(), time.perf_counter()
                try:
                    status, _ = conn.request("POST", f"/api/annotations/{annotation_id}/reject/", body)
                except Exception as exc:
                    errors.append((REJECT, None, annotation_id, sent, repr(exc)))
                else:
                    out.append([REJECT, None, annotation_id, sent, time.time(), status,
                                (time.perf_counter() - t0) * 1000, None, rework_by])
            time.sleep(rng.expovariate(1 / cfg["reject_every"]))
    finally:
        db.close()


def quality_records(n: int, gold_share: float, labels: list[str], seed: int) -> tuple[list[dict], dict[str, str]]:
    """The synthetic records plus gold ones (`{"gold": {"label": ...}}`, external ids g<k>), spread through
    the file; and the gold label per external id (what the simulated annotators know)."""
    records = synthetic_records(n)
    rng = random.Random(seed)
    n_gold = max(1, round(n * gold_share))
    gold = {f"g{k}": rng.choice(labels) for k in range(n_gold)}
    step = max(1, len(records) // n_gold)
    out: list[dict] = []
    golds = iter(gold.items())
    for i, record in enumerate(records):
        out.append(record)
        if i % step == step - 1:
            ext = next(golds, None)
            if ext is not None:
                out.append({"text": record["text"], "external_id": ext[0], "gold": {"label": ext[1]}})
    for ext, label in golds:
        out.append({"text": "gold", "external_id": ext, "gold": {"label": label}})
    return out, gold


def quality_figures(args: argparse.Namespace, logs: list[list], rejects: list[list], db: dict, retired: list,
                    random_users: set[int], gold_items: set[int]) -> dict:
    """What `--quality` adds to the result: pauses, retirements, rejections, the gold record's checks."""
    paused_rows = [r for r in logs if r[0] == PAUSED]
    paused = {r[1] for r in paused_rows}
    gold_201 = Counter(r[1] for r in logs if r[0] in (SUBMIT, LATE) and r[5] == 201 and r[2] in gold_items)
    first_pause = min((r[4] for r in paused_rows), default=None)
    standings = db.pop("standings")
    states = Counter(s[1] for s in standings)
    db_paused = {s[0] for s in standings if s[1] in ("paused", "failed")}
    return {
        "quality": {"gold_items": len(gold_items), "gold_rate": args.gold_rate, "accuracy_floor": args.floor,
                    "random_annotators": len(random_users), "gold_accuracy": args.gold_accuracy,
                    "labels": args.labels, "overlap_mode": args.overlap_mode,
                    "posterior_target": args.posterior_target if args.overlap_mode == "adaptive" else None,
                    "max_overlap": args.max_overlap if args.overlap_mode == "adaptive" else None,
                    "reject_every_s": args.reject_every},
        "annotators_stopped_403": len(paused),
        "stopped_403_states": dict(Counter(r[8] for r in paused_rows)),
        "random_annotators_stopped": len(paused & random_users),
        "honest_annotators_stopped": len(paused - random_users),
        "first_stop_after_s": round(first_pause - args._start, 1) if first_pause else None,
        "gold_201_per_stopped_random": sorted(gold_201[u] for u in paused & random_users),
        "standing_states": dict(states),
        "stopped_without_paused_standing": len(paused - db_paused),
        "standing_gold_mismatch": db.pop("standing_gold_mismatch"),
        "retired_annotations": dict(Counter(r[3] for r in retired)),
        "retired_skips": sum(1 for r in retired if r[6]),
        "rejects": dict(sorted(Counter(f"{r[8]}:{r[5]}" for r in rejects).items())),
        "reject": latency(rejects, REJECT, 200),
        "needed_counts": db.pop("needed_counts"),
        "confusion_fit_jobs": db.pop("fit_jobs"),
    }


def run(args: argparse.Namespace) -> dict:
    stack = Stack("postgres", pg_durability=args.pg_durability, web_workers=args.web_workers,
                  web_threads=args.threads, keep=args.keep, prefix="hitl-load-")
    try:
        stack.start()
        admin = Api(stack.port, args.http_timeout).login("admin", PASSWORD)
        labels = LABELS if args.labels is None else [f"l{k}" for k in range(args.labels)]
        fields: dict[str, Any] = {"name": f"load {args.n}", "task_type": "classification", "labels": labels,
                                  "overlap": args.overlap, "lease_seconds": args.lease_seconds}
        records, gold = synthetic_records(args.n), {}
        if args.quality:
            fields.update(gold_rate=args.gold_rate, accuracy_floor=args.floor)
            if args.overlap_mode == "adaptive":
                fields.update(overlap_mode="adaptive", posterior_target=args.posterior_target,
                              max_overlap=args.max_overlap)
            records, gold = quality_records(args.n, args.gold_share, labels, args.seed)
        _, project = admin.call("POST", "/api/projects/", fields, expect=(201,))
        for name in set(fields) - {"name"}:
            if project.get(name) != fields[name]:
                raise BenchError(f"the project did not take {name}={fields[name]!r}: {project.get(name)!r}")
        pid = project["id"]
        result: dict[str, Any] = {"n": args.n, "users": args.users}
        result.update(run_import(admin, stack, pid, records, "file", args.import_timeout, 300))
        log(f"imported {args.n} items in {result['import_seconds']} s ({result['import_path']})")
        t0 = time.perf_counter()
        users = make_users(admin, pid, args.users)
        log(f"{args.users} annotators created and logged in ({time.perf_counter() - t0:.0f} s)")

        random_users: set[int] = set()
        if args.quality:
            random_users = {u for u, _ in users[:round(args.users * args.random_share)]}
        reviewer = None
        if args.quality and args.reject_every:
            reviewer = add_user(admin, "reviewer000", "reviewer", [pid])

        start = time.time() + 2
        args._start = start
        cfg = {"port": stack.port, "project": pid, "http_timeout": args.http_timeout, "seed": args.seed,
               "think_ms": args.think_ms, "skip_share": args.skip_share, "lapse_share": args.lapse_share,
               "late_share": args.late_share, "start": start, "measure_from": start + args.warmup,
               "end": start + args.warmup + args.duration, "labels": labels, "quality": args.quality,
               "gold": gold, "random_users": random_users, "gold_accuracy": args.gold_accuracy,
               "reject_every": args.reject_every}
        ctx = multiprocessing.get_context("fork")
        procs = []
        for k in range(args.procs):
            share = users[k::args.procs]
            out = stack.root / f"client-{k}.pickle"
            procs.append((ctx.Process(target=client_process, args=(share, cfg, str(out)), daemon=True), out))
        for proc, _ in procs:
            proc.start()
        rejects: list[list] = []
        reject_errors: list = []
        review_thread = None
        if reviewer is not None:
            review_thread = threading.Thread(target=reviewer_loop, daemon=True, args=(
                stack.port, reviewer.token, stack.env["DATABASE_URL"], pid, cfg, rejects, reject_errors))
            review_thread.start()
        log(f"{args.users} annotators in {args.procs} client processes: {args.warmup} s warm-up, "
            f"{args.duration} s measured")
        time.sleep(max(0.0, cfg["measure_from"] - time.time()))
        cpu0, load0 = cpu_snapshot(stack), os.getloadavg()
        time.sleep(max(0.0, cfg["end"] - time.time()))
        cpu1, load1 = cpu_snapshot(stack), os.getloadavg()
        for proc, _ in procs:
            proc.join(timeout=args.http_timeout + 30)
            if proc.exitcode != 0:
                raise BenchError(f"client process {proc.pid} ended with {proc.exitcode}")
        if review_thread is not None:
            review_thread.join(timeout=args.http_timeout + 30)
        stack.check_alive()

        logs, errors, client_cpu, connects = [], [], 0.0, 0
        for _, out in procs:
            with open(out, "rb") as fh:
                part = pickle.load(fh)
            logs += part["log"]
            errors += part["errors"]
            client_cpu += part["cpu_window"]
            connects += part["connects"]
        errors += reject_errors
        log(f"{len(logs)} requests answered, {len(errors)} without an answer; checking the database")

        window = [r for r in logs if r[3] >= cfg["measure_from"]]
        status = {kind: dict(sorted(Counter(str(r[5]) for r in logs if r[0] == kind).items()))
                  for kind in (NEXT, SUBMIT, SKIP, LATE)}
        fives = sum(1 for r in logs + rejects if r[5] >= 500)
        answers = [r for r in logs if r[0] in (SUBMIT, LATE) and r[5] == 201]
        skips = [r for r in logs if r[0] == SKIP and r[5] == 201]
        answered = Counter((r[1], r[2]) for r in answers + skips)
        db = db_checks(stack, pid, logs)
        qdb = {k: db.pop(k) for k in ("standings", "standing_gold_mismatch", "needed_counts", "fit_jobs")}
        item_needed = db.pop("item_needed")
        annotation_rows = db.pop("annotation_rows")
        rows = {(u, i) for _, u, i, _ in annotation_rows}
        row_ids = {a for a, _, _, _ in annotation_rows}
        retired_rows = db["retired_rows"]
        retired_ids = {r[0] for r in retired_rows}
        retired_pairs = Counter((r[1], r[2]) for r in retired_rows)
        gold_items = db.pop("gold_item_ids")
        ids_201 = Counter(r[8] for r in answers + skips)
        # A 201 is lost when its annotation is neither a row nor retired (kept whole as a RetiredAnnotation);
        # one (user, item) may have several 201s only when all but the last were retired (rework).
        lost = sum(1 for r in answers + skips if r[8] not in row_ids and r[8] not in retired_ids)
        doubled = (sum(1 for n in ids_201.values() if n > 1)
                   + sum(1 for key, n in answered.items() if n > 1 + retired_pairs[key]))
        late_409 = {(r[1], r[2]) for r in logs if r[0] == LATE and r[5] == 409}
        retired_at = {r[0]: r[5].timestamp() for r in retired_rows}
        # A paused annotator's open leases ended with the pause, in their last answer before the 403.
        paused_from: dict[int, float] = {}
        for stop in (r for r in logs if r[0] == PAUSED):
            sent = [r[3] for r in logs if r[1] == stop[1] and r[0] in (SUBMIT, SKIP, LATE) and r[3] < stop[3]]
            paused_from[stop[1]] = max(sent, default=stop[3])
        places_of = client_places(logs, retired_at, gold_items, paused_from)
        client_most = {item: max_places(iv) for item, iv in places_of.items()}
        secs = args.duration
        in_window = Counter(r[0] for r in window)
        wall = cpu1["machine_total"] - cpu0["machine_total"]  # CPU-seconds of all cores over the window
        cores = wall / secs
        used = {k: (cpu1[k] - cpu0[k]) / secs for k in ("web", "postgres", "celery")}
        used["client"] = client_cpu / secs
        busy = (cpu1["machine_busy"] - cpu0["machine_busy"]) / secs
        result.update({
            "duration_s": secs, "warmup_s": args.warmup, "think_ms": args.think_ms,
            "skip_share": args.skip_share, "lapse_share": args.lapse_share, "late_share": args.late_share,
            "overlap": args.overlap, "lease_seconds": args.lease_seconds,
            "web": {"server": "granian", "workers": args.web_workers, "threads": args.threads},
            "client_procs": args.procs,
            "requests_per_s": round(len(window) / secs, 1),
            "next_per_s": round(in_window[NEXT] / secs, 1),
            "annotations_per_s": round(sum(1 for r in window if r[0] in (SUBMIT, LATE) and r[5] == 201) / secs, 1),
            "skips_per_s": round(sum(1 for r in window if r[0] == SKIP and r[5] == 201) / secs, 1),
            "next": latency(window, NEXT, 200), "submit": latency(window, SUBMIT, 201),
            "skip": latency(window, SKIP, 201), "late_201": latency(logs, LATE, 201),
            "late_409": latency(logs, LATE, 409),
            "status": status, "5xx": fives, "client_errors": len(errors),
            "error_samples": [e[4] for e in errors[:3]],
            "annotations_201_total": len(answers), "skips_201_total": len(skips),
            "lost_201": lost,
            "doubled_201": doubled,
            "rows_without_201": len(row_ids - set(ids_201)),
            "late_409_stored": len(late_409 & rows),
            "client_violation_samples": [
                {"item": item, "places": [(round(a, 3), round(b, 3)) for a, b in places_of[item]],
                 "log": [r for r in logs if r[2] == item]}
                for item, m in sorted(client_most.items()) if m > item_needed.get(item, args.overlap)][:3],
            "client_max_places": max(client_most.values(), default=0),
            "client_place_violations": sum(1 for item, m in client_most.items()
                                           if m > item_needed.get(item, args.overlap)),
            **{k: v for k, v in db.items() if k != "retired_rows"},
            "cpu_cores": round(cores, 2),
            "cpu_busy_cores": round(busy, 2),
            **{f"cpu_{k}_cores": round(v, 2) for k, v in used.items()},
            "cpu_other_cores": round(busy - sum(used.values()), 2),
            # CPU per answered request, whatever else runs on the machine: what capacity an idle one would have.
            **{f"{k}_cpu_ms_per_request": round(used[k] * secs * 1000 / max(len(window), 1), 2)
               for k in ("web", "postgres", "client")},
            "loadavg_before": [round(x, 2) for x in load0], "loadavg_after": [round(x, 2) for x in load1],
            # granian keeps connections alive: one per annotator, and a new one after a second idle (Conn.IDLE)
            "client_tcp_connects": connects,
        })
        if args.quality:
            result.update(quality_figures(args, logs, rejects, qdb, db["retired_rows"], random_users, gold_items))
        result.update(stack.facts)
        result["commit"] = stack.commit
        result["ok"] = not (fives or errors or result["over_needed_items"] or result["count_mismatch_items"]
                            or result["duplicate_annotations"] or result["db_place_violations"]
                            or result["client_place_violations"] or result["lost_201"] or result["doubled_201"]
                            or result["rows_without_201"] or result["late_409_stored"]
                            or result.get("standing_gold_mismatch") or result.get("stopped_without_paused_standing"))
        return result
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="items in the project")
    parser.add_argument("--users", type=int, default=50, help="simulated annotators")
    parser.add_argument("--procs", type=int, default=10, help="client processes (the annotators are their threads)")
    parser.add_argument("--duration", type=float, default=60, help="measured seconds, after the warm-up")
    parser.add_argument("--warmup", type=float, default=10, help="seconds of load before measuring")
    parser.add_argument("--think-ms", type=float, default=0,
                        help="mean think time between an answer and the next `next` (exponential; 0: none)")
    parser.add_argument("--skip-share", type=float, default=0.05, help="share of items skipped")
    parser.add_argument("--lapse-share", type=float, default=0.02, help="share of leases left to lapse")
    parser.add_argument("--late-share", type=float, default=0.0,
                        help="share of the lapsed leases answered anyway, just after they expired")
    parser.add_argument("--overlap", type=int, default=2)
    parser.add_argument("--lease-seconds", type=int, default=10, help="the project's lease (the API's minimum: 10)")
    parser.add_argument("--web-workers", type=int, default=4, help="granian worker processes")
    parser.add_argument("--threads", type=int, default=4, help="granian's blocking threads per worker (run the app)")
    parser.add_argument("--pg-durability", choices=["production", "test"], default="production")
    parser.add_argument("--http-timeout", type=float, default=60, help="client socket timeout (s)")
    parser.add_argument("--import-timeout", type=float, default=900)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    parser.add_argument("--labels", type=int, default=None,
                        help="number of labels (default: the 3 of pos/neg/neutral; 10 with --quality)")
    quality = parser.add_argument_group("annotator quality (--quality)")
    quality.add_argument("--quality", action="store_true",
                         help="gold items, an accuracy floor, random annotators who get paused, a reviewer")
    quality.add_argument("--gold-share", type=float, default=0.02, help="gold items imported, a share of --n")
    quality.add_argument("--gold-rate", type=float, default=0.1, help="the project's gold_rate")
    quality.add_argument("--floor", type=float, default=0.5, help="the project's accuracy_floor")
    quality.add_argument("--random-share", type=float, default=0.2,
                         help="share of the annotators who answer everything at random (gold too)")
    quality.add_argument("--gold-accuracy", type=float, default=0.9, help="how often the others answer gold right")
    quality.add_argument("--reject-every", type=float, default=1.0,
                         help="mean seconds between a reviewer's rejections (rework_by same/anyone in turn; 0: none)")
    quality.add_argument("--overlap-mode", choices=["fixed", "adaptive"], default="fixed")
    quality.add_argument("--posterior-target", type=float, default=0.95)
    quality.add_argument("--max-overlap", type=int, default=4)
    args = parser.parse_args(argv)
    if args.users % args.procs:
        parser.error("--users must be a multiple of --procs")
    if args.quality and args.labels is None:
        args.labels = 10  # a random annotator is right 10% of the time: paused within a few gold items
    if args.overlap_mode == "adaptive" and not args.quality:
        parser.error("--overlap-mode adaptive goes with --quality")

    return run_command("load test", lambda: run(args), ok=lambda result: result["ok"])


if __name__ == "__main__":
    sys.exit(main())
