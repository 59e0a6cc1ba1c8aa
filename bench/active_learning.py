#!/usr/bin/env python
"""Active learning on scikit-learn's handwritten digits, simulated through the HTTP API.

    .venv/bin/python bench/active_learning.py                      # SQLite + embedded broker
    .venv/bin/python bench/active_learning.py --backend postgres   # PostgreSQL + Redis (much faster)

For every strategy (least_confidence, margin, entropy, random; random with three seeds) a fresh
classification project (labels "0".."9", overlap 1, auto_accept_threshold null, that strategy)
gets all 1,797 digits imported WITHOUT gold, in an order shuffled by the run's seed. Then:

- a simulated annotator takes items with `GET /api/projects/{id}/next/` and submits the TRUE
  label (`POST /api/items/{id}/annotations/`), `--batch` labels per round;
- after each round (once there are >= 20 labels of >= 2 classes) an ML engineer trains
  (`POST /api/projects/{id}/train/`, job polled), activates the new version (the first one is
  active by itself), and pre-labels (`POST /api/projects/{id}/prelabel/`, job polled), which
  rescores every unlabeled item and stores the strategy's queue priority that `next` serves;
- the script reads `GET /api/projects/{id}/export/?format=jsonl` and scores the project against
  the true digits.

Accuracies per round, all against the true labels:
- `accuracy` (the curve and the target): all 1,797 items; an item a human labeled counts with its
  final value (the true label, since the simulated annotator is always right), every other item
  with the active model's prediction. "How right is the dataset if we stop here and let the
  model label the rest."
- `model_accuracy`: the active model's predictions on the items nobody labeled yet.
- with `--holdout F`: a stratified share F of the digits is never imported, and every model
  version (its file, read in this process) is scored on it: the textbook, unbiased measure.

The reference, `full_pool_accuracy`, is the same built-in model (`ImageBackend`, fit/predict in
this process) trained on true labels, by 5-fold stratified cross-validation over the pool; with
`--holdout`, also the model trained on the whole pool scored on the held-out digits. A target is
the reference minus one point; `labels_to_target*` is the first label count that reaches it
(null if the budget runs out first). A run stops `--after-target` rounds after reaching its
target(s), or at `--budget`. Progress goes to stderr, the learning-curve tables to stdout, and
last one JSON line with everything.
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
    curve_table,
    digit_records,
    export_records,
    job_timing,
    log,
    setup_django,
    stopping,
    wait_for_job,
)

LABELS = [str(d) for d in range(10)]
UNCERTAINTY = ("least_confidence", "margin", "entropy")
STRATEGIES = (*UNCERTAINTY, "random")
MIN_LABELS = 20  # train once there are this many labels (of at least two classes)
HIGH_CONFIDENCE = 0.95  # the auto-accept check at 200 labels


# ---------------------------------------------------------------------------------------------
# The data and the reference accuracy, in this process (Django configured with the stack's settings)


def full_pool_accuracy(records: list[dict], truth: dict[str, str], folds: int = 5) -> dict:
    """Cross-validated accuracy of the built-in image model trained on every true label."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from models_registry.backends.image import ImageBackend

    data = [r["data"] for r in records]
    y = np.array([truth[r["external_id"]] for r in records])
    backend = ImageBackend("classification", LABELS)
    t0 = time.perf_counter()
    scores = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(data, y):
        model = backend.fit([data[i] for i in train], list(y[train]))
        predicted = backend.predict(model, [data[i] for i in test])
        labels = np.array(predicted.classes)[predicted.probs.argmax(axis=1)]
        scores.append(float((labels == y[test]).mean()))
    return {"accuracy": round(statistics.mean(scores), 4), "folds": [round(s, 4) for s in scores],
            "seconds": round(time.perf_counter() - t0, 1)}


def full_pool_via_api(admin: Api, ml: Api, stack: Stack, records: list[dict], truth: dict[str, str]) -> dict:
    """The same through the platform: every digit imported with its true label as gold, one train job.

    The train job's held-out metrics come from one stratified 20 % split (less steady than 5 folds)."""
    _, project = admin.call("POST", "/api/projects/", {"name": "digits, all gold", "task_type": "classification",
                                                      "labels": LABELS}, expect=(201,))
    admin.call("POST", f"/api/projects/{project['id']}/members/", {"user": ml.user_id}, expect=(201,))
    gold = [{**r, "gold": {"label": truth[r["external_id"]]}} for r in records]
    admin.call("POST", f"/api/projects/{project['id']}/import/", gold, expect=(201,))
    _, answer = ml.call("POST", f"/api/projects/{project['id']}/train/", expect=(202,))
    job = wait_for_job(ml, stack, answer["job"], timeout=600)
    m = job["result"]["metrics"]
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "ece": m["ece"], "test_size": m["test_size"]}


