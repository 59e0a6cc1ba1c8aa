#!/usr/bin/env python
"""Import and export at scale on PostgreSQL: throughput and peak memory at 100k and 1M items.

    .venv/bin/python bench/import_export.py                     # 100,000 and 1,000,000 items
    .venv/bin/python bench/import_export.py --sizes 100000      # one size

For each size a throwaway PostgreSQL (fsync on, as in production) gets a fresh schema, then:

- **import (CLI)**: a generated JSON Lines file of N text items (movie-review-like snippets with an
  external id) goes in with `manage.py import_items --no-progress`, in its own process; the time is
  the process's wall time (start-up included), the memory its peak RSS (`wait4`, started from a small
  process of its own: see `run_measured`).
- **import (HTTP)**: the same file uploaded to `POST /api/projects/{id}/import/` through granian;
  the upload is streamed to disk and imported by a Celery worker; the time runs from the first
  byte sent until the job has succeeded.
- **annotated import**: N items that each carry one annotator's label (`labels_as=annotations`),
  written as items + annotations + leases with COPY.
- **export**: once the worker has built the imports' search vectors (a job after each import, which
  would otherwise share the CPU with the export), of that annotated project,
  `GET /api/projects/{id}/export/?format=jsonl` streamed over
  HTTP (lines counted) and `manage.py export_items --format jsonl` to a file in its own process
  (peak RSS).

Prints a table per size on stderr and one JSON line with everything on stdout.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import (  # noqa: E402
    PASSWORD,
    ROOT,
    Api,
    BenchError,
    Stack,
    add_user,
    log,
    stopping,
    wait_for_job,
    wait_for_quiet_database,
    wait_for_search_vectors,
)

WORDS = ("a wonderful moving film brilliant acting clever script joy funny warm beautifully shot best "
         "superb gripping story dull lifeless mess boring far too long worst clumsy tedious awful waste "
         "cast tiresome muddled bore").split()
LABELS = ["fresh", "rotten"]


def write_jsonl(path: Path, n: int, *, annotated: bool) -> int:
    """N records, written as they are made (the generator holds none of them)."""
    rnd = random.Random(n)
    with open(path, "w") as out:
        for i in range(n):
            text = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(8, 24)))
            record = {"data": {"text": text}, "external_id": f"r{i}"}
            if annotated:
                record["label"] = LABELS[i % 2]
            out.write(json.dumps(record) + "\n")
    return path.stat().st_size


# Starts the command and prints its peak RSS (kB) last. The kernel's peak RSS of a process includes the
# peak of the one it was forked from (its copy of that memory until exec): measured from this benchmark,
# which held a 1M-line upload in memory, every later command "peaked" at this process's 327 MB.
_LAUNCHER = ("import os, sys; pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ); "
             "_, status, usage = os.wait4(pid, 0); print(f'\\npeak_rss_kb={usage.ru_maxrss}', flush=True); "
             "sys.exit(os.waitstatus_to_exitcode(status))")


def run_measured(stack: Stack, argv: list[str]) -> tuple[float, int, str]:
    """Run `manage.py argv` in its own process: (wall seconds, peak RSS in MB, its output)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _LAUNCHER, sys.executable, str(ROOT / "manage.py"), *argv],
                          cwd=ROOT, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    output, _, peak = proc.stdout.decode(errors="replace").rpartition("\npeak_rss_kb=")
    if proc.returncode != 0 or not peak:
        raise BenchError(f"manage.py {' '.join(argv)} failed (exit {proc.returncode}):\n{output[-3000:]}")
    return seconds, int(peak) // 1024, output.strip()


def new_project(admin: Api, name: str) -> int:
    _, project = admin.call("POST", "/api/projects/", {"name": name, "task_type": "classification",
                                                       "labels": LABELS}, expect=(201,))
    return project["id"]


def upload(admin: Api, stack: Stack, project_id: int, path: Path, timeout: float) -> float:
    """Multipart upload of the file; seconds until its import job succeeded."""
    boundary = "hitl-bench-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: application/x-ndjson\r\n\r\n").encode()
    body = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    t0 = time.perf_counter()
    status, answer = admin.call("POST", f"/api/projects/{project_id}/import/", body=body, expect=(201, 202),
                                content_type=f"multipart/form-data; boundary={boundary}")
    if status == 202:
        job = wait_for_job(admin, stack, answer["job"], timeout)
        if job["state"] != "succeeded":
            raise BenchError(f"import job failed: {job['error']}")
    return time.perf_counter() - t0


