#!/usr/bin/env python
"""Statistics at scale: `GET /api/projects/{id}/stats/` and the dashboard page of a big project (PostgreSQL).

    .venv/bin/python bench/stats_bench.py                       # 1,000,000 items, 3,000,000 annotations
    .venv/bin/python bench/stats_bench.py --n 100000 --samples 5

Starts the bench stack (throwaway PostgreSQL with fsync on, Redis, granian, a Celery worker), creates a
classification project (3 labels) through the API and fills it in SQL (INSERT ... SELECT generate_series;
the import path has its own benchmark): `n` items, each annotated by 3 of 20 annotators whose accuracies
run from 0.60 to 0.97 (an annotator errs uniformly over the other labels), 1% gold items, 80% done by
consensus (final value = the majority), 7% decided by a reviewer, 8% in review (disagreement, escalated,
audit), 5% auto-accepted by the model; review decisions for the reviewers' items (half of them audits).

Then, on one keep-alive connection per client (the client side of the clock):
- the first stats call, which on a big project finds no snapshot and asks for one (`freshness`), and
  the snapshot job's duration (the Celery worker computes it; polled through the stats answer);
- cold: the stats API and the dashboard page just after the web server (granian) restarted (fresh worker
  processes);
- warm: `--samples` calls of each, p50 and max.

The dashboard's script (static/js/dashboard.js) fetches nothing when the page loads (it only posts an
un-pause on a click), so the page's own request is all a visit costs. Code without snapshots computes
everything inline: the first call is then the whole computation (the client waits up to `--timeout` for
it; granian has no per-request timeout). At the end, in a process of the stack: `live_figures`' time and
its plan, and with `--inline` the whole exact computation (what every request cost before snapshots).
Prints a table on stderr and one JSON line on stdout.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import PASSWORD, Api, BenchError, Stack, add_user, log, stopping  # noqa: E402

LABELS = ["pos", "neg", "neutral"]
ANNOTATORS = 20
TARGET_S = 1.0

# Item k: its true label, its status band (k % 100), its three annotators (u, u+7, u+14 mod 20: distinct).
FILL_ITEMS = """
INSERT INTO tasks_item (project_id, external_id, data, status, priority, needed, annotation_count, gold,
                        final_value, final_source, final_at, review_reason, prediction, confidence,
                        created_at, updated_at)
SELECT %(project)s, 'r' || g, jsonb_build_object('text', 'review number ' || g),
       CASE WHEN b < 80 THEN 'done' WHEN b < 87 THEN 'done' WHEN b < 95 THEN 'in_review' ELSE 'auto_accepted' END,
       0, 3, CASE WHEN b < 95 THEN 3 ELSE 0 END,
       CASE WHEN g %% 100 = 7 THEN jsonb_build_object('label', lab) END,
       CASE WHEN b < 87 OR b >= 95 THEN jsonb_build_object('label', lab) END,
       CASE WHEN b < 80 THEN 'consensus' WHEN b < 87 THEN 'reviewer' WHEN b < 95 THEN '' ELSE 'model' END,
       CASE WHEN b < 87 OR b >= 95 THEN now() END,
       CASE WHEN b < 95 AND b >= 87 THEN (ARRAY['disagreement', 'escalated', 'audit'])[1 + b %% 3] ELSE '' END,
       jsonb_build_object('value', jsonb_build_object('label', lab), 'confidence', 0.9, 'model_version', 1),
       0.9, now(), now()
FROM (SELECT g, (g * 37) %% 100 AS b, (%(labels)s::text[])[1 + (g * 7919) %% 3] AS lab
      FROM generate_series(1, %(n)s::bigint) AS g) s
"""

# Each annotator says the true label (the gold, final or predicted one here) with their own accuracy;
# a miss picks one of the two other labels.
FILL_ANNOTATIONS = """
INSERT INTO annotations_annotation (project_id, item_id, user_id, value, skipped, lead_time, created_at)
SELECT i.project_id, i.id, u.id,
       jsonb_build_object('label', CASE WHEN random() < u.acc THEN lab
                                        ELSE (%(labels)s::text[])[1 + ((array_position(%(labels)s::text[], lab)
                                              + (random() < 0.5)::int) %% 3)] END),
       false, 2 + 10 * random(), now() - (random() * interval '30 days')
FROM (SELECT id, project_id, (prediction -> 'value' ->> 'label') AS lab FROM tasks_item
      WHERE project_id = %(project)s AND annotation_count = 3) i
