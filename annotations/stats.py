"""A project's quality figures: counts, agreement, truth inference, annotators, routing, model.

Set-based: a handful of aggregate queries plus one streamed pass over the annotations (joined to
their item's final and gold values in SQL), never a query per item or per annotator. The
arithmetic lives in the pure `annotations.agreement`. Big projects get these figures from a snapshot
job (`annotations.stats_snapshot`), which samples the ratings the inference needs in memory and, on
PostgreSQL, counts the exact per-annotator figures with one GROUP BY instead of the streamed pass.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Hashable
from typing import Any

from django.db import connection
from django.db.models import Avg, Count, Q
from django.db.models.expressions import RawSQL

from annotations import agreement
from annotations.models import Annotation, ReviewDecision
from models_registry.models import ModelVersion
from tasks import questions
from tasks.models import FinalSource, Item, ItemStatus, Project, ReviewReason, TaskType

CHUNK = 2000
# Final values that stand for the truth when scoring annotators; a model's auto-accepted value does not.
TRUSTED_SOURCES = (FinalSource.CONSENSUS, FinalSource.REVIEWER, FinalSource.GOLD)
# Task types whose value is one nominal category, so alpha, kappa and Dawid–Skene apply.
NOMINAL = {TaskType.CLASSIFICATION: "label", TaskType.PAIRWISE: "choice"}
PAIRWISE_CHOICES = ["a", "b", "tie"]


def category(task_type: str, value: Any) -> str | None:
    """The nominal category of a value (classification label, pairwise choice); None if it has none."""
    key = NOMINAL.get(task_type)
    if key is None or not isinstance(value, dict):
        return None
    found = value.get(key)
    return found if isinstance(found, str) else None


def comparable(task_type: str, value: Any) -> Hashable | None:
    """A key equal for two values that mean the same answer; None where exact matching means nothing.

    Spans and boxes agree by overlap, not equality, so they get None (not scored here).
    """
    if value is None:
        return None
    if task_type in NOMINAL:
        return category(task_type, value)
    if task_type == TaskType.MULTI_LABEL:
        labels = value.get("labels") if isinstance(value, dict) else None
        return tuple(sorted(labels)) if isinstance(labels, list) else None
    return None


def project_stats(project: Project) -> dict[str, Any]:
    """Every quality figure of `project`, computed now over all its annotations (exact).

    The API and the dashboard call `stats_snapshot.current`, which uses this for small projects and
    a stored snapshot (this, run by a job, with `SAMPLE_ITEMS`) for big ones."""
    return compute(project)


def live_figures(project: Project) -> dict[str, Any]:
    """The figures read at every request at any size: items by status and the review queue, from one
    GROUP BY (status, review_reason) (at 1M items one scan of the item table, ~0.45 s; two queries took
    twice that, the in-review items being spread over every page), and the active model."""
    by_status = dict.fromkeys(ItemStatus.values, 0)
    by_reason = dict.fromkeys(ReviewReason.values, 0)
    rows = (Item.objects.filter(project=project).values_list("status", "review_reason")
            .annotate(n=Count("id")).order_by())
    for status, reason, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        if status == ItemStatus.IN_REVIEW:
            by_reason[reason or "unspecified"] = by_reason.get(reason or "unspecified", 0) + n
    return {"items": sum(by_status.values()), "counts": by_status,
            "review_queue": {"size": sum(by_reason.values()), "by_reason": by_reason}, "model": _model(project)}


def in_sample(item_id: int, cutoff: int) -> bool:
    """Whether an item belongs to the sample the inference runs on: a multiplicative hash of its id under
    `cutoff` (of 2**32). Not `id % k`: annotators are often assigned by id, and a stride would pick
    some pairs of them only."""
    return (item_id * 2654435761) & 0xFFFFFFFF < cutoff


def compute(project: Project, sample_items: int | None = None) -> dict[str, Any]:
    """Every figure of `project`, JSON-ready; never fails on sparse data.

    Counts, per-annotator agreement with final values, gold accuracy and the confusion matrix are always
    exact (one streamed pass keeps only counters). With `sample_items`, the agreement and inference
    figures (alpha, kappa, per-label, Dawid–Skene, rubric questions), which need every rating in memory,
    use the ratings of about that many items, chosen by `in_sample`; `sample` in the answer says how many.
    """
    task_type = project.task_type
    labels = PAIRWISE_CHOICES if task_type == TaskType.PAIRWISE else list(project.labels or [])
    counts, total = _counts(project)
    annotators = _annotator_counts(project)
    rated_items = total if sample_items is None else _annotated_items(project)
    cutoff = 1 << 32
    if sample_items is not None and rated_items > sample_items:
        cutoff = int((1 << 32) * sample_items / rated_items)

    ratings: list[agreement.Rating] = []
    final_of: dict[int, str] = {}  # sampled item -> trusted final category (nominal types)
    vs_final: Counter[tuple[str, str]] = Counter()  # (annotator label, final label) -> how many
    hits: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # user -> [final hit, final n, gold hit, gold n]
    scorable = task_type in NOMINAL or task_type == TaskType.MULTI_LABEL
    rubric = [q for q in questions.validate_questions(project.questions) if q["type"] != "text"]
    answered: dict[str, list[agreement.Answer]] = defaultdict(list)  # question id -> (item, user, answer)
    sampled_items: set[int] = set()
    annotations = Annotation.objects.filter(project=project, skipped=False)
    # A big nominal project on PostgreSQL: the exact counters from one GROUP BY, and only the sample's
    # rows through Python (the streamed pass over millions of JSON values is most of the job's time).
    in_sql = sample_items is not None and task_type in NOMINAL and connection.vendor == "postgresql"
    if in_sql:
        hits.update(_nominal_scores(project, NOMINAL[task_type], vs_final))
        scorable = False  # counted already
    if in_sql and cutoff <= 0xFFFFFFFF:  # else the pass below needs every row for the exact counters
        annotations = annotations.alias(sample_hash=RawSQL(SAMPLE_HASH, [])).filter(sample_hash__lt=cutoff)
    rows = (annotations.values_list("item_id", "user_id", "value", "item__final_value", "item__final_source",
                                    "item__gold")
            .order_by("id").iterator(chunk_size=CHUNK))
    for item_id, user_id, value, final_value, final_source, gold in rows:
        sampled = cutoff > 0xFFFFFFFF or in_sample(item_id, cutoff)
        if sampled:
            sampled_items.add(item_id)
            for qid, answer in questions.answers_of(value).items():
                answered[qid].append((item_id, user_id, tuple(answer) if isinstance(answer, list) else answer))
        given = comparable(task_type, value)
        if sampled and task_type in NOMINAL and given is not None:
            ratings.append((item_id, user_id, given))
        if in_sql and sampled and given is not None and final_source in TRUSTED_SOURCES:
            final = category(task_type, final_value)
            if final is not None:
                final_of[item_id] = final
        if not scorable or given is None:
            continue
        score = hits[user_id]
        final = comparable(task_type, final_value) if final_source in TRUSTED_SOURCES else None
        if final is not None:
            score[0] += given == final
            score[1] += 1
            if task_type in NOMINAL:
                if sampled:
                    final_of[item_id] = final
                vs_final[(given, final)] += 1
        truth = comparable(task_type, gold)
        if truth is not None:
            score[2] += given == truth
            score[3] += 1

    for user_id, row in annotators.items():
        hit = hits.get(user_id)
        row["agreement_with_final"] = agreement.share(hit[0], hit[1]) if hit else None
        row["final_items"] = hit[1] if hit else 0
        row["gold_accuracy"] = agreement.share(hit[2], hit[3]) if hit else None
        row["gold_items"] = hit[3] if hit else 0

    stats: dict[str, Any] = {
        "task_type": task_type,
        "items": total,
        "counts": counts,
        "annotations": sum(r["annotations"] for r in annotators.values()),
    }
    stats.update(_agreement_and_inference(task_type, labels, ratings, final_of, annotators))
    stats["confusion"] = agreement.confusion_of_counts(vs_final, labels) if task_type in NOMINAL else None
    stats["annotators"] = sorted(annotators.values(), key=lambda r: r["username"])
    stats["questions"] = _question_agreement(rubric, answered, annotators)
    stats["review_queue"] = _review_queue(project)
    stats["routing"] = _routing(project, total)
    stats["model"] = _model(project)
    if task_type not in NOMINAL and task_type != TaskType.MULTI_LABEL:
        stats["annotators_note"] = (f"{task_type} values agree by overlap, not equality; agreement with final "
                                    "values and gold accuracy are not scored for them.")
    if sample_items is not None:
        stats["sample"] = {"items": len(sampled_items), "ratings": len(ratings), "of_items": rated_items,
                           "share": round(min(1.0, cutoff / (1 << 32)), 6),
                           "figures": ["agreement", "truth_inference", "questions"]}
    return stats


# `in_sample` in SQL (PostgreSQL's bigint and SQLite's integers hold the product for ids below 3 billion).
SAMPLE_HASH = '(("annotations_annotation"."item_id" * 2654435761) & 4294967295)'

NOMINAL_SCORES = """
SELECT a.user_id,
       CASE WHEN jsonb_typeof(a.value -> %(key)s) = 'string' THEN a.value ->> %(key)s END AS given,
       CASE WHEN i.final_source IN %(trusted)s AND jsonb_typeof(i.final_value -> %(key)s) = 'string'
            THEN i.final_value ->> %(key)s END AS final,
       CASE WHEN jsonb_typeof(i.gold -> %(key)s) = 'string' THEN i.gold ->> %(key)s END AS gold,
       count(*)
