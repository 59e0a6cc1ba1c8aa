#!/usr/bin/env python
"""Load test: 50 simulated annotators labeling a 100,000-item project on PostgreSQL at once.

    .venv/bin/python bench/load_test.py                              # 50 users, 100,000 items, 10 s + 60 s
    .venv/bin/python bench/load_test.py --late-share 0.5             # half the lapsed leases answered late
    .venv/bin/python bench/load_test.py --worker-class sync --web-workers 4

A throwaway stack (`bench/stack.py`: PostgreSQL with its production durability, Redis, one Celery
worker, gunicorn on loopback), one classification project with `overlap` 2 and `lease_seconds` 10, N
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

CPU is read from /proc for the window after the warm-up: the client processes, gunicorn (master and
workers), PostgreSQL (all its processes), the Celery worker, and the whole machine (`/proc/stat`, so
other work running on it shows as `cpu_other_cores`). One JSON line on stdout (exit status 2 when a check
fails); progress on stderr.
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
import signal
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
from bench.stack import PASSWORD, Api, BenchError, Stack, add_user, log  # noqa: E402

LABELS = ["pos", "neg", "neutral"]
TICK = os.sysconf("SC_CLK_TCK")

# Kinds of request in the client's log.
NEXT, SUBMIT, SKIP, LATE = "next", "submit", "skip", "late"


# ---------------------------------------------------------------------------------------------
# The simulated annotators (run in forked client processes)


class Conn:
    """One annotator's HTTP connection: persistent where the server keeps it alive (gthread), re-opened
    where it closes it after each answer (sync workers); never reused after sitting idle for a second,
    so a request is never sent into a keep-alive connection the server is closing."""

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
    [kind, user, item, sent, received, status, latency_ms, lease_expires]; at the end, its TCP connects
    to `connects`."""
    rng = random.Random(cfg["seed"] * 1000 + user)
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
        row = [kind, user, item, sent, time.time(), status, (time.perf_counter() - t0) * 1000, None]
        log_out.append(row)  # list.append is atomic: the threads share the list
        return status, data, row

    def answer(kind: str, item: int) -> None:
        if kind == SKIP:
            body = {"skip": True}
        else:
            # Annotators mostly agree (the item's "true" label), so most items settle by consensus and
            # some go to review, as in a real project.
            label = LABELS[item % 3] if rng.random() < 0.85 else rng.choice(LABELS)
            body = {"value": {"label": label}, "lead_time": round(rng.uniform(1, 5), 2)}
        call(kind, item, "POST", f"/api/items/{item}/annotations/", body)

    while time.time() < cfg["end"]:
        if late and late[0][0] <= time.time():
            _, item = late.pop(0)
            answer(LATE, item)
            continue
        path = f"/api/projects/{project}/next/"
        if lapsed:
            path += "?exclude=" + ",".join(map(str, lapsed[-100:]))
        status, data, row = call(NEXT, None, "GET", path)
        if status != 200:
            time.sleep(0.05)  # 204 (nothing left) or an error
            continue
        body = json.loads(data)
        item = body["item"]["id"]
        expires = _epoch(body["lease_expires_at"])
        row[2], row[7] = item, expires
        draw = rng.random()
        if draw < cfg["lapse_share"]:
            lapsed.append(item)
            if rng.random() < cfg["late_share"]:
                late.append((expires + 0.3, item))
                late.sort()
        elif draw < cfg["lapse_share"] + cfg["skip_share"]:
            answer(SKIP, item)
        else:
            answer(SUBMIT, item)
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
    return {"gunicorn": tree_cpu(stack.procs["gunicorn"].pid), "postgres": tree_cpu(pg_pid),
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


def client_places(log_rows: list[list]) -> dict[int, list[tuple[float, float]]]:
    """Per item, the places the client surely held: a lease from the `next` answer until the answer was
    sent (or the lease expired); an annotation from its 201 on. Under-counts, never over-counts."""
    inf = float("inf")
    places: dict[int, list[tuple[float, float]]] = defaultdict(list)
    leases: dict[tuple[int, int], tuple[float, float]] = {}
    for kind, user, item, sent, received, status, _, expires in sorted(log_rows, key=lambda r: r[3]):
        if kind == NEXT and status == 200:
            leases[(user, item)] = (received, expires)
        elif kind in (SUBMIT, SKIP, LATE):
            got, expires = leases.pop((user, item), (None, None))
            if got is not None:
                places[item].append((got, min(sent, expires)))
            if status == 201 and kind != SKIP:
                places[item].append((received, inf))
    for (user, item), (got, expires) in leases.items():  # lapsed, never answered
        places[item].append((got, expires))
    return places


def db_checks(stack: Stack, project_id: int, log_rows: list[list]) -> dict:
    """Read the outcome from the database (psycopg2, the stack's DATABASE_URL).

    The places are swept from the assignment rows, but their stamps are the server's `now` at the start of
    the request, not the commit: a lease committed after another annotator's skip can carry an earlier
    `leased_at` than that skip's `finished_at`. So a place starts when the client had the answer (the `next`
    200, a late 201) where the client saw it; ends are the rows' own (the earliest they can be). A place
    counted that way was surely held, and an overlap is a real one."""
    import psycopg2

    conn = psycopg2.connect(stack.env["DATABASE_URL"])
    try:
        with conn.cursor() as cur:
            cur.execute("""
                SELECT count(*) FILTER (WHERE n > needed), count(*) FILTER (WHERE n <> annotation_count),
                       count(*) FILTER (WHERE n >= needed), max(n)
                FROM (SELECT i.id, i.needed, i.annotation_count,
                             count(a.id) FILTER (WHERE NOT a.skipped) AS n
                      FROM tasks_item i LEFT JOIN annotations_annotation a ON a.item_id = i.id
                      WHERE i.project_id = %s GROUP BY i.id) q""", [project_id])
            over, mismatch, complete, max_n = cur.fetchone()
            cur.execute("""SELECT count(*) FROM (SELECT 1 FROM annotations_annotation WHERE project_id = %s
                           GROUP BY item_id, user_id HAVING count(*) > 1) q""", [project_id])
            duplicates = cur.fetchone()[0]
            cur.execute("SELECT status, count(*) FROM tasks_item WHERE project_id = %s GROUP BY status", [project_id])
            statuses = dict(cur.fetchall())
            cur.execute("SELECT user_id, item_id, skipped FROM annotations_annotation WHERE project_id = %s",
                        [project_id])
            rows = cur.fetchall()
            cur.execute("""SELECT a.item_id, a.user_id, i.needed, a.state, a.leased_at, a.expires_at,
                                  a.finished_at FROM tasks_assignment a JOIN tasks_item i ON i.id = a.item_id
                           WHERE a.project_id = %s""", [project_id])
            assignments = cur.fetchall()
    finally:
        conn.close()
    inf = float("inf")
    leased_seen: dict[tuple[int, int], float] = {}
    stored_seen: dict[tuple[int, int], float] = {}
    for kind, user, item, _, received, status, _, _ in log_rows:
        if kind == NEXT and status == 200:
            leased_seen[(user, item)] = max(received, leased_seen.get((user, item), 0.0))
        elif kind == LATE and status == 201:
            stored_seen[(user, item)] = received
    places: dict[int, list[tuple[float, float]]] = defaultdict(list)
    needed: dict[int, int] = {}
    for item, user, need, state, leased_at, expires_at, finished_at in assignments:
        needed[item] = need
        start = max(leased_at.timestamp(), leased_seen.get((user, item), 0.0))
        expiry = expires_at.timestamp()
        if state == "leased":
            places[item].append((start, expiry))
        elif state == "skipped":
            places[item].append((start, min(finished_at.timestamp(), expiry)))
        else:  # submitted: the lease, then the annotation for good (a late one only from when it was stored)
            done = finished_at.timestamp()
            if done <= expiry:
                places[item].append((start, inf))
            else:
                places[item].append((start, expiry))
                places[item].append((max(done, stored_seen.get((user, item), 0.0)), inf))
    most = {item: max_places(iv) for item, iv in places.items()}
    return {
        "over_needed_items": over, "count_mismatch_items": mismatch, "complete_items": complete,
        "max_annotations_on_an_item": max_n or 0, "duplicate_annotations": duplicates,
        "item_statuses": statuses, "annotation_rows": rows, "assignment_rows": len(assignments),
        "db_max_places": max(most.values(), default=0),
        "db_place_violations": sum(1 for item, m in most.items() if m > needed[item]),
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


def run(args: argparse.Namespace) -> dict:
    gunicorn_args = f"--worker-class {args.worker_class}"
    if args.worker_class == "gthread":
        gunicorn_args += f" --threads {args.threads}"
    stack = Stack("postgres", pg_durability=args.pg_durability, web_workers=args.web_workers,
                  gunicorn_timeout=args.gunicorn_timeout, keep=args.keep, prefix="hitl-load-",
                  env={"GUNICORN_CMD_ARGS": gunicorn_args})
    try:
        stack.start()
        admin = Api(stack.port, args.http_timeout).login("admin", PASSWORD)
        _, project = admin.call("POST", "/api/projects/", {
            "name": f"load {args.n}", "task_type": "classification", "labels": LABELS,
            "overlap": args.overlap, "lease_seconds": args.lease_seconds}, expect=(201,))
        pid = project["id"]
        result: dict[str, Any] = {"n": args.n, "users": args.users}
        result.update(run_import(admin, stack, pid, synthetic_records(args.n), "file", args.import_timeout, 300))
        log(f"imported {args.n} items in {result['import_seconds']} s ({result['import_path']})")
        t0 = time.perf_counter()
        users = make_users(admin, pid, args.users)
        log(f"{args.users} annotators created and logged in ({time.perf_counter() - t0:.0f} s)")

        start = time.time() + 2
        cfg = {"port": stack.port, "project": pid, "http_timeout": args.http_timeout, "seed": args.seed,
               "think_ms": args.think_ms, "skip_share": args.skip_share, "lapse_share": args.lapse_share,
               "late_share": args.late_share, "start": start, "measure_from": start + args.warmup,
               "end": start + args.warmup + args.duration}
        ctx = multiprocessing.get_context("fork")
        procs = []
        for k in range(args.procs):
            share = users[k::args.procs]
            out = stack.root / f"client-{k}.pickle"
            procs.append((ctx.Process(target=client_process, args=(share, cfg, str(out)), daemon=True), out))
        for proc, _ in procs:
            proc.start()
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
        stack.check_alive()

        logs, errors, client_cpu, connects = [], [], 0.0, 0
        for _, out in procs:
            with open(out, "rb") as fh:
                part = pickle.load(fh)
            logs += part["log"]
            errors += part["errors"]
            client_cpu += part["cpu_window"]
            connects += part["connects"]
        log(f"{len(logs)} requests answered, {len(errors)} without an answer; checking the database")

        window = [r for r in logs if r[3] >= cfg["measure_from"]]
        status = {kind: dict(sorted(Counter(str(r[5]) for r in logs if r[0] == kind).items()))
                  for kind in (NEXT, SUBMIT, SKIP, LATE)}
        fives = sum(1 for r in logs if r[5] >= 500)
        answers = [r for r in logs if r[0] in (SUBMIT, LATE) and r[5] == 201]
        skips = [r for r in logs if r[0] == SKIP and r[5] == 201]
        answered = Counter((r[1], r[2]) for r in answers + skips)
        db = db_checks(stack, pid, logs)
        rows = {(u, i) for u, i, _ in db.pop("annotation_rows")}
        late_409 = {(r[1], r[2]) for r in logs if r[0] == LATE and r[5] == 409}
        client_most = {item: max_places(iv) for item, iv in client_places(logs).items()}
        secs = args.duration
        in_window = Counter(r[0] for r in window)
        wall = cpu1["machine_total"] - cpu0["machine_total"]  # CPU-seconds of all cores over the window
        cores = wall / secs
        used = {k: (cpu1[k] - cpu0[k]) / secs for k in ("gunicorn", "postgres", "celery")}
        used["client"] = client_cpu / secs
        busy = (cpu1["machine_busy"] - cpu0["machine_busy"]) / secs
        result.update({
            "duration_s": secs, "warmup_s": args.warmup, "think_ms": args.think_ms,
            "skip_share": args.skip_share, "lapse_share": args.lapse_share, "late_share": args.late_share,
            "overlap": args.overlap, "lease_seconds": args.lease_seconds,
            "gunicorn": {"worker_class": args.worker_class, "workers": args.web_workers,
                         "threads": args.threads if args.worker_class == "gthread" else 1},
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
            "lost_201": sum(1 for key in answered if key not in rows),
            "doubled_201": sum(1 for n in answered.values() if n > 1),
            "rows_without_201": len(rows - set(answered)),
            "late_409_stored": len(late_409 & rows),
            "client_max_places": max(client_most.values(), default=0),
            "client_place_violations": sum(1 for m in client_most.values() if m > args.overlap),
            **db,
            "cpu_cores": round(cores, 2),
            "cpu_busy_cores": round(busy, 2),
            **{f"cpu_{k}_cores": round(v, 2) for k, v in used.items()},
            "cpu_other_cores": round(busy - sum(used.values()), 2),
            # CPU per answered request, whatever else runs on the machine: what capacity an idle one would have.
            **{f"{k}_cpu_ms_per_request": round(used[k] * secs * 1000 / max(len(window), 1), 2)
               for k in ("gunicorn", "postgres", "client")},
            "loadavg_before": [round(x, 2) for x in load0], "loadavg_after": [round(x, 2) for x in load1],
            # sync workers close the connection after every answer; gthread keeps it alive
            "client_tcp_connects": connects,
        })
        result.update(stack.facts)
        result["commit"] = stack.commit
        result["ok"] = not (fives or errors or result["over_needed_items"] or result["count_mismatch_items"]
                            or result["duplicate_annotations"] or result["db_place_violations"]
                            or result["client_place_violations"] or result["lost_201"] or result["doubled_201"]
                            or result["rows_without_201"] or result["late_409_stored"])
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
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="gthread")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--pg-durability", choices=["production", "test"], default="production")
    parser.add_argument("--gunicorn-timeout", type=int, default=120)
    parser.add_argument("--http-timeout", type=float, default=60, help="client socket timeout (s)")
    parser.add_argument("--import-timeout", type=float, default=900)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    args = parser.parse_args(argv)
    if args.users % args.procs:
        parser.error("--users must be a multiple of --procs")

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    try:
        result = run(args)
    except BenchError as exc:
        print(f"load test failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("load test interrupted; everything it started has been stopped", file=sys.stderr)
        return 130
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 2


if __name__ == "__main__":
    sys.exit(main())