CROSS JOIN LATERAL (SELECT (%(users)s::bigint[])[1 + ((i.id + 7 * j) %% 20)] AS id,
                           0.60 + 0.37 * ((i.id + 7 * j) %% 20) / 19.0 AS acc
                    FROM generate_series(0, 2) AS j) u
"""

FILL_REVIEWS = """
INSERT INTO annotations_reviewdecision (project_id, item_id, reviewer_id, value, note, reason, corrections, created_at)
SELECT project_id, id, %(reviewer)s, final_value, '', CASE WHEN id %% 2 = 0 THEN 'audit' ELSE 'disagreement' END,
       '{}'::jsonb, now()
FROM tasks_item WHERE project_id = %(project)s AND final_source = 'reviewer'
"""


def fill(stack: Stack, project_id: int, n: int, users: list[int], reviewer: int) -> dict:
    import psycopg2

    facts = {}
    conn = psycopg2.connect(stack.env["DATABASE_URL"])
    conn.autocommit = True
    with conn.cursor() as cur:
        for name, sql in [("items", FILL_ITEMS), ("annotations", FILL_ANNOTATIONS), ("review decisions", FILL_REVIEWS)]:
            t0 = time.perf_counter()
            cur.execute(sql, {"labels": LABELS, "n": n, "project": project_id, "users": users, "reviewer": reviewer})
            facts[name] = cur.rowcount
            log(f"{cur.rowcount:,} {name} in {time.perf_counter() - t0:.1f}s")
        t0 = time.perf_counter()
        cur.execute("VACUUM ANALYZE")
        log(f"vacuum analyze in {time.perf_counter() - t0:.1f}s")
    conn.close()
    return facts


def timed(api: Api, path: str) -> tuple[float, object]:
    t0 = time.perf_counter()
    _, body = api.call("GET", path, raw=path.endswith("/dashboard/"))
    return time.perf_counter() - t0, body


def wait_for_snapshot(api: Api, path: str, timeout: float) -> tuple[float, dict]:
    """Poll the stats until they no longer say a snapshot is being computed; (seconds, last answer)."""
    t0 = time.perf_counter()
    while True:
        _, body = api.call("GET", path)
        freshness = body.get("freshness") or {}
        if freshness.get("state") != "computing":
            return time.perf_counter() - t0, body
        if time.perf_counter() - t0 > timeout:
            raise BenchError(f"no stats snapshot after {timeout:.0f} s: {freshness}")
        time.sleep(1.0)


def session_client(stack: Stack, username: str) -> Api:
    """An Api whose requests carry a Django session cookie (login form), for the pages."""
    import http.client
    import re

    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=600)
    conn.request("GET", "/login/", headers={"Host": "127.0.0.1"})
    resp = conn.getresponse()
    html = resp.read().decode()
    cookies = dict(c.split(";")[0].split("=", 1) for c in resp.headers.get_all("Set-Cookie") or [])
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    body = f"csrfmiddlewaretoken={token}&username={username}&password={PASSWORD}".encode()
    conn.request("POST", "/login/", body=body, headers={
        "Host": "127.0.0.1", "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), "Referer": f"http://127.0.0.1:{stack.port}/login/"})
    resp = conn.getresponse()
    resp.read()
    cookies.update(dict(c.split(";")[0].split("=", 1) for c in resp.headers.get_all("Set-Cookie") or []))
    if "sessionid" not in cookies:
        raise BenchError(f"login for the pages failed ({resp.status})")
    conn.close()
    api = Api(stack.port, 600)
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    base = api._headers
    api._headers = lambda extra=None: {**base(extra), "Cookie": cookie, "Accept": "text/html"}
    return api


# Run in a `manage.py shell` of the stack: the live figures' plans, and (with --inline) the old way's time.
PROBE = """
import json, sys, time
from django.db import connection
from annotations import stats
from tasks.models import Project
project = Project.objects.get(pk=int(sys.argv[-2]))
out = {}
t0 = time.perf_counter(); stats.live_figures(project); out["live_figures_s"] = round(time.perf_counter() - t0, 3)
with connection.cursor() as cur:
    for name, sql in [("live figures", "SELECT status, review_reason, count(id) FROM tasks_item "
                                       "WHERE project_id = %s GROUP BY status, review_reason")]:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, [project.pk])
        print(name, *["  " + r[0] for r in cur.fetchall()], sep=chr(10), file=sys.stderr)
if sys.argv[-1] == "inline":
    t0 = time.perf_counter(); stats.project_stats(project); out["inline_compute_s"] = round(time.perf_counter() - t0, 1)