def split_holdout(records: list[dict], truth: dict[str, str], fraction: float) -> tuple[list[dict], list[dict]]:
    """A stratified `fraction` of the digits kept out of the projects (the same for every run)."""
    from sklearn.model_selection import train_test_split

    if not fraction:
        return records, []
    pool, held = train_test_split(records, test_size=fraction, random_state=0,
                                  stratify=[truth[r["external_id"]] for r in records])
    return pool, held


def holdout_accuracy(model: Any, held: list[dict], truth: dict[str, str]) -> float:
    import numpy as np

    from models_registry.backends.image import ImageBackend

    predicted = ImageBackend("classification", LABELS).predict(model, [r["data"] for r in held])
    labels = np.array(predicted.classes)[predicted.probs.argmax(axis=1)]
    return float((labels == np.array([truth[r["external_id"]] for r in held])).mean())


def holdout_reference(pool: list[dict], held: list[dict], truth: dict[str, str]) -> float:
    """The built-in model trained on every true label of the pool, scored on the held-out digits."""
    from models_registry.backends.image import ImageBackend

    model = ImageBackend("classification", LABELS).fit([r["data"] for r in pool],
                                                      [truth[r["external_id"]] for r in pool])
    return round(holdout_accuracy(model, held, truth), 4)


def active_model_holdout(project_id: int, version: int, held: list[dict], truth: dict[str, str]) -> float:
    """The project's model version, read from its file (this process shares MEDIA_ROOT), on the held-out."""
    from models_registry import artifacts

    return holdout_accuracy(artifacts.load(artifacts.relative_path(project_id, version)), held, truth)


# ---------------------------------------------------------------------------------------------
# One simulated project


def score(records: list[dict], truth: dict[str, str]) -> dict:
    """accuracy (final value where labeled, else prediction), model accuracy on the unlabeled, and
    the share and accuracy of unlabeled predictions at or above HIGH_CONFIDENCE."""
    right = unlabeled = model_right = high = high_right = 0
    for r in records:
        true = truth[r["external_id"]]
        if r["final"] is not None:
            right += r["final"]["value"]["label"] == true
            continue
        unlabeled += 1
        prediction = r["prediction"]
        ok = prediction is not None and prediction["value"]["label"] == true
        right += ok
        model_right += ok
        if prediction is not None and prediction["confidence"] >= HIGH_CONFIDENCE:
            high += 1
            high_right += ok
    return {
        "accuracy": right / len(records),
        "model_accuracy": model_right / unlabeled if unlabeled else None,
        "high_conf_share": high / unlabeled if unlabeled else None,
        "high_conf_accuracy": high_right / high if high else None,
    }


