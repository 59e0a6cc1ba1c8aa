#!/usr/bin/env python
"""The retraining loop on scikit-learn's handwritten digits, round by round, through the HTTP API.

    .venv/bin/python bench/retrain_loop.py                          # SQLite + embedded broker
    .venv/bin/python bench/retrain_loop.py --backend postgres --noise 0.1 --rounds 8

One classification project (labels "0".."9", overlap 1, `auto_accept_threshold` --threshold,
no escalation band, no audit sample, no gold, queue order --strategy) gets all 1,797 digits in an
order shuffled by --seed. Then, every round:

- a simulated annotator takes the next --batch items from `GET /api/projects/{id}/next/` and submits
  the true digit (or, with probability --noise, another one, at random);
- an ML engineer asks for a retraining (`POST /api/projects/{id}/train/`); the platform judges the
  new version against the active one on the held-out labels, activates it if it is not worse by
  more than the project's `promotion_margin`, and re-scores and re-routes the queue (a pre-label job);
  the script waits for both jobs;
- the project is exported and scored against the true digits.

Per round: the version and what was decided about it, its training and held-out label counts and
held-out accuracy (from the version's metrics), the accuracy of all items (human or model final
value where there is one, else the active model's prediction), the auto-accepted share of the items
and how many of them are right, the active model on the items nobody labeled, and the human labels
used so far. Progress goes to stderr, the table to stdout, and last one JSON line with everything.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import (  # noqa: E402
    Api,
    BenchError,
    Stack,
    add_user,
    blas_env,
    digit_records,
    export_records,
    job_timing,
    log,
    setup_django,
    stopping,
    wait_for_job,
)

LABELS = [str(d) for d in range(10)]
STRATEGIES = ("least_confidence", "margin", "entropy", "random", "sequential")


def answer(rng: random.Random, truth: str, noise: float) -> str:
    """The true digit, or with probability `noise` another one."""
    if noise and rng.random() < noise:
        return rng.choice([d for d in LABELS if d != truth])
    return truth


def label_batch(annotator: Api, pid: int, truth: dict[str, str], n: int, rng: random.Random,
                noise: float) -> tuple[int, int]:
    """Label the next `n` items `next` serves; (labels given, of which wrong). Fewer when the queue runs dry."""
    given = wrong = 0
    for _ in range(n):
        status, body = annotator.call("GET", f"/api/projects/{pid}/next/", expect=(200, 204))
        if status == 204:
            break
        item = body["item"]
        true = truth[item["external_id"]]
        value = answer(rng, true, noise)
        annotator.call("POST", f"/api/items/{item['id']}/annotations/", {"value": {"label": value}}, expect=(201,))
        given += 1
        wrong += value != true
    return given, wrong


def score(records: list[dict], truth: dict[str, str]) -> dict:
    """The project against the true digits (see the module's docstring)."""
    right = accepted = accepted_right = unlabeled = model_right = human = human_right = 0
    for r in records:
        true = truth[r["external_id"]]
        final = r["final"]
        prediction = r["prediction"]
        predicted = prediction["value"]["label"] if prediction else None
        value = final["value"]["label"] if final else predicted
        right += value == true
        if r["status"] == "auto_accepted":
            accepted += 1
            accepted_right += value == true
        if final and final["source"] != "model":
            human += 1
            human_right += value == true
        else:
            unlabeled += 1
            model_right += predicted == true
    n = len(records)
    return {
        "accuracy_all": right / n,
        "auto_accepted": accepted,
        "auto_accept_share": accepted / n,
        "auto_accept_accuracy": accepted_right / accepted if accepted else None,
        "model_accuracy_unlabeled": model_right / unlabeled if unlabeled else None,
        "human_finals": human,
        "human_final_accuracy": human_right / human if human else None,
    }


def run(args, stack: Stack, admin: Api, annotator: Api, ml: Api, records: list[dict],
        truth: dict[str, str]) -> list[dict]:
    _, project = admin.call("POST", "/api/projects/", {
        "name": "digits, retraining loop", "task_type": "classification", "labels": LABELS,
        "strategy": args.strategy, "overlap": 1, "auto_accept_threshold": args.threshold,
        "escalation_threshold": None, "audit_rate": 0.0, "gold_rate": 0.0,
    }, expect=(201,))
    pid = project["id"]
    for client in (annotator, ml):
        admin.call("POST", f"/api/projects/{pid}/members/", {"user": client.user_id}, expect=(201,))
    order = list(records)
    random.Random(args.seed).shuffle(order)  # import order: what `next` serves before there is a model
    _, answer_ = admin.call("POST", f"/api/projects/{pid}/import/", order, expect=(201,))
    if answer_["imported"] != len(records):
        raise BenchError(f"imported {answer_['imported']} digits, expected {len(records)}")
    log(f"project {pid}: {len(records)} digits imported; threshold {args.threshold}, strategy {args.strategy}, "
        f"noise {args.noise}")

    rng = random.Random(args.seed)
    labels = wrong = 0
    rounds: list[dict] = []
    active = None
    for n in range(1, args.rounds + 1):
        t0 = time.perf_counter()
        given, bad = label_batch(annotator, pid, truth, args.batch, rng, args.noise)
        labels += given
        wrong += bad
        label_seconds = time.perf_counter() - t0
        if not given:
            log(f"round {n}: the queue is empty; stopping")
            break

        waits: dict[str, list[float]] = {}
        t0 = time.perf_counter()
        _, started = ml.call("POST", f"/api/projects/{pid}/train/", expect=(202,))
        # `stall`: a training whose progress stands still for two minutes is stuck, not slow (they take ~1 s).
        job = wait_for_job(ml, stack, started["job"], timeout=600, stall=120, poll=0.02)
        job_timing(job, waits)
        result = job["result"]
        point: dict[str, Any] = {"round": n, "labels": labels, "wrong_labels": wrong}
        if result.get("skipped"):
            point.update({"version": None, "outcome": "skipped", "reason": result["reason"]})
        else:
            _, mv = ml.call("GET", f"/api/models/{result['model']}/")
            decision = mv["decision"]
            point.update({
                "version": mv["version"], "outcome": decision.get("outcome"), "train_size": mv["train_size"],
                "holdout_size": mv["holdout_size"], "holdout_accuracy": mv["metrics"].get("accuracy"),
                "evaluated_on": mv["metrics"].get("evaluated_on"), "ece": mv["metrics"].get("ece"),
                "champion_accuracy": decision.get("champion"),
                # Below 3 labels of some digit the built-in model is not calibrated (sklearn_common.classifier).
                "smallest_class": min(mv["label_counts"].values(), default=0),
            })
            if result.get("prelabel_job"):
                job = wait_for_job(ml, stack, result["prelabel_job"], timeout=600, poll=0.02)
                job_timing(job, waits)
                if job["result"]["model_version"] != mv["version"]:
                    raise BenchError(f"the pre-label job used version {job['result']['model_version']}, "
                                     f"expected {mv['version']}")
            if mv["active"] or result.get("active"):
                active = mv["version"]
        point["active_version"] = active
        point["retrain_seconds"] = round(time.perf_counter() - t0, 2)
        point["label_seconds"] = round(label_seconds, 2)
        point["job_seconds"] = {k: round(statistics.fmean(v), 3) for k, v in waits.items()}

        exported = export_records(admin, pid)
        if len(exported) != len(records):
            raise BenchError(f"export has {len(exported)} records, expected {len(records)}")
        point.update(score(exported, truth))
        rounds.append(point)
        log(f"round {n}: {labels} labels, v{point['version']} {point['outcome']} "
            f"(held-out {fmt(point.get('holdout_accuracy'))}); all items {point['accuracy_all']:.4f}; auto-accepted "
            f"{point['auto_accept_share']:.1%} at {fmt(point['auto_accept_accuracy'])}; "
            f"retrain + prelabel {point['retrain_seconds']} s")
    return rounds


# ---------------------------------------------------------------------------------------------
# Output


def fmt(x: float | None, width: int = 0) -> str:
    return ("-" if x is None else f"{x:.4f}").rjust(width)


def table(rounds: list[dict]) -> str:
    head = ("round", "labels", "version", "decision", "train", "held out", "held-out acc", "all items acc",
            "auto-accepted", "auto-acc acc", "model on unlabeled")
    rows = [head]
    for p in rounds:
        rows.append((
            str(p["round"]), str(p["labels"]), "-" if p["version"] is None else f"v{p['version']}", p["outcome"],
            str(p.get("train_size", "-")), str(p.get("holdout_size", "-")), fmt(p.get("holdout_accuracy")),
            fmt(p["accuracy_all"]), f"{p['auto_accepted']} ({p['auto_accept_share']:.1%})",
            fmt(p["auto_accept_accuracy"]), fmt(p["model_accuracy_unlabeled"]),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=6, help="label-and-retrain rounds")
    parser.add_argument("--batch", type=int, default=50, help="items the annotator labels per round")
    parser.add_argument("--noise", type=float, default=0.0, help="share of the annotator's answers that are wrong")
    parser.add_argument("--threshold", type=float, default=0.95, help="the project's auto_accept_threshold")
    parser.add_argument("--strategy", choices=STRATEGIES, default="least_confidence", help="the project's queue order")
    parser.add_argument("--seed", type=int, default=1, help="import order and the annotator's mistakes")
    parser.add_argument("--pg-durability", choices=["production", "test"], default="test",
                        help="PostgreSQL fsync etc. (this script measures the loop's outcome, not its speed)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="cap OpenBLAS/OpenMP threads of the stack's processes (0: leave the environment as "
                             "it is); see bench/README.md, BLAS threads")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    args = parser.parse_args(argv)
    if not 0.0 <= args.noise < 0.9:
        parser.error("--noise must be in [0, 0.9)")
    if not 0.0 < args.threshold <= 1.0:
        parser.error("--threshold must be in (0, 1]")
    if args.rounds < 1 or args.batch < 1:
        parser.error("--rounds and --batch must be at least 1")
    os.environ.update(blas_env(args.blas_threads))

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    stack = Stack(args.backend, pg_durability=args.pg_durability, keep=args.keep, prefix="hitl-retrain-",
                  env=blas_env(args.blas_threads))
    t_all = time.perf_counter()
    with stopping(stack, "retrain_loop"):
        stack.start()
        setup_django(stack)
        records, truth = digit_records()
        admin = Api(stack.port, 600).login("admin")
        annotator = add_user(admin, "annotator", "annotator")
        ml = add_user(admin, "ml", "ml_engineer")
        rounds = run(args, stack, admin, annotator, ml, records, truth)
        stack.check_alive()

    n = len(records)
    print(f"{n:,} digits, {args.batch} labels a round, noise {args.noise}, auto-accept at {args.threshold}, "
          f"queue order {args.strategy}, {args.backend}")
    print(table(rounds))
    result = {
        "backend": args.backend, "n_items": n, "rounds": len(rounds), "batch": args.batch, "noise": args.noise,
        "threshold": args.threshold, "strategy": args.strategy, "seed": args.seed,
        "blas_threads": args.blas_threads or None,
        "per_round": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in p.items()} for p in rounds],
        "seconds": round(time.perf_counter() - t_all, 1), "commit": stack.commit,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