FROM annotations_annotation a JOIN tasks_item i ON i.id = a.item_id
WHERE a.project_id = %(project)s AND NOT a.skipped
GROUP BY 1, 2, 3, 4
"""


def _nominal_scores(project: Project, key: str, vs_final: Counter[tuple[str, str]]) -> dict[int, list[int]]:
    """PostgreSQL: what the streamed pass counts for a nominal project (user -> [final hit, final n, gold hit,
    gold n], and `vs_final`), as one GROUP BY of a few hundred rows; `category`'s rule in SQL (a string
    under `key`, else no category)."""
    hits: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    with connection.cursor() as cursor:
        cursor.execute(NOMINAL_SCORES, {"key": key, "trusted": tuple(TRUSTED_SOURCES), "project": project.pk})
        for user_id, given, final, gold, n in cursor.fetchall():
            if given is None:
                continue
            score = hits[user_id]
            if final is not None:
                score[0] += n if given == final else 0
                score[1] += n
                vs_final[(given, final)] += n
            if gold is not None:
                score[2] += n if given == gold else 0
                score[3] += n
    return hits


def _annotated_items(project: Project) -> int:
    """Items with a non-skipped annotation (the population the sample is drawn from)."""
    return Annotation.objects.filter(project=project, skipped=False).values("item_id").distinct().count()


def _counts(project: Project) -> tuple[dict[str, int], int]:
    by_status = dict.fromkeys(ItemStatus.values, 0)
    for status, n in Item.objects.filter(project=project).values_list("status").annotate(n=Count("id")).order_by():
        by_status[status] = n
    return by_status, sum(by_status.values())


def _annotator_counts(project: Project) -> dict[int, dict[str, Any]]:
    """user id -> {username, annotations, skips, mean_lead_time}, from one GROUP BY query."""
    rows = (Annotation.objects.filter(project=project).values("user_id", "user__username")
            .annotate(annotations=Count("id", filter=Q(skipped=False)), skips=Count("id", filter=Q(skipped=True)),
                      mean_lead_time=Avg("lead_time", filter=Q(skipped=False)))
            .order_by())
    return {r["user_id"]: {"user_id": r["user_id"], "username": r["user__username"], "annotations": r["annotations"],
                           "skips": r["skips"], "mean_lead_time": r["mean_lead_time"]} for r in rows}


def _agreement_and_inference(task_type: str, labels: list[str], ratings: list[agreement.Rating],
                             final_of: dict[int, str], annotators: dict[int, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"agreement": None, "truth_inference": None}
    if task_type not in NOMINAL:
        out["agreement_note"] = (f"Agreement statistics are computed for classification and pairwise projects; "
                                 f"{task_type} values agree by overlap, not as one category per item.")
        return out
    overlap = agreement.overlapping(ratings)
    if not overlap:
        out["agreement_note"] = ("No overlap: no item has two or more non-skipped annotations, so agreement "
                                 "cannot be measured. Raise the project's overlap to measure it.")
        return out
    name = {uid: row["username"] for uid, row in annotators.items()}
    pairs = agreement.pairwise_kappa(ratings)
    kappas = [{"annotators": [name.get(a, a), name.get(b, b)], "kappa": p.kappa, "shared_items": p.shared_items}
              for p in pairs for a, b in [p.annotators]]
    raters = {a for labels_of in overlap.values() for a in labels_of}
    out["agreement"] = {
        "overlapping_items": len(overlap),
        "krippendorff_alpha": agreement.krippendorff_alpha(ratings, labels),
        # The single pairwise value where exactly two annotators share items (API.md); else see the list.
        "pairwise_kappa": kappas[0]["kappa"] if len(raters) == 2 and len(kappas) == 1 else None,
        "cohen_kappa": kappas,
        "per_label": agreement.per_label_agreement(ratings, labels),
    }
    out["truth_inference"] = _truth_inference(ratings, final_of, name)
    return out


def _question_agreement(rubric: list[dict[str, Any]], answered: dict[str, list[agreement.Answer]],
                        annotators: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per rubric question (text ones aside): Krippendorff's alpha, ordinal for ratings and nominal for
    flags and choices, over everyone and per pair of annotators."""
    name = {uid: row["username"] for uid, row in annotators.items()}
    out = []
    for q in rubric:
        found = agreement.question_agreement(q, answered.get(q["id"], []))
        out.append({
            "id": found.id, "text": q.get("text", found.id), "type": found.type, "level": found.level,
            "answers": len(answered.get(q["id"], [])), "overlapping_items": found.overlapping_items,
            "krippendorff_alpha": found.alpha,
            "pairs": [{"annotators": [name.get(a, a), name.get(b, b)], "alpha": p["alpha"],
                       "shared_items": p["shared_items"]} for p in found.pairs for a, b in [p["annotators"]]],
        })
    return out