def run(args, stack: Stack, admin: Api, annotator: Api, ml: Api, records: list[dict], truth: dict[str, str],
        strategy: str, seed: int, target: float, held: list[dict], held_target: float | None) -> dict:
    t_start = time.perf_counter()
    _, project = admin.call("POST", "/api/projects/", {
        "name": f"digits {strategy} seed {seed}", "task_type": "classification", "labels": LABELS,
        "strategy": strategy, "overlap": 1, "auto_accept_threshold": None, "escalation_threshold": None,
    }, expect=(201,))
    pid = project["id"]
    for client in (annotator, ml):
        admin.call("POST", f"/api/projects/{pid}/members/", {"user": client.user_id}, expect=(201,))
    order = list(records)
    random.Random(seed).shuffle(order)  # import order: who comes first before there is a model
    _, answer = admin.call("POST", f"/api/projects/{pid}/import/", order, expect=(201,))
    if answer["imported"] != len(records):
        raise BenchError(f"imported {answer['imported']} digits, expected {len(records)}")

    labels, classes = 0, set()
    curve: list[dict] = []
    reached = reached_held = None
    rounds_after = 0
    timings = {"label": 0.0, "train": 0.0, "prelabel": 0.0, "export": 0.0}
    waits: dict[str, list[float]] = {}
    while labels < args.budget:
        t0 = time.perf_counter()
        exhausted = False
        for _ in range(min(args.batch, args.budget - labels)):
            status, answer = annotator.call("GET", f"/api/projects/{pid}/next/", expect=(200, 204))
            if status == 204:
                exhausted = True
                break
            item = answer["item"]
            label = truth[item["external_id"]]
            annotator.call("POST", f"/api/items/{item['id']}/annotations/", {"value": {"label": label}},
                           expect=(201,))
            labels += 1
            classes.add(label)
        timings["label"] += time.perf_counter() - t0
        if labels < MIN_LABELS or len(classes) < 2:
            continue

        t0 = time.perf_counter()
        _, answer = ml.call("POST", f"/api/projects/{pid}/train/", expect=(202,))
        job = wait_for_job(ml, stack, answer["job"], timeout=600, poll=0.02)
        job_timing(job, waits)
        trained = job["result"]
        if not trained["active"]:
            ml.call("POST", f"/api/models/{trained['model']}/activate/")
        train_seconds = time.perf_counter() - t0
        timings["train"] += train_seconds

        t0 = time.perf_counter()
        _, answer = ml.call("POST", f"/api/projects/{pid}/prelabel/", expect=(202,))
        job = wait_for_job(ml, stack, answer["job"], timeout=600, poll=0.02)
        job_timing(job, waits)
        prelabeled = job["result"]
        if prelabeled["model_version"] != trained["version"]:
            raise BenchError(f"prelabel used model v{prelabeled['model_version']}, expected v{trained['version']}")
        timings["prelabel"] += time.perf_counter() - t0

        t0 = time.perf_counter()
        exported = export_records(admin, pid)
        timings["export"] += time.perf_counter() - t0
        if len(exported) != len(records):
            raise BenchError(f"export has {len(exported)} records, expected {len(records)}")
        point = {"labels": labels, **score(exported, truth), "model_version": trained["version"],
                 "train_job_accuracy": trained["metrics"]["accuracy"], "train_seconds": round(train_seconds, 2)}
        if held:
            point["holdout_accuracy"] = active_model_holdout(pid, trained["version"], held, truth)
        curve.append(point)
        if reached is None and point["accuracy"] >= target:
            reached = labels
        if held and reached_held is None and point["holdout_accuracy"] >= held_target:
            reached_held = labels
        log(f"{strategy} seed {seed}: {labels:4d} labels  accuracy {point['accuracy']:.4f}  "
            f"model on unlabeled {point['model_accuracy'] or 0:.4f}  "
            + (f"holdout {point['holdout_accuracy']:.4f}  " if held else "") +
            f"({' '.join(f'{k} {v:.1f}s' for k, v in timings.items())} so far)")
        if exhausted:
            break
        if args.after_target >= 0 and reached is not None and (not held or reached_held is not None):
            if rounds_after >= args.after_target:
                break
            rounds_after += 1
    return {
        "strategy": strategy, "seed": seed, "project": pid, "labels_to_target": reached,
        "labels_to_target_holdout": reached_held,
        "labels_to_target_model_only": next(
            (p["labels"] for p in curve if p["model_accuracy"] is not None and p["model_accuracy"] >= target), None),
        "curve": curve, "seconds": round(time.perf_counter() - t_start, 1),
        "seconds_by_step": {k: round(v, 1) for k, v in timings.items()},
        # Server-side, from the job rows: created -> started (broker delivery) and started -> finished.
        "job_seconds": {k: {"n": len(v), "mean": round(statistics.mean(v), 3), "max": round(max(v), 3)}
                        for k, v in waits.items() if v},
    }


# ---------------------------------------------------------------------------------------------
# Output


