"""Simulated crowd: five annotators of different reliability label scikit-learn's digits through the API.

Starts the app like `bench/bench.py` (granian over SQLite with the embedded file-system broker, from a
temporary directory; no worker: nothing here runs a job), imports `--items` digits into a classification
project with overlap 3, and lets five annotators label them, interleaved: each in turn asks
`GET /api/projects/{id}/next/` and answers `POST /api/items/{id}/annotations/`. An annotator with
accuracy p says the true digit with probability p; otherwise a uniformly drawn other digit, except the
last, near-adversarial one, whose mistakes are systematic (digit d -> (d + 1) mod 10).

Then, per project (one for each `--consensus` method: the project's `consensus_method`), it reads the
export (`GET /api/projects/{id}/export/?format=jsonl`) and prints the accuracy against the true labels
of majority vote (strict majority, and crowd-kit's MajorityVote which breaks ties at random) and of
Dawid–Skene (crowd-kit, via `annotations.agreement.truth_inference`, computed here from the exported
annotations: the stats endpoint does not list per-item labels), the accuracy of the platform's consensus
values, the share of items that went to review (the reviewers' workload), and each annotator's
accuracy as estimated by Dawid–Skene next to their simulated and measured accuracy. Logs go to stderr;
one JSON line per project at the end on stdout.

    .venv/bin/python bench/annotator_sim.py [--items 600] [--consensus majority[,dawid_skene]] [--seed 7]

With `--quality`, a second experiment (annotator quality and adaptive overlap): six annotators, of
accuracy 0.9, 0.85, 0.8, 0.7 and 0.55 (mistakes uniform over the other digits) and a random clicker,
label `--items` digits plus `--gold` gold digits served at `--gold-rate`, in projects with an
`--floor` accuracy floor: one with fixed overlap 3 (majority consensus) and one with adaptive overlap
(`--start` annotations first, then one more at a time until the posterior reaches `--target`, up to
`--max-overlap`), for each of `--seeds`. A Celery worker runs the Dawid–Skene refits. A paused annotator
(403 from `next`) stops. Per run: final accuracy against the true digits (items left in review count as
wrong), annotations kept per regular item and labels submitted per item (with the ones re-queued after a
pause), how many gold items the clicker answered before its pause, and whether an honest annotator was
paused. One JSON line per run on stdout, then a summary.

    .venv/bin/python bench/annotator_sim.py --quality [--items 600] [--gold 60] [--seeds 1,2,3]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from annotations.agreement import truth_inference  # noqa: E402  (pure: no Django needed)
from bench.stack import PASSWORD, Api, BenchError, Stack, add_user, log, stopping  # noqa: E402

ACCURACY = (0.95, 0.9, 0.8, 0.65, 0.4)
LABELS = [str(d) for d in range(10)]
OVERLAP = 3


def digit_records(stack: Stack, n: int) -> list[dict]:
    """The first `n` digits as import records (PNGs written into the stack's MEDIA_ROOT), true label kept aside."""
    os.environ.update(stack.django_env())
    import django

    django.setup()
    from ops.demo_data import digits

    return list(digits(n))


def answer(rng: random.Random, who: int, truth: str) -> str:
    if rng.random() < ACCURACY[who]:
        return truth
    if who == len(ACCURACY) - 1:  # near-adversarial: a systematic confusion
        return str((int(truth) + 1) % 10)
    return rng.choice([d for d in LABELS if d != truth])


def label_all(project_id: int, annotators: list[Api], truth: dict[str, str], seed: int) -> dict:
    """Round-robin next/submit until every annotator gets 204; returns counts and timings."""
    rng = random.Random(seed)
    active = list(range(len(annotators)))
    done = Counter()
    t0 = time.perf_counter()
    submit_seconds = []
    while active:
        for who in list(active):
            api = annotators[who]
            status, body = api.call("GET", f"/api/projects/{project_id}/next/", expect=(200, 204))
            if status == 204:
                active.remove(who)
                continue
            item = body["item"]
            label = answer(rng, who, truth[item["external_id"]])
            t1 = time.perf_counter()
            api.call("POST", f"/api/items/{item['id']}/annotations/", {"value": {"label": label}}, expect=(201,))
            submit_seconds.append(time.perf_counter() - t1)
            done[who] += 1
    submit_seconds.sort()
    return {"labeling_seconds": round(time.perf_counter() - t0, 1), "annotations": sum(done.values()),
            "per_annotator": [done[w] for w in range(len(annotators))],
            "submit_p50_ms": round(1000 * submit_seconds[len(submit_seconds) // 2], 1),
            "submit_p99_ms": round(1000 * submit_seconds[int(len(submit_seconds) * 0.99)], 1)}


def export(admin: Api, project_id: int) -> list[dict]:
    _, data = admin.call("GET", f"/api/projects/{project_id}/export/?format=jsonl", raw=True)
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def share(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def evaluate(records: list[dict], truth: dict[str, str], names: list[str]) -> dict:
    ratings, true_of = [], {}
    strict_hits = 0
    for r in records:
        true_of[r["id"]] = truth[r["external_id"]]
        labels = [a["value"]["label"] for a in r["annotations"] if not a["skipped"] and a["value"]]
        ratings += [(r["id"], a["user"], a["value"]["label"]) for a in r["annotations"] if not a["skipped"]]
        top = Counter(labels).most_common(1)
        strict_hits += bool(top and 2 * top[0][1] > len(labels) and top[0][0] == true_of[r["id"]])
    n = len(records)
    result = truth_inference(ratings)
    mv_hits = sum(result.majority_vote.get(i) == t for i, t in true_of.items())
    ds_hits = sum(result.dawid_skene.get(i) == t for i, t in true_of.items())
    status = Counter(r["status"] for r in records)
    consensus = [r for r in records if (r.get("final") or {}).get("source") == "consensus"]
    consensus_hits = sum((r["final"].get("value") or {}).get("label") == true_of[r["id"]] for r in consensus)
    measured = {}
    for user in names:
        mine = [(i, label) for i, u, label in ratings if u == user]
        measured[user] = share(sum(label == true_of[i] for i, label in mine), len(mine))
    return {
        "items": n,
        "majority_vote_strict_accuracy": share(strict_hits, n),  # ties and pluralities count as wrong
        "majority_vote_accuracy": share(mv_hits, n),  # crowd-kit MajorityVote: ties broken at random
        "dawid_skene_accuracy": share(ds_hits, n),
        "consensus_items": len(consensus),
        "consensus_accuracy": share(consensus_hits, len(consensus)),
        "review_share": share(status.get("in_review", 0), n),
        "status": dict(status),
        "annotators": [{"user": u, "simulated_accuracy": ACCURACY[k], "measured_accuracy": measured[u],
                        "ds_estimated_accuracy": result.accuracy.get(u)} for k, u in enumerate(names)],
    }


def run(args, stack: Stack, admin: Api, records: list[dict], truth: dict[str, str], method: str,
        annotators: list[Api], names: list[str]) -> dict:
    _, project = admin.call("POST", "/api/projects/", {
        "name": f"digits crowd ({method})", "task_type": "classification", "labels": LABELS,
        "overlap": OVERLAP, "consensus_method": method, "gold_rate": 0,
    }, expect=(201,))
    pid = project["id"]
    if project.get("consensus_method") != method:
        raise BenchError(f"the project did not take consensus_method={method!r}: {project}")
    for api in annotators:
        admin.call("POST", f"/api/projects/{pid}/members/", {"user": api.user_id}, expect=(201,))
    for i in range(0, len(records), 300):
        admin.call("POST", f"/api/projects/{pid}/import/", records[i:i + 300], expect=(201,))
    log(f"{method}: imported {len(records)} digits into project {pid}; labeling")
    labeling = label_all(pid, annotators, truth, args.seed)
    stack.check_alive()
    log(f"{method}: {labeling['annotations']} annotations in {labeling['labeling_seconds']} s")
    line = {"bench": "annotator_sim", "consensus_method": method, "overlap": OVERLAP, "seed": args.seed,
            **evaluate(export(admin, pid), truth, names), **labeling}
    return line


# --- annotator quality and adaptive overlap (--quality) --------------------------------------------

QUALITY_ACCURACY: tuple[float | None, ...] = (0.9, 0.85, 0.8, 0.7, 0.55, None)  # None: a random clicker
CLICKER = len(QUALITY_ACCURACY) - 1


def quality_answer(rng: random.Random, who: int, truth: str) -> str:
    p = QUALITY_ACCURACY[who]
    if p is None:
        return rng.choice(LABELS)
    return truth if rng.random() < p else rng.choice([d for d in LABELS if d != truth])


def label_with_pauses(project_id: int, annotators: list[Api], truth: dict[str, str], gold: set[str],
                      seed: int) -> dict:
    """Round-robin next/submit until no annotator gets an item (204) in a whole round; a paused one (403) stops."""
    rng = random.Random(seed)
    active = list(range(len(annotators)))
    submitted, gold_answered = Counter(), Counter()
    paused_after: dict[int, int] = {}  # annotator -> gold items answered when paused
    submit_seconds = []
    t0 = time.perf_counter()
    worked = True
    while active and worked:  # until a whole round in which nobody got an item: adaptive items open up late
        worked = False
        for who in list(active):
            api = annotators[who]
            status, body = api.call("GET", f"/api/projects/{project_id}/next/", expect=(200, 204, 403))
            if status == 403:
                active.remove(who)
                paused_after[who] = gold_answered[who]
            if status != 200:
                continue
            worked = True
            item = body["item"]
            label = quality_answer(rng, who, truth[item["external_id"]])
            t1 = time.perf_counter()
            api.call("POST", f"/api/items/{item['id']}/annotations/", {"value": {"label": label}}, expect=(201,))
            submit_seconds.append(time.perf_counter() - t1)
            if item["external_id"] in gold:
                gold_answered[who] += 1
            else:
                submitted[who] += 1
    submit_seconds.sort()
    return {"labeling_seconds": round(time.perf_counter() - t0, 1), "submitted": submitted,
            "gold_answered": gold_answered, "paused_after": paused_after,
            "submit_p50_ms": round(1000 * submit_seconds[len(submit_seconds) // 2], 1),
            "submit_p99_ms": round(1000 * submit_seconds[int(len(submit_seconds) * 0.99)], 1)}


def quality_run(args, admin: Api, records: list[dict], truth: dict[str, str], gold: set[str], mode: str,
                annotators: list[Api], seed: int) -> dict:
    fields = {"overlap": 3} if mode == "fixed" else {
        "overlap": args.start, "overlap_mode": "adaptive", "posterior_target": args.target,
        "max_overlap": args.max_overlap}
    _, project = admin.call("POST", "/api/projects/", {
        "name": f"digits quality ({mode}, seed {seed})", "task_type": "classification", "labels": LABELS,
        "gold_rate": args.gold_rate, "accuracy_floor": args.floor, **fields}, expect=(201,))
    pid = project["id"]
    if project.get("overlap_mode", "fixed") != fields.get("overlap_mode", "fixed"):
        raise BenchError(f"the project did not take overlap_mode: {project}")
    for api in annotators:
        admin.call("POST", f"/api/projects/{pid}/members/", {"user": api.user_id}, expect=(201,))
    shuffled = list(records)
    random.Random(seed).shuffle(shuffled)  # gold and regular digits in a seed's order
    for i in range(0, len(shuffled), 300):
        admin.call("POST", f"/api/projects/{pid}/import/", shuffled[i:i + 300], expect=(201,))
    labeling = label_with_pauses(pid, annotators, truth, gold, seed)
    exported = [r for r in export(admin, pid) if r["external_id"] not in gold]
    n = len(exported)
    finals = {r["external_id"]: ((r.get("final") or {}).get("value") or {}).get("label") for r in exported}
    decided = [e for e, label in finals.items() if label is not None]
    hits = sum(finals[e] == truth[e] for e in decided)
    kept = sum(sum(1 for a in r["annotations"] if not a["skipped"]) for r in exported)
    status = Counter(r["status"] for r in exported)
    paused = labeling["paused_after"]
    _, standings = admin.call("GET", f"/api/projects/{pid}/annotators/")
    _, fits = admin.call("GET", f"/api/projects/{pid}/jobs/?kind=confusion_fit&limit=200")
    return {
        "bench": "annotator_sim.quality", "mode": mode, "seed": seed, "items": n,
        "overlap": fields["overlap"], "posterior_target": fields.get("posterior_target"),
        "max_overlap": fields.get("max_overlap"), "gold_rate": args.gold_rate, "accuracy_floor": args.floor,
        "final_accuracy": share(hits, n),  # items left in review count as wrong
        "decided_accuracy": share(hits, len(decided)),
        "review_share": share(status.get("in_review", 0), n),
        "annotations_per_item": share(kept, n),  # kept on regular items (re-queued ones are gone)
        "labels_submitted_per_item": share(sum(labeling["submitted"].values()), n),
        "clicker_paused": CLICKER in paused,
        "clicker_gold_before_pause": paused.get(CLICKER),
        "honest_paused": sorted(QUALITY_ACCURACY[w] for w in paused if w != CLICKER),
        "gold_answered": [labeling["gold_answered"][w] for w in range(len(annotators))],
        "submitted": [labeling["submitted"][w] for w in range(len(annotators))],
        "standings": [{k: s.get(k) for k in ("user", "state", "gold_answered", "gold_correct")}
                      for s in (standings if isinstance(standings, list) else standings.get("results", []))],
        "confusion_fits": Counter(j["state"] for j in fits) if mode != "fixed" else {},
        "labeling_seconds": labeling["labeling_seconds"], "submit_p50_ms": labeling["submit_p50_ms"],
        "submit_p99_ms": labeling["submit_p99_ms"],
    }


def quality_main(args, stack: Stack, admin: Api) -> None:
    stack.start_worker()  # Dawid–Skene refits of the adaptive projects
    names = [f"q{k}" for k in range(len(QUALITY_ACCURACY))]
    annotators = [add_user(admin, name, "annotator") for name in names]
    records = digit_records(stack, args.items + args.gold)
    truth = {r["external_id"]: r.pop("meta_label") for r in records}
    gold = {r["external_id"] for r in records[args.items:]}
    for r in records[args.items:]:
        r["gold"] = {"label": truth[r["external_id"]]}
    runs = []
    for seed in [int(x) for x in args.seeds.split(",") if x]:
        for mode in args.modes.split(","):
            log(f"quality: seed {seed}, {mode} overlap")
            line = quality_run(args, admin, records, truth, gold, mode, annotators, seed)
            line["commit"] = stack.commit
            print(json.dumps(line), flush=True)
            runs.append(line)
            stack.check_alive()
    for mode in args.modes.split(","):
        mine = [r for r in runs if r["mode"] == mode]
        if not mine:
            continue
        def mean(key):
            return round(sum(r[key] for r in mine) / len(mine), 4)
        print(json.dumps({"summary": mode, "runs": len(mine), "final_accuracy": mean("final_accuracy"),
                          "min_final_accuracy": min(r["final_accuracy"] for r in mine),
                          "annotations_per_item": mean("annotations_per_item"),
                          "max_annotations_per_item": max(r["annotations_per_item"] for r in mine),
                          "labels_submitted_per_item": mean("labels_submitted_per_item"),
                          "review_share": mean("review_share"),
                          "clicker_gold_before_pause": [r["clicker_gold_before_pause"] for r in mine],
                          "honest_paused": sum(len(r["honest_paused"]) for r in mine)}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=600, help="how many digits (of 1797)")
    parser.add_argument("--consensus", default="majority",
                        help="comma-separated consensus_method values, one project each "
                             "(majority, dawid_skene; the latter fits DS at every settled item: slower)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    quality = parser.add_argument_group("annotator quality and adaptive overlap (--quality)")
    quality.add_argument("--quality", action="store_true", help="run that experiment instead")
    quality.add_argument("--gold", type=int, default=60, help="gold digits, after the --items regular ones")
    quality.add_argument("--gold-rate", type=float, default=0.1)
    quality.add_argument("--floor", type=float, default=0.4, help="the projects' accuracy_floor")
    quality.add_argument("--modes", default="fixed,adaptive")
    quality.add_argument("--start", type=int, default=2, help="adaptive: annotations before the first look")
    quality.add_argument("--target", type=float, default=0.95, help="adaptive: posterior_target")
    quality.add_argument("--max-overlap", type=int, default=5)
    quality.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args(argv)
    methods = [m for m in args.consensus.split(",") if m]

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    stack = Stack("sqlite", keep=args.keep, prefix="hitl-crowd-", web_workers=2)
    with stopping(stack, "annotator_sim"):
        stack.start_backend()
        stack.manage("migrate", "--noinput")
        stack.manage("createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com",
                     extra_env={"DJANGO_SUPERUSER_PASSWORD": PASSWORD})
        stack.start_web()  # no worker for the first experiment: nothing there starts a job
        admin = Api(stack.port, 600).login("admin")
        if args.quality:
            quality_main(args, stack, admin)
            return 0
        names = [f"crowd{k}" for k in range(len(ACCURACY))]
        annotators = [add_user(admin, name, "annotator") for name in names]
        records = digit_records(stack, args.items)
        truth = {r["external_id"]: r.pop("meta_label") for r in records}
        for method in methods:
            line = run(args, stack, admin, records, truth, method, annotators, names)
            line["commit"] = stack.commit
            print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
