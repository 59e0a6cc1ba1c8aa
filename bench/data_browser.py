"""Data browser latency: `GET /api/projects/{id}/browse/` over HTTP on a million text items (PostgreSQL).

    .venv/bin/python bench/data_browser.py [--n 1000000] [--samples 40] [--plans plans.txt]

Starts the bench stack (throwaway PostgreSQL, migrations, granian), creates a classification
project through the API and fills it in SQL (the import path has its own benchmark, bench/bench.py):
`n` items of 6–15 random words, 40% new, 20% queued with a prediction, 10% auto-accepted, 10%
consensus, 10% in review (half disagreement, half escalated), 10% decided by a reviewer (half after a
disagreement); two annotations on each item past labeling by three annotators, and a fourth
annotator with one item in 2,000. Then, for each filter alone and some combinations: the first page
and pages at random cursors all over the id range (so as deep as the last item), `--samples` in all,
sequentially on one keep-alive connection; prints p50/p95 per case (ms, client side) and, with
`--plans`, PostgreSQL's EXPLAIN ANALYZE of each case's queries to that file.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench import pct  # noqa: E402
from bench.stack import PASSWORD, ROOT, Api, BenchError, Stack, add_user, log, stopping  # noqa: E402

LABELS = ["pos", "neg", "neutral"]
WORDS = ("the a film movie plot acting cast story scene director music script camera ending character "
         "great good fine dull boring fun funny sad dark bright slow fast long short wonderful terrible "
         "awful brilliant clever silly loud quiet warm cold tense gentle sharp flat rich thin bold weak "
         "strong light heavy simple complex honest fake fresh stale moving flat charming tedious lovely "
         "messy clean smart dumb epic small huge odd strange familiar new old classic modern").split()
TARGET_MS = 50.0

FILL_ITEMS = """
WITH s AS (
  SELECT g, g %% 10 AS k, (%(labels)s::text[])[1 + (g * 7) %% 3] AS lab, random() AS c,
         (SELECT string_agg((%(words)s::text[])[1 + floor(random() * %(nw)s)::int], ' ')
            FROM generate_series(1, 6 + g %% 10) WHERE g > 0) AS txt,
         CASE WHEN g %% 5000 = 0 THEN ' zeitgeist' ELSE '' END AS rare
  FROM generate_series(1, %(n)s) AS g
)
INSERT INTO tasks_item (project_id, external_id, data, status, priority, needed, annotation_count, gold,
                        final_value, final_source, final_at, review_reason, prediction, confidence,
                        created_at, updated_at)
SELECT %(project)s, 'r' || g, jsonb_build_object('text', txt || rare),
       CASE WHEN k < 4 THEN 'new' WHEN k < 6 THEN 'queued' WHEN k = 6 THEN 'auto_accepted'
            WHEN k = 8 THEN 'in_review' ELSE 'done' END,
       CASE WHEN k BETWEEN 4 AND 5 THEN 1 - c ELSE 0 END, 2,
       CASE WHEN k >= 7 THEN 2 ELSE 0 END, NULL,
       CASE WHEN k IN (6, 7, 9) THEN jsonb_build_object('label', lab) END,
       CASE k WHEN 6 THEN 'model' WHEN 7 THEN 'consensus' WHEN 9 THEN 'reviewer' ELSE '' END,
       CASE WHEN k IN (6, 7, 9) THEN now() END,
       CASE WHEN k = 8 THEN CASE WHEN g %% 20 = 8 THEN 'disagreement' ELSE 'escalated' END ELSE '' END,
       CASE WHEN k >= 4 THEN jsonb_build_object('value', jsonb_build_object('label', lab), 'confidence', c,
                                                'model_version', 1, 'scores', '{}'::jsonb) END,
       CASE WHEN k >= 4 THEN c END,
       now(), now()
FROM s
"""

FILL_ANNOTATIONS = """
INSERT INTO annotations_annotation (project_id, item_id, user_id, value, skipped, lead_time, created_at)
SELECT i.project_id, i.id, (%(users)s::bigint[])[1 + ((i.id + j) %% 3)],
       COALESCE(i.final_value, i.prediction -> 'value'), false, 3.0, now()
FROM tasks_item i, generate_series(0, 1) AS j
WHERE i.project_id = %(project)s AND i.annotation_count = 2
UNION ALL
SELECT i.project_id, i.id, %(rare)s, COALESCE(i.prediction -> 'value', '{"label": "pos"}'::jsonb), false, 3.0, now()
FROM tasks_item i WHERE i.project_id = %(project)s AND i.annotation_count = 0 AND i.id %% 2000 = 0

