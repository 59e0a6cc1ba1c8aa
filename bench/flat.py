#!/usr/bin/env python
"""`next` and submit at several project sizes in the same minutes: one stack per size, the labeling rotated
among them; prints one JSON line on stdout.

    .venv/bin/python bench/flat.py --sizes 10000,100000,1000000

`bench.py` measures one size per run. On this kind of host the same requests can take up to twice the CPU from
one minute to the next, so two runs of `bench.py` at two sizes compare two moments as much as two sizes. Here
every size has a stack of its own, started as `bench.py` starts it (PostgreSQL with fsync on, Redis, a Celery
worker, granian as docker-compose.yml runs it), with one project imported through the API (the stacks one after
the other). Then one annotator per project labels in batches, as `bench.py` does: `--batch` `next` calls
(prefetch-style, each excluding the batch's leases so far) and the submissions of what they handed out; each
batch goes to the next size in turn, so that every size sees the same moments of the host.

The result, per size: p50 / p95 of `next` and of submit over `--batches` timed batches (after two untimed ones),
and the web server's and PostgreSQL's CPU per request; per block of `--block` batches of every size, each size's
p50s side by side (a slow spell is a block in which every size is slower) and the ratio of the slowest size's
p50 to the fastest's.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench import (  # noqa: E402
    EXCLUDE_MAX,
    label_batch,
    latency_facts,
    pct,
    run_import,
    start_project,
    synthetic_records,
)
from bench.stack import Api, Stack, cpu_by_part, log, run_command, wait_for_quiet_database  # noqa: E402

WARMUP_BATCHES = 2


@dataclass
class Size:
    n: int
    stack: Stack
    annotator: Api
    project_id: int
    imported: dict
    next_ms: list[float] = field(default_factory=list)  # timed samples, in order
    submit_ms: list[float] = field(default_factory=list)
    requests: int = 0  # timed or not, for the CPU per request


def start_size(n: int, args: argparse.Namespace) -> Size:
    stack = Stack("postgres", prefix=f"hitl-flat-{n}-")
    try:
        stack.start()
        admin, annotator, project = start_project(stack, n, args.http_timeout)
        imported = run_import(admin, stack, project["id"], synthetic_records(n), "file", args.import_timeout, 0)
    except BaseException:
        stack.stop()
        raise
    log(f"{n}: imported at {imported['import_items_per_s']} items/s")
    return Size(n, stack, annotator, project["id"], imported)


def label(sizes: list[Size], batches: int, batch: int) -> None:
    """WARMUP_BATCHES + `batches` batches per size; round r starts at size r mod len(sizes)."""
    for r in range(WARMUP_BATCHES + batches):
        for k in range(len(sizes)):
            size = sizes[(r + k) % len(sizes)]
            next_ms, submit_ms = label_batch(size.annotator, size.project_id, batch)
            size.requests += len(next_ms) + len(submit_ms)
            if r >= WARMUP_BATCHES:
                size.next_ms += next_ms
                size.submit_ms += submit_ms


def p50(samples: list[float]) -> float:
    return round(pct(samples, 50), 2)


def blocks(sizes: list[Size], per_block: int) -> list[dict]:
    """Each size's p50s over the same stretch of batches, and how far apart the sizes are in it."""
    out = []
    for start in range(0, len(sizes[0].submit_ms), per_block):
        part = {s.n: (s.next_ms[start:start + per_block], s.submit_ms[start:start + per_block]) for s in sizes}
        row: dict = {"next_p50_ms": {n: p50(a) for n, (a, _) in part.items()},
                     "submit_p50_ms": {n: p50(b) for n, (_, b) in part.items()}}
        for kind in ("next", "submit"):
            values = row[f"{kind}_p50_ms"].values()
            row[f"{kind}_spread"] = round(max(values) / min(values), 2)
        out.append(row)
    return out


def bench(args: argparse.Namespace) -> dict:
    sizes: list[Size] = []
    try:
        for n in args.sizes:
            sizes.append(start_size(n, args))
        for size in sizes:  # the last import's maintenance may have run beside the others' stacks
            wait_for_quiet_database(size.stack)
        cpu_before = [cpu_by_part(s.stack) for s in sizes]
        t0 = time.perf_counter()
        label(sizes, args.batches, args.batch)
        seconds = time.perf_counter() - t0
        cpu_after = [cpu_by_part(s.stack) for s in sizes]
        for size in sizes:
            size.stack.check_alive()
        result: dict = {"sizes": {}, "labeling_seconds": round(seconds, 2), "batch": args.batch,
                        "batches": args.batches}
        for size, before, after in zip(sizes, cpu_before, cpu_after):
            # PostgreSQL's backends and the rest of its processes together: a backend that ended (a connection the
            # web server re-opened) is counted with the rest.
            spent = {"web": after["web"] - before["web"],
                     "postgres": sum(after[p] - before[p] for p in ("postgres_clients", "postgres_other"))}
            per_request = {part: round(seconds / size.requests * 1000, 3) for part, seconds in spent.items()}
            result["sizes"][size.n] = {
                **latency_facts("next", size.next_ms), **latency_facts("submit", size.submit_ms),
                "cpu_ms_per_request": per_request, "import_items_per_s": size.imported["import_items_per_s"]}
        result["blocks"] = blocks(sizes, args.block * args.batch)
        result.update(sizes[0].stack.facts)
        result["commit"] = sizes[0].stack.commit
        return result
    finally:
        for size in reversed(sizes):
            size.stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=lambda text: [int(n) for n in text.split(",")],
                        default=[10_000, 100_000, 1_000_000], help="project sizes, comma-separated")
    parser.add_argument("--batch", type=int, default=10, help=f"leases per batch (at most {EXCLUDE_MAX})")
    parser.add_argument("--batches", type=int, default=60, help="timed batches per size")
    parser.add_argument("--block", type=int, default=10, help="batches per size in each block of the result")
    parser.add_argument("--http-timeout", type=float, default=600, help="socket timeout of the clients (s)")
    parser.add_argument("--import-timeout", type=float, default=900, help="how long to wait for an import job (s)")
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= EXCLUDE_MAX:
        parser.error(f"--batch must be between 1 and {EXCLUDE_MAX}")
    if min(args.sizes) < (WARMUP_BATCHES + args.batches) * args.batch:
        parser.error("every size needs at least (2 + --batches) * --batch items")

    return run_command("bench", lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())