def _truth_inference(ratings: list[agreement.Rating], final_of: dict[int, str],
                     name: dict[int, str]) -> dict[str, Any]:
    """Majority vote and Dawid–Skene side by side, scored against the trusted final values."""
    result = agreement.truth_inference(ratings)
    mv_hit, n = agreement.mapping_agreement(result.majority_vote, final_of)
    ds_hit, _ = agreement.mapping_agreement(result.dawid_skene, final_of)
    differ = sum(1 for k, v in result.dawid_skene.items() if result.majority_vote.get(k) != v)
    return {
        "items": len(result.dawid_skene),
        "items_with_final": n,
        "majority_vote_agreement_with_final": agreement.share(mv_hit, n),
        "dawid_skene_agreement_with_final": agreement.share(ds_hit, n),
        "differ": differ,
        "annotators": sorted(
            [{"username": name.get(uid, str(uid)), "estimated_accuracy": acc,
              "confusion": result.confusion.get(uid)} for uid, acc in result.accuracy.items()],
            key=lambda r: r["username"]),
    }


def _review_queue(project: Project) -> dict[str, Any]:
    by_reason = dict.fromkeys(ReviewReason.values, 0)
    rows = (Item.objects.filter(project=project, status=ItemStatus.IN_REVIEW).values_list("review_reason")
            .annotate(n=Count("id")).order_by())
    for reason, n in rows:
        by_reason[reason or "unspecified"] = n
    return {"size": sum(by_reason.values()), "by_reason": by_reason}


def _routing(project: Project, total: int) -> dict[str, Any]:
    """Share of items the model accepted alone, and how often reviewers agreed with it on audits."""
    accepted = Item.objects.filter(project=project, final_source=FinalSource.MODEL).count()
    reviewed = correct = 0
    rows = (ReviewDecision.objects.filter(project=project, reason=ReviewReason.AUDIT)
            .values_list("value", "item__prediction").order_by("id").iterator(chunk_size=CHUNK))
    for value, prediction in rows:
        reviewed += 1
        predicted = prediction.get("value") if isinstance(prediction, dict) else None
        correct += predicted is not None and _canonical(value) == _canonical(predicted)
    return {
        "auto_accepted": accepted,
        "auto_accepted_share": agreement.share(accepted, total),
        "audit": {"reviewed": reviewed, "model_correct": correct, "accuracy": agreement.share(correct, reviewed)},
    }


def _model(project: Project) -> dict[str, Any] | None:
    mv = ModelVersion.objects.active_for(project)
    if mv is None:
        return None
    return {"id": mv.pk, "version": mv.version, "backend": mv.backend, "train_size": mv.train_size,
            "metrics": mv.metrics, "created_at": mv.created_at.isoformat()}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
