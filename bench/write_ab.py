#!/usr/bin/env python
"""The write path's statements, A against B in one PostgreSQL, interleaved: what a schema change saves.

    .venv/bin/python bench/write_ab.py copy --alter-b "DROP INDEX item_browse_id"
    .venv/bin/python bench/write_ab.py route --n 300000 --alter-b ""          # A against an identical B
    .venv/bin/python bench/write_ab.py predictions --alter-b "DROP INDEX prediction_model"

Whole benchmark runs on this machine differ by up to half from one run to the next (the CPU's speed
changes by the minute), more than most schema changes save. Here two databases of one throwaway PostgreSQL
(fsync on) get the same statements turn about, batch after batch (A first, then B first, ...), so that both
see the same moments; each side's figure is its backend's CPU time (/proc), summed over the batches and its
commit. Database A is as migrated; B is a copy of it (`CREATE DATABASE ... TEMPLATE`) altered by
`--alter-b` (SQL, `;`-separated). Run it once with an empty `--alter-b` to see how far apart two identical
sides come out.

The statements, as the code sends them:
- `copy`: an import's COPY of plain records (`dataio.importing`, its narrow columns), `--n` rows a side per
  repetition in batches of 20,000, all in one transaction per side and repetition, without the per-row
  foreign-key checks (as a superuser imports, `common.row_checks`);
- `route`: pre-labeling's routing UPDATE (`tasks.items.write_scored`) of `--n` imported items, batches of 10,000,
  new -> queued with a prediction, confidence and priority;
- `predictions`: pre-labeling's INSERT ... ON CONFLICT of a version's predictions (`models_registry.prelabel`),
  batches of 10,000;
- `annotations`: an annotated import's COPY of one annotation and one finished lease per item (`dataio.importing`,
  `_insert_annotations`), `--n` items, batches of 20,000, without the per-row foreign-key checks.

Prints one line per side and the ratio B/A on stderr, one JSON line on stdout.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import ROOT, Stack, log, process_cpu  # noqa: E402

WORDS = ("the product arrived quickly and works exactly as described but the battery life is shorter than "
         "expected great value").split()
SIDES = ("A", "B")


def _texts(rng: random.Random, start: int, n: int) -> list[tuple[str, str]]:
    return [(f"r{i}", json.dumps({"text": " ".join(rng.choices(WORDS, k=15))})) for i in range(start, start + n)]


class Sides:
    """The two databases' connections, each with its backend's pid; statements run turn about."""

    def __init__(self, url: str, alter_b: str):
        import psycopg2
        base = url.rsplit("/", 1)[0]
        admin = psycopg2.connect(base + "/postgres")
        admin.autocommit = True
        admin.cursor().execute("CREATE DATABASE hitl_b TEMPLATE hitl")
        self.conns, self.cpu = {}, dict.fromkeys(SIDES, 0.0)
        for side, dsn in (("A", url), ("B", base + "/hitl_b")):
            conn = psycopg2.connect(dsn)
            conn.autocommit = True
            with conn.cursor() as cur:
                if side == "B":
                    for statement in filter(str.strip, alter_b.split(";")):
                        cur.execute(statement)
                cur.execute("VACUUM ANALYZE")  # and every table read once: neither side starts cold
                cur.execute("SELECT pg_backend_pid()")
                pid = cur.fetchone()[0]
            conn.autocommit = False
            self.conns[side] = (conn, pid)
        admin.cursor().execute("CHECKPOINT")
        admin.close()

    def run(self, turn: int, work) -> None:
        """`work(cursor)` on both sides, A first on even turns, B first on odd ones."""
        for side in SIDES if turn % 2 == 0 else SIDES[::-1]:
            conn, pid = self.conns[side]
            before = process_cpu(pid)
            with conn.cursor() as cur:
                work(cur)
            self.cpu[side] += process_cpu(pid) - before

    def commit(self) -> None:
        for side in SIDES:
            conn, pid = self.conns[side]
            before = process_cpu(pid)
            conn.commit()
            self.cpu[side] += process_cpu(pid) - before


def _django(stack: Stack) -> None:
    os.environ.update(stack.django_env())
    import django
    django.setup()


def _project_with_items(n: int, rng: random.Random) -> tuple[int, int, int]:
    """A project with `n` imported items (in A, before B is copied from it): its id and the items' id range."""
    from django.db import connection

    from dataio import importing
    from dataio.records import Record
    from tasks.models import Project
    project = Project.objects.create(name="write_ab", task_type="classification", labels=["a", "b"])
    records = (Record(number=k + 1, data=json.loads(text), external_id=ext, gold=None)
               for k, (ext, text) in enumerate(_texts(rng, 0, n)))
    importing.import_into(project, records)
    with connection.cursor() as cur:
        cur.execute("SELECT min(id), max(id) FROM tasks_item WHERE project_id = %s", [project.pk])
        low, high = cur.fetchone()
    connection.close()
    return project.pk, low, high


def bench_copy(url: str, args, rng: random.Random) -> Sides:
    from django.db import connection

    from dataio import importing
    from tasks.models import Project
    project = Project.objects.create(name="write_ab", task_type="classification", labels=["a", "b"]).pk
    connection.close()
    sides = Sides(url, args.alter_b)
    columns = ", ".join(importing._NARROW_COLUMNS)
    next_id, turn = 1, 0
    for rep in range(args.reps):
        sides.run(0, lambda cur: cur.execute("SET LOCAL session_replication_role = replica; "
                                             "SET LOCAL hitl.defer_text_search = 'on'"))
        for start in range(0, args.n, 20_000):
            rows = _texts(rng, rep * args.n + start, min(20_000, args.n - start))
            text = "".join(f"{next_id + k}\t{project}\t{ext}\t{data}\t1\n" for k, (ext, data) in enumerate(rows))
            next_id += len(rows)
            sides.run(turn, lambda cur: cur.copy_expert(f"COPY tasks_item ({columns}) FROM STDIN",
                                                        io.StringIO(text), size=1 << 16))
            turn += 1
        sides.commit()
    return sides