print(json.dumps(out))
"""


def probe(stack: Stack, project_id: int, inline: bool) -> dict:
    """In a process of the stack: live figures' time and plans; the whole inline computation if asked."""
    import subprocess

    from bench.stack import ROOT

    proc = subprocess.run([sys.executable, "-c", "import django; django.setup()\n" + PROBE, str(project_id),
                           "inline" if inline else "-"], cwd=ROOT, env=stack.env, capture_output=True, text=True,
                          timeout=1800)
    if proc.returncode:
        raise BenchError(f"probe failed: {proc.stderr[-2000:]}")
    print(proc.stderr, file=sys.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="items (3 annotations each)")
    parser.add_argument("--samples", type=int, default=7, help="warm calls of each")
    parser.add_argument("--timeout", type=int, default=900, help="seconds for the first (computing) call")
    parser.add_argument("--keep", action="store_true", help="keep the stack's logs (and data dir) for profiling")
    parser.add_argument("--inline", action="store_true",
                        help="also time the whole computation in one process (what each request cost before)")
    args = parser.parse_args(argv)

    stack = Stack("postgres", pg_durability="production", web_workers=2, keep=args.keep)
    with stopping(stack, "stats bench"):
        stack.start()
        admin = Api(stack.port, args.timeout).login("admin", PASSWORD)
        _, project = admin.call("POST", "/api/projects/", {"name": "stats bench", "task_type": "classification",
                                                          "labels": LABELS, "overlap": 3}, expect=(201,))
        pid = project["id"]
        users = [add_user(admin, f"ann{i:02d}", "annotator", [pid]).user_id for i in range(ANNOTATORS)]
        reviewer = add_user(admin, "rev", "reviewer", [pid])
        t0 = time.perf_counter()
        facts = fill(stack, pid, args.n, users, reviewer.user_id)
        out: dict = {"n": args.n, **{f"rows_{k.replace(' ', '_')}": v for k, v in facts.items()},
                     "fill_s": round(time.perf_counter() - t0, 1)}
        stats_path, dash_path = f"/api/projects/{pid}/stats/", f"/projects/{pid}/dashboard/"

        seconds, body = timed(reviewer, stats_path)
        out["first_call_s"] = round(seconds, 3)
        out["first_call_state"] = (body.get("freshness") or {}).get("state", "inline")
        log(f"first stats call {seconds:.2f} s ({out['first_call_state']})")
        seconds, body = wait_for_snapshot(reviewer, stats_path, args.timeout)
        out["snapshot_wait_s"] = round(seconds, 1)
        out["freshness"] = body.get("freshness")
        log(f"snapshot ready after {seconds:.1f} s more: {json.dumps(body.get('freshness'))}")
        if body["annotations"] != facts["annotations"]:
            raise BenchError(f"stats count {body['annotations']} annotations, {facts['annotations']} were made")
        agreement = body.get("agreement") or {}
        out["krippendorff_alpha"] = agreement.get("krippendorff_alpha")
        out["pairs"] = len(agreement.get("cohen_kappa") or [])

        stack.stop_process("web")
        stack.start_web()
        browser = session_client(stack, "rev")
        for name, client, path in [("stats", reviewer, stats_path), ("dashboard", browser, dash_path)]:
            seconds, _ = timed(client, path)
            out[f"{name}_cold_s"] = round(seconds, 3)
            warm = [timed(client, path)[0] for _ in range(args.samples)]
            out[f"{name}_warm_p50_s"] = round(statistics.median(warm), 3)
            out[f"{name}_warm_max_s"] = round(max(warm), 3)
            log(f"{name}: cold {seconds:.3f} s, warm p50 {out[f'{name}_warm_p50_s']:.3f} s "
                f"max {out[f'{name}_warm_max_s']:.3f} s")
        out.update(probe(stack, pid, args.inline))
        stack.check_alive()
        missed = [k for k in ("stats_cold_s", "stats_warm_p50_s", "dashboard_cold_s", "dashboard_warm_p50_s")
                  if out[k] > TARGET_S]
        out.update(missed_target=missed, commit=stack.commit, **stack.facts)
        print(json.dumps(out))
        print("\n| call | cold s | warm p50 s | warm max s |\n|---|---:|---:|---:|", file=sys.stderr)
        for name in ("stats", "dashboard"):
            print(f"| {name} | {out[f'{name}_cold_s']} | {out[f'{name}_warm_p50_s']} | {out[f'{name}_warm_max_s']} |",
                  file=sys.stderr)
        return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