"""

FILL_REVIEWS = """
INSERT INTO annotations_reviewdecision (project_id, item_id, reviewer_id, value, note, reason, corrections, created_at)
SELECT i.project_id, i.id, %(reviewer)s, i.final_value, '',
       CASE WHEN (i.id / 10) %% 2 = 0 THEN 'disagreement' ELSE 'escalated' END, '{}'::jsonb, now()
FROM tasks_item i WHERE i.project_id = %(project)s AND i.final_source = 'reviewer'
"""


def fill(stack: Stack, project_id: int, n: int, users: list[int], rare: int, reviewer: int) -> None:
    import psycopg2

    conn = psycopg2.connect(stack.env["DATABASE_URL"])
    conn.autocommit = True
    with conn.cursor() as cur:
        for name, sql, params in [
            ("items", FILL_ITEMS, {"labels": LABELS, "words": WORDS, "nw": len(WORDS), "n": n, "project": project_id}),
            ("annotations", FILL_ANNOTATIONS, {"users": users, "project": project_id, "rare": rare}),
            ("review decisions", FILL_REVIEWS, {"reviewer": reviewer, "project": project_id}),
        ]:
            t0 = time.perf_counter()
            cur.execute(sql, params)
            log(f"{cur.rowcount} {name} in {time.perf_counter() - t0:.1f}s")
        t0 = time.perf_counter()
        cur.execute("VACUUM ANALYZE")
        log(f"vacuum analyze in {time.perf_counter() - t0:.1f}s")
        cur.execute("SELECT min(id), max(id) FROM tasks_item WHERE project_id = %s", [project_id])
        lo, hi = cur.fetchone()
        cur.execute("SELECT pg_size_pretty(pg_total_relation_size('tasks_item'))")
        stack.facts["tasks_item_size"] = cur.fetchone()[0]
    conn.close()
    stack.facts["id_range"] = (lo, hi)


def cases(users: list[int], rare: int) -> list[tuple[str, dict]]:
    a1, a2 = users[0], users[1]
    return [
        ("no filter", {}),
        ("status=queued", {"status": "queued"}),
        ("status=in_review", {"status": "in_review"}),
        ("source=reviewer", {"source": "reviewer"}),
        ("source=none", {"source": "none"}),
        ("annotator (200k items)", {"annotator": a1}),
        ("annotator (500 items)", {"annotator": rare}),
        ("confidence 0.4–0.6", {"confidence_min": 0.4, "confidence_max": 0.6}),
        ("confidence 0.5–0.501", {"confidence_min": 0.5, "confidence_max": 0.501}),
        ("confidence ≥ 0.99", {"confidence_min": 0.99}),
        ("disagreement", {"disagreement": 1}),
        ("label=neg", {"label": "neg"}),
        ("q=boring (common word)", {"q": "boring"}),
        ("q=zeitgeist (1 in 5,000)", {"q": "zeitgeist"}),
        ('q="great fun" (phrase)', {"q": '"great fun"'}),
        ("q=charming -boring", {"q": "charming -boring"}),
        ("status=done & label=pos", {"status": "done", "label": "pos"}),
        ("source=consensus & annotator & conf ≥ 0.8",
         {"source": "consensus", "annotator": a1, "confidence_min": 0.8}),
        ("q=boring & label=neg", {"q": "boring", "label": "neg"}),
        ("disagreement & annotator", {"disagreement": 1, "annotator": a2}),
        ("q=zeitgeist & status=queued", {"q": "zeitgeist", "status": "queued"}),
        ("annotator (500 items) & q=boring", {"annotator": rare, "q": "boring"}),
    ]


def measure(api: Api, project_id: int, params: dict, samples: int, id_range: tuple[int, int],
            rng: random.Random) -> tuple[list[float], int]:
    """First page a few times, then pages from random `after`/`before` cursors over the whole id range."""
    base = f"/api/projects/{project_id}/browse/"
    times: list[float] = []
    rows = 0
    for i in range(samples + 3):
        query = dict(params)
        if i % 4 != 0:
            key = "after" if i % 2 else "before"
            query[key] = rng.randint(*id_range)
        t0 = time.perf_counter()
        _, page = api.call("GET", f"{base}?{urlencode(query)}")
        elapsed = (time.perf_counter() - t0) * 1000
        if i >= 3:  # warm-up
            times.append(elapsed)
            rows += len(page["results"])
    return times, rows


def deep_paging(api: Api, project_id: int, params: dict, id_range: tuple[int, int], pages: int) -> list[float]:
    """Follow `next` for `pages` pages from 90% of the way through the items."""
    base = f"/api/projects/{project_id}/browse/"
    after = id_range[0] + int((id_range[1] - id_range[0]) * 0.9)
    times = []
    for _ in range(pages):
        t0 = time.perf_counter()
        _, page = api.call("GET", f"{base}?{urlencode({**params, 'after': after})}")
        times.append((time.perf_counter() - t0) * 1000)
        if page["next"] is None:
            break
        after = page["next"]
    return times


EXPLAIN = """
import json, sys, time
import django
django.setup()
from django.db import connection
from annotations import browse
from tasks.models import Project
project = Project.objects.get(pk=int(sys.argv[1]))
middle = int(sys.argv[3])
for name, params in json.loads(sys.argv[2]):
    filters = browse.parse_filters(project, params)
    # The plan of the first try: a search walks the items in id order first (browse.browse).
    settings = {"enable_seqscan": "off", "enable_bitmapscan": "off"} if filters.q else {}
    with browse._planner(**settings):
        for qs in browse._branches(project, filters, after=middle):
            sql, ps = qs.order_by("id")[:51].query.sql_with_params()
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = '10s'")
                cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, ps)
                print(f"== {name} {json.dumps(params)} after={middle} {settings}")
                print("\\n".join(r[0] for r in cursor.fetchall()))
    first, deep = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        page = browse.browse(project, filters)
        first.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        browse.browse(project, filters, browse.Cursor(after=middle))
        deep.append(time.perf_counter() - t0)
    print(f"-- {name}: browse() median first page (counted: {page.count}{'+' if page.count_capped else ''}"
          f"{' estimated' if page.count_estimated else ''}) {sorted(first)[2] * 1000:.1f} ms, "
          f"from the middle {sorted(deep)[2] * 1000:.1f} ms")
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--plans", type=Path, help="write EXPLAIN ANALYZE of every case here")
    parser.add_argument("--keep", action="store_true", help="keep the stack's logs")
    args = parser.parse_args(argv)

    stack = Stack("postgres", pg_durability="bench", web_workers=2, keep=args.keep)
    with stopping(stack, "data browser bench"):
        stack.start()
        admin = Api(stack.port, 60).login("admin", PASSWORD)
        _, project = admin.call("POST", "/api/projects/", {"name": "browse bench", "task_type": "classification",
                                                          "labels": LABELS}, expect=(201,))
        pid = project["id"]
        annotators = [add_user(admin, f"ann{i}", "annotator", [pid]) for i in (1, 2, 3)]
        rare = add_user(admin, "rare", "annotator", [pid])
        reviewer = add_user(admin, "rev", "reviewer", [pid])
        users = [a.user_id for a in annotators]
        t0 = time.perf_counter()
        fill(stack, pid, args.n, users, rare.user_id, reviewer.user_id)
        log(f"filled {args.n} items in {time.perf_counter() - t0:.0f}s ({stack.facts['tasks_item_size']})")
        id_range = stack.facts["id_range"]
        all_cases = cases(users, rare.user_id)

        if args.plans:
            middle = (id_range[0] + id_range[1]) // 2
            plans = subprocess.run([sys.executable, "-c", EXPLAIN, str(pid), json.dumps(all_cases), str(middle)],
                                   env=stack.env, cwd=ROOT, capture_output=True, text=True, timeout=600)
            if plans.returncode:
                raise BenchError(f"EXPLAIN failed: {plans.stderr[-2000:]}")
            args.plans.write_text(plans.stdout)
            log(f"plans in {args.plans}")

        rng = random.Random(7)
        results = []
        for name, params in all_cases:
            times, rows = measure(reviewer, pid, params, args.samples, id_range, rng)
            results.append({"case": name, "params": params, "p50_ms": round(pct(times, 50), 1),
                            "p95_ms": round(pct(times, 95), 1), "rows_per_page": round(rows / len(times), 1)})
            log(f"{name:45} p50 {results[-1]['p50_ms']:6.1f} ms  p95 {results[-1]['p95_ms']:6.1f} ms  "
                f"rows/page {results[-1]['rows_per_page']}")
        for name, params in [("deep paging, no filter", {}), ("deep paging, q=boring", {"q": "boring"}),
                             ("deep paging, disagreement", {"disagreement": 1})]:
            times = deep_paging(reviewer, pid, params, id_range, 30)
            results.append({"case": name, "params": params, "p50_ms": round(pct(times, 50), 1),
                            "p95_ms": round(pct(times, 95), 1), "pages": len(times)})
            log(f"{name:45} p50 {results[-1]['p50_ms']:6.1f} ms  p95 {results[-1]['p95_ms']:6.1f} ms")
        stack.check_alive()
        missed = [r["case"] for r in results if r["p50_ms"] >= TARGET_MS]
        print(json.dumps({"n": args.n, "results": results, "missed_target": missed, **stack.facts,
                          "commit": stack.commit}, indent=1))
        print("\n| case | p50 ms | p95 ms |\n|---|---:|---:|", file=sys.stderr)
        for r in results:
            print(f"| {r['case']} | {r['p50_ms']} | {r['p95_ms']} |", file=sys.stderr)
        return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