def _scores(confidence: float) -> str:
    """A two-label prediction's scores as JSON."""
    return f'{{"a":{confidence},"b":{1 - confidence}}}'


def _batches(low: int, high: int):
    for start in range(low, high + 1, 10_000):
        yield list(range(start, min(start + 10_000, high + 1)))


def bench_route(url: str, args, rng: random.Random) -> Sides:
    from django.utils import timezone

    from tasks import items
    _, low, high = _project_with_items(args.n, rng)
    sides = Sides(url, args.alter_b)
    now = timezone.now()
    for turn, ids in enumerate(_batches(low, high)):
        conf = [rng.random() for _ in ids]
        n = len(ids)
        scored = items.Scored(
            ids=ids, prediction=[f'{{"model_version":1,"value":{{"label":"a"}},"confidence":{c},"scores":{_scores(c)}}}'
                                 for c in conf],
            confidence=conf, priority=[1 - c for c in conf], needed=[1] * n, status=["queued"] * n,
            final_value=[None] * n, final_source=[""] * n, final_at=[None] * n, review_reason=[""] * n,
            was_status=["new"] * n, was_source=[""] * n, was_count=[0] * n)
        params = [now, *scored.literals(), ids[0], ids[-1]]
        sides.run(turn, lambda cur: cur.execute(items._ROUTE_SQL, params))
    sides.commit()
    return sides


def bench_predictions(url: str, args, rng: random.Random) -> Sides:
    from django.db import connection
    from django.utils import timezone

    from models_registry import prelabel
    from models_registry.models import ModelVersion
    from tasks import bulk
    project, low, high = _project_with_items(args.n, rng)
    version = ModelVersion.objects.create(project_id=project, version=1, backend="text", labels=["a", "b"]).pk
    connection.close()
    sides = Sides(url, args.alter_b)
    now = timezone.now()
    for turn, ids in enumerate(_batches(low, high)):
        conf = [rng.random() for _ in ids]
        params = [version, now, bulk.ints(ids), bulk.texts('{"label":"a"}' for _ in ids), bulk.floats(conf),
                  bulk.texts(map(_scores, conf))]
        sides.run(turn, lambda cur: cur.execute(prelabel._INSERT_PREDICTIONS, params))
    sides.commit()
    return sides


def bench_annotations(url: str, args, rng: random.Random) -> Sides:
    from django.db import connection
    from django.utils import timezone

    from accounts.models import User
    from dataio import importing
    project, low, high = _project_with_items(args.n, rng)
    user = User.objects.create_user(username="write_ab", password="write-ab-4711", role="annotator").pk
    connection.close()
    sides = Sides(url, args.alter_b)
    at = timezone.now().isoformat()
    sides.run(0, lambda cur: cur.execute("SET LOCAL session_replication_role = replica"))
    for turn, start in enumerate(range(low, high + 1, 20_000)):
        ids = range(start, min(start + 20_000, high + 1))
        labels = [rng.choice("ab") for _ in ids]
        annotations = "".join(f'{project}\t{pk}\t{user}\t{{"label": "{label}"}}\tf\t\\N\t{at}\n'
                              for pk, label in zip(ids, labels))
        leases = "".join(f"{project}\t{pk}\t{user}\tsubmitted\t{at}\t{at}\t{at}\n" for pk in ids)

        def copy(cur):
            cur.copy_expert(f"COPY annotations_annotation ({', '.join(importing._ANNOTATION_COLUMNS)}) FROM STDIN",
                            io.StringIO(annotations), size=1 << 16)
            cur.copy_expert(f"COPY tasks_assignment ({', '.join(importing._ASSIGNMENT_COLUMNS)}) FROM STDIN",
                            io.StringIO(leases), size=1 << 16)
        sides.run(turn, copy)
    sides.commit()
    return sides


STATEMENTS = {"copy": bench_copy, "route": bench_route, "predictions": bench_predictions,
              "annotations": bench_annotations}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("statement", choices=sorted(STATEMENTS))
    parser.add_argument("--alter-b", default="", help="SQL that makes database B differ (`;`-separated)")
    parser.add_argument("--n", type=int, default=250_000, help="rows a side (copy: per repetition)")
    parser.add_argument("--reps", type=int, default=2, help="copy: repetitions, each one transaction a side")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    stack = Stack("postgres", prefix="hitl-write-ab-")
    try:
        stack.start_backend()
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=stack.env, check=True,
                       cwd=ROOT)
        _django(stack)
        sides = STATEMENTS[args.statement](stack.env["DATABASE_URL"], args, random.Random(args.seed))
    finally:
        stack.stop()
    rows = args.n * (args.reps if args.statement == "copy" else 1)
    for side in SIDES:
        seconds = sides.cpu[side]
        log(f"{args.statement} {side}: {seconds:.2f} s of backend CPU, {1e6 * seconds / rows:.2f} µs a row")
    ratio = sides.cpu["B"] / sides.cpu["A"]
    log(f"B/A {ratio:.3f}  (B: {args.alter_b or 'as A'})")
    print(json.dumps({"statement": args.statement, "alter_b": args.alter_b, "rows": rows,
                      "seconds_a": sides.cpu["A"], "seconds_b": sides.cpu["B"], "b_over_a": round(ratio, 3),
                      "commit": stack.commit,
                      "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