def settle(stack: Stack) -> None:
    """Before a timed import: the previous import's search vectors built (1M items: about 36 s of the worker's
    CPU, which the next import shared until then: 94,000-110,000 items/s over HTTP at 1M, against bench.py's
    126,000-133,000), its vacuums done and its checkpoint ended (`wait_for_quiet_database`)."""
    wait_for_search_vectors(stack)
    wait_for_quiet_database(stack)


def one_size(stack: Stack, admin: Api, n: int, args) -> dict:
    out: dict = {"n": n}
    plain, annotated = stack.root / f"plain-{n}.jsonl", stack.root / f"annotated-{n}.jsonl"
    out["file_mb"] = round(write_jsonl(plain, n, annotated=False) / 1e6, 1)
    write_jsonl(annotated, n, annotated=True)

    project = new_project(admin, f"cli {n}")
    seconds, rss, _ = run_measured(stack, ["import_items", str(project), str(plain), "--no-progress"])
    out.update(import_cli_s=round(seconds, 2), import_cli_items_per_s=round(n / seconds),
               import_cli_peak_rss_mb=rss)
    log(f"{n}: CLI import {seconds:.1f} s = {n / seconds:,.0f} items/s, peak RSS {rss} MB")

    if n <= args.http_max:
        settle(stack)
        project = new_project(admin, f"http {n}")
        seconds = upload(admin, stack, project, plain, args.timeout)
        out.update(import_http_s=round(seconds, 2), import_http_items_per_s=round(n / seconds))
        log(f"{n}: HTTP import {seconds:.1f} s = {n / seconds:,.0f} items/s")

    settle(stack)
    project = new_project(admin, f"annotated {n}")
    add_user(admin, f"labeler{n}", "annotator", [project])
    seconds, rss, _ = run_measured(stack, ["import_items", str(project), str(annotated), "--no-progress",
                                           "--label-column", "label", "--labels-as", "annotations",
                                           "--annotator", f"labeler{n}"])
    out.update(import_annotated_s=round(seconds, 2), import_annotated_items_per_s=round(n / seconds),
               import_annotated_peak_rss_mb=rss)
    log(f"{n}: annotated CLI import {seconds:.1f} s = {n / seconds:,.0f} items/s, peak RSS {rss} MB")

    # The imports' search vectors are built by the worker afterwards (tasks.text_search); the export is
    # timed once that is done, as bench.py times its labeling, so that it does not share the CPU with it.
    out["search_vectors_wait_s"] = wait_for_search_vectors(stack)
    t0 = time.perf_counter()
    lines, size, _, ttfb = admin.stream_lines(f"/api/projects/{project}/export/?format=jsonl")
    seconds = time.perf_counter() - t0
    if lines != n:
        raise BenchError(f"the export has {lines} lines, expected {n}")
    out.update(export_http_s=round(seconds, 2), export_mb=round(size / 1e6, 1))
    log(f"{n}: HTTP JSONL export {seconds:.2f} s ({size / 1e6:.0f} MB)")

    target = stack.root / f"export-{n}.jsonl"
    seconds, rss, _ = run_measured(stack, ["export_items", str(project), "--format", "jsonl", "--output",
                                           str(target), "--no-progress"])
    out.update(export_cli_s=round(seconds, 2), export_cli_peak_rss_mb=rss)
    log(f"{n}: CLI JSONL export {seconds:.2f} s, peak RSS {rss} MB")
    for path in (plain, annotated, target):
        path.unlink(missing_ok=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[100_000, 1_000_000])
    parser.add_argument("--http-max", type=int, default=1_000_000, help="largest size also uploaded over HTTP")
    parser.add_argument("--timeout", type=float, default=1800, help="longest wait for an import job (s)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    stack = Stack("postgres", keep=args.keep)
    results = []
    with stopping(stack, "import_export"):
        stack.start()
        admin = Api(stack.port, args.timeout)
        admin.login("admin", PASSWORD)
        for n in args.sizes:
            results.append(one_size(stack, admin, n, args))
        results_facts = {**stack.facts, "commit": stack.commit}
    keys = [k for k in results[0] if k != "n"]
    log("\n" + "metric".ljust(32) + "".join(f"{r['n']:>14,}" for r in results))
    for k in keys:
        log(k.ljust(32) + "".join(f"{r.get(k, ''):>14}" for r in results))
    print(json.dumps({"results": results, **results_facts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