def summary(runs: list[dict], holdout: bool) -> dict:
    def r4(v):
        return None if v is None else round(v, 4)

    out: dict[str, Any] = {}
    for strategy in dict.fromkeys(r["strategy"] for r in runs):
        mine = [r for r in runs if r["strategy"] == strategy]
        entry: dict[str, Any] = {
            "seeds": [r["seed"] for r in mine],
            "labels_to_target": [r["labels_to_target"] for r in mine],
            "labels_to_target_model_only": [r["labels_to_target_model_only"] for r in mine],
        }
        if holdout:
            entry["labels_to_target_holdout"] = [r["labels_to_target_holdout"] for r in mine]
        # One curve per seed: [labels, accuracy, model_accuracy(, holdout_accuracy)] per round.
        entry["curves"] = [[[p["labels"], r4(p["accuracy"]), r4(p["model_accuracy"])]
                            + ([r4(p["holdout_accuracy"])] if holdout else []) for p in r["curve"]] for r in mine]
        entry["at_200"] = [next(({k: (r4(v) if isinstance(v, float) else v) for k, v in p.items()}
                                 for p in r["curve"] if p["labels"] == 200), None) for r in mine]
        entry["seconds"] = [r["seconds"] for r in mine]
        entry["job_seconds"] = [r["job_seconds"] for r in mine]
        out[strategy] = entry
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help=f"comma-separated, from {', '.join(STRATEGIES)}")
    parser.add_argument("--seeds", default="1", help="seeds (import order) for the uncertainty strategies")
    parser.add_argument("--random-seeds", default="1,2,3", help="seeds (import order) for `random`")
    parser.add_argument("--batch", type=int, default=25, help="labels per round (one train + prelabel per round)")
    parser.add_argument("--budget", type=int, default=800, help="labels per run at most")
    parser.add_argument("--after-target", type=int, default=2,
                        help="rounds a run goes on after reaching its target(s) before it stops; "
                             "-1: always run to the budget (full curves)")
    parser.add_argument("--holdout", type=float, default=0.0,
                        help="keep this stratified share of the digits out of the projects and also score every "
                             "model version on it (reference: the model trained on the whole pool)")
    parser.add_argument("--full-pool-api", action="store_true",
                        help="also train on every true label through the API (gold import + train job)")
    parser.add_argument("--pg-durability", choices=["production", "test"], default="test",
                        help="PostgreSQL fsync etc. (this script counts labels; speed is not its subject)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="cap OpenBLAS/OpenMP threads of the stack's processes and of this one (0: leave the "
                             "environment as it is). 1 by default: on a busy machine multi-threaded BLAS makes "
                             "these small fits up to ~60x slower, and this script counts labels, not seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    args = parser.parse_args(argv)
    os.environ.update(blas_env(args.blas_threads))  # before numpy is imported here (full-pool fits)
    strategies = [s for s in args.strategies.split(",") if s]
    for s in strategies:
        if s not in STRATEGIES:
            parser.error(f"unknown strategy {s!r}")
    if not 0.0 <= args.holdout < 0.9:
        parser.error("--holdout must be in [0, 0.9)")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    random_seeds = [int(s) for s in args.random_seeds.split(",") if s]

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    stack = Stack(args.backend, pg_durability=args.pg_durability, keep=args.keep, prefix="hitl-al-",
                  env=blas_env(args.blas_threads))
    t_all = time.perf_counter()
    held_reference = held_target = None
    with stopping(stack, "active_learning"):
        stack.start()
        setup_django(stack)
        records, truth = digit_records()
        log(f"{len(records)} digits written under {stack.var / 'media'}")
        records, held = split_holdout(records, truth, args.holdout)
        reference = full_pool_accuracy(records, truth)
        target = reference["accuracy"] - 0.01
        log(f"full-pool accuracy (5-fold CV over the {len(records)} pooled digits, in process) "
            f"{reference['accuracy']:.4f}; target {target:.4f}")
        if held:
            held_reference = holdout_reference(records, held, truth)
            held_target = held_reference - 0.01
            log(f"{len(held)} digits held out; the full-pool model scores {held_reference:.4f} on them; "
                f"holdout target {held_target:.4f}")

        admin = Api(stack.port, 600).login("admin")
        annotator = add_user(admin, "annotator", "annotator")
        ml = add_user(admin, "ml", "ml_engineer")
        via_api = full_pool_via_api(admin, ml, stack, records, truth) if args.full_pool_api else None
        if via_api:
            log(f"full pool through the API (one 20 % held-out split): {via_api['accuracy']}")

        runs = []
        for strategy in strategies:
            for seed in (random_seeds if strategy == "random" else seeds):
                runs.append(run(args, stack, admin, annotator, ml, records, truth, strategy, seed, target,
                                held, held_target))
                log(f"{strategy} seed {seed}: target reached at {runs[-1]['labels_to_target']} labels"
                    + (f", holdout target at {runs[-1]['labels_to_target_holdout']}" if held else "")
                    + f" ({runs[-1]['seconds']} s)")
        stack.check_alive()

    n = len(records)
    print(f"full-pool accuracy {reference['accuracy']:.4f} (5-fold CV over {n:,} digits); "
          f"target = minus one point = {target:.4f}")
    print(f"\naccuracy over all {n:,} digits of the project (labeled: their final value, i.e. the true label; "
          f"the rest: the active model's prediction)")
    print(curve_table(runs, "accuracy"))
    print("\nmodel accuracy on the items not labeled yet (the active model's predictions only)")
    print(curve_table(runs, "model_accuracy"))
    if held:
        print(f"\nmodel accuracy on the {len(held)} held-out digits (full-pool model: {held_reference:.4f}; "
              f"target {held_target:.4f})")
        print(curve_table(runs, "holdout_accuracy"))
    print("\nlabels to reach the target (None: not within the budget):")
    for r in runs:
        print(f"  {r['strategy']:>16} seed {r['seed']}: {r['labels_to_target']}  "
              f"(model alone on the unlabeled: {r['labels_to_target_model_only']}"
              + (f"; held-out: {r['labels_to_target_holdout']}" if held else "") + ")")
    result = {
        "backend": args.backend, "n_items": n, "batch": args.batch, "budget": args.budget,
        "after_target": args.after_target, "blas_threads": args.blas_threads or None,
        "full_pool_accuracy": reference["accuracy"], "full_pool_folds": reference["folds"],
        "full_pool_api": via_api, "target": round(target, 4),
        "holdout": len(held), "holdout_reference": held_reference,
        "holdout_target": None if held_target is None else round(held_target, 4),
        "curve_columns": ["labels", "accuracy", "model_accuracy"] + (["holdout_accuracy"] if held else []),
        "strategies": summary(runs, bool(held)), "seconds": round(time.perf_counter() - t_all, 1),
        "commit": stack.commit,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
