"""Rename a label, or merge labels into one, and carry every stored value along, in one transaction.

A label's name lives in more places than `Project.labels`: annotations, reviewer decisions, an item's
gold, final value and prediction snapshot, the model's stored predictions (with their per-label scores)
and its label issues. Renaming only the list would orphan all of them (Label Studio's most requested
schema change); here they are rewritten together, or not at all, and one audit event counts the rows.

Rows are read in primary-key chunks (keyset pagination, `CHUNK` at a time) and written back with one
`bulk_update` per chunk: memory stays flat on a large project and no query is made per row. Keyset
chunks rather than one open `.iterator()` cursor because the same table is written while it is read,
which SQLite (the demo's database) does not isolate within a connection.

A trained model: its file predicts the class names it was trained on, and its `labels` list must keep
matching that file, so neither is rewritten. A built-in active version that knows a renamed or merged
label is deactivated instead (it would pre-label with names that no longer exist), and the audit event
says a retrain is needed (`retrain_needed`); its stored predictions are rewritten like everything else,
so the screens and statistics keep speaking the new names. An external (HTTP) model is sent the
project's current labels on every call and needs nothing.

Values of task types without labels (pairwise, ranking) and rubric answers are left alone. Audit events
already written (`final.set` payloads) are history and stay as they were.

Known gap: `annotations.services.check_submission` validates a value against the project's labels before
it takes the item's row lock, so a submission validated just before a rename and stored just after it can
keep the old name; validating again under the lock (the item is re-read with its project) would close it.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.db import models, transaction

from annotations.models import Annotation, ReviewDecision
from audit import trail
from common.errors import Invalid
from models_registry.models import LabelIssue, ModelVersion, Prediction
from tasks.models import Item, Project

CHUNK = 2000
MAX_LABEL_LENGTH = 100
LABELED_TYPES = ("classification", "multi_label", "spans", "boxes")
# What a dry run or a rewrite counts: rows whose stored value names a label that changes.
COUNTED = ("annotations", "review_decisions", "predictions", "item_predictions", "final_values", "gold",
           "label_issues")


# --- Pure: one value -----------------------------------------------------------------------------------

def relabel_value(task_type: str, value: Any, mapping: Mapping[str, str]) -> Any:
    """`value` with every label in `mapping` replaced (duplicates a merge creates dropped); the same object
    when nothing in it changes. Other keys (rubric `answers`) are kept as they are."""
    if not isinstance(value, dict):
        return value
    if task_type == "classification":
        label = value.get("label")
        if isinstance(label, str) and label in mapping:
            return {**value, "label": mapping[label]}
        return value
    if task_type == "multi_label":
        chosen = value.get("labels")
        if not isinstance(chosen, list) or not any(isinstance(x, str) and x in mapping for x in chosen):
            return value
        out: list = []
        for x in chosen:
            x = mapping.get(x, x) if isinstance(x, str) else x
            if x not in out:
                out.append(x)
        return {**value, "labels": out}
    key = {"spans": "spans", "boxes": "boxes"}.get(task_type)
    if key is None:
        return value
    parts = value.get(key)
    if not isinstance(parts, list) or not any(isinstance(p, dict) and p.get("label") in mapping for p in parts):
        return value
    rewritten: list = []
    for p in parts:
        if isinstance(p, dict) and isinstance(p.get("label"), str) and p["label"] in mapping:
            p = {**p, "label": mapping[p["label"]]}
        if p not in rewritten:  # the same span or box under two merged labels is one now
            rewritten.append(p)
    return {**value, key: rewritten}


def relabel_scores(task_type: str, scores: Any, mapping: Mapping[str, str]) -> Any:
    """Per-label scores with renamed keys; merged labels' scores add up (multi-label: the largest, as each
    is a label's own probability). The same object when no key changes."""
    if not isinstance(scores, dict) or not any(k in mapping for k in scores):
        return scores
    out: dict = {}
    for k, v in scores.items():
        name = mapping.get(k, k)
        if name in out and isinstance(v, (int, float)) and isinstance(out[name], (int, float)):
            out[name] = max(out[name], v) if task_type == "multi_label" else round(min(1.0, out[name] + v), 6)
        else:
            out[name] = v
    return out


def _relabel_snapshot(task_type: str, snapshot: Any, mapping: Mapping[str, str]) -> Any:
    """An item's prediction snapshot (`{"model_version", "value", "confidence", "scores", ...}`) rewritten."""
    if not isinstance(snapshot, dict):
        return snapshot
    value = relabel_value(task_type, snapshot.get("value"), mapping)
    scores = relabel_scores(task_type, snapshot.get("scores"), mapping)
    if value is snapshot.get("value") and scores is snapshot.get("scores"):
        return snapshot
    return {**snapshot, "value": value, "scores": scores}


# --- Checks --------------------------------------------------------------------------------------------

def check_rename(project: Project, old: Any, new: Any, *, merge: bool = False) -> tuple[str, str]:
    """The cleaned (old, new) names, or `Invalid` naming the field ("from", "to")."""
    if not isinstance(old, str) or old not in project.labels:
        raise Invalid({"from": [f"{old!r} is not a label of this project."]})
    new = _clean_name(new, "to")
    if new == old:
        raise Invalid({"to": ["The new name is the same as the old one."]})
    if new in project.labels and not merge:
        raise Invalid({"to": [f"{new!r} is already a label; merge instead."]})
    return old, new


def check_merge(project: Project, sources: Any, target: Any) -> tuple[list[str], str]:
    """The cleaned (sources, target), or `Invalid` naming the field ("from", "to")."""
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, list) or not sources:
        raise Invalid({"from": ["Give the labels to merge, as a list."]})
    if not isinstance(target, str) or target not in project.labels:
        raise Invalid({"to": [f"{target!r} is not a label of this project; labels merge into an existing one."]})
    cleaned: list[str] = []
    for name in sources:
        if not isinstance(name, str) or name not in project.labels:
            raise Invalid({"from": [f"{name!r} is not a label of this project."]})
        if name == target:
            raise Invalid({"from": [f"{name!r} is the label merged into; it cannot merge into itself."]})
        if name not in cleaned:
            cleaned.append(name)
    return cleaned, target


def _clean_name(name: Any, field: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise Invalid({field: ["Give the new label name."]})
    name = name.strip()
    if len(name) > MAX_LABEL_LENGTH:
        raise Invalid({field: [f"A label name has at most {MAX_LABEL_LENGTH} characters."]})
    return name


# --- Reads and writes ----------------------------------------------------------------------------------

def label_usage(project: Project, label: str) -> dict[str, int]:
    """How many stored rows name `label` (what a rename or merge of it would rewrite), by table."""
    if label not in project.labels:
        raise Invalid({"label": [f"{label!r} is not a label of this project."]})
    return _rewrite(project, {label: label + "\0"}, write=False)


def rename_label(project: Project, old: Any, new: Any, *, user, merge: bool = False) -> dict:
    """Rename label `old` to `new` everywhere it is stored; with `merge`, `new` may be an existing label
    (then it is `merge_labels`). Returns the counts written (see `_relabel`)."""
    with transaction.atomic():
        project = _locked(project)
        old, new = check_rename(project, old, new, merge=merge)
        if new in project.labels:
            return _relabel(project, [old], new, user=user, action="labels.merged")
        return _relabel(project, [old], new, user=user, action="labels.renamed")


def merge_labels(project: Project, sources: Any, target: Any, *, user) -> dict:
    """Merge the labels `sources` into the existing label `target` everywhere they are stored."""
    with transaction.atomic():
        project = _locked(project)
        sources, target = check_merge(project, sources, target)
        return _relabel(project, sources, target, user=user, action="labels.merged")


def _locked(project: Project) -> Project:
    # The project row stays locked to the end of the transaction: two relabelings of one project run one
    # after the other, each on the labels the other left.
    return Project.objects.select_for_update().get(pk=project.pk)


def _relabel(project: Project, sources: list[str], target: str, *, user, action: str) -> dict:
    """Call inside a transaction holding the project's row lock."""
    mapping = {s: target for s in sources}
    counts = _rewrite(project, mapping, write=True)
    merging = target in project.labels
    labels = [mapping.get(x, x) for x in project.labels]
    project.labels = [x for i, x in enumerate(labels) if x not in labels[:i]]
    colors = dict(project.label_colors or {})
    for s in sources:
        color = colors.pop(s, None)
        if color is not None and not merging:
            colors[target] = color
    project.label_colors = colors
    project.save(update_fields=["labels", "label_colors", "updated_at"])
    deactivated = _retire_stale_model(project, sources)
    trail.record(action, user=user, project=project, sources=sources, target=target, counts=counts,
                 labels=project.labels, model_deactivated=deactivated, retrain_needed=deactivated is not None)
    return {"from": sources, "to": target, "labels": project.labels, "counts": counts,
            "model_deactivated": deactivated, "retrain_needed": deactivated is not None}


def _retire_stale_model(project: Project, sources: list[str]) -> int | None:
    """Deactivate the active built-in version if it knows a changed label; its version number, or None."""
    mv = ModelVersion.objects.filter(project=project, active=True).exclude(backend="http").first()
    if mv is None or not set(sources) & set(mv.labels or []):
        return None
    ModelVersion.objects.filter(pk=mv.pk).update(active=False)
    return mv.version


def _rewrite(project: Project, mapping: Mapping[str, str], *, write: bool) -> dict[str, int]:
    """Rewrite (or with `write=False` only count) every stored value naming a label in `mapping`."""
    counts = dict.fromkeys(COUNTED, 0)
    task_type = project.task_type
    if task_type not in LABELED_TYPES:
        return counts

    def value(field: str) -> Callable[[Any], Any]:
        return lambda row: relabel_value(task_type, getattr(row, field), mapping)

    counts["annotations"] = _chunks(Annotation.objects.filter(project=project, value__isnull=False),
                                    {"value": value("value")}, write)["value"]
    counts["review_decisions"] = _chunks(ReviewDecision.objects.filter(project=project),
                                         {"value": value("value")}, write)["value"]
    item_counts = _chunks(
        Item.objects.filter(project=project),
        {"prediction": lambda row: _relabel_snapshot(task_type, row.prediction, mapping),
         "final_value": value("final_value"), "gold": value("gold")}, write)
    counts["item_predictions"] = item_counts["prediction"]
    counts["final_values"] = item_counts["final_value"]
    counts["gold"] = item_counts["gold"]
    counts["predictions"] = _chunks(
        Prediction.objects.filter(model_version__project=project),
        {"value": value("value"), "scores": lambda row: relabel_scores(task_type, row.scores, mapping)},
        write)["any"]
    counts["label_issues"] = _chunks(
        LabelIssue.objects.filter(model_version__project=project),
        {"given": value("given"), "suggested": value("suggested")}, write)["any"]
    return counts


def _chunks(queryset: models.QuerySet, fields: dict[str, Callable[[Any], Any]], write: bool) -> dict[str, int]:
    """Apply `fields` (name -> new value of a row) to every row, CHUNK rows a query; changed rows are saved
    with one bulk_update per chunk. Counts changed rows per field, and under "any" rows with any change."""
    model = queryset.model
    changed = dict.fromkeys(fields, 0)
    changed["any"] = 0
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk").only("pk", *fields)[:CHUNK])
        if not rows:
            break
        last = rows[-1].pk
        dirty = []
        for row in rows:
            touched = False
            for name, fn in fields.items():
                old = getattr(row, name)
                new = fn(row)
                if new is not old:
                    setattr(row, name, new)
                    changed[name] += 1
                    touched = True
            if touched:
                changed["any"] += 1
                dirty.append(row)
        if write and dirty:
            model.objects.bulk_update(dirty, list(fields))
        if len(rows) < CHUNK:
            break
    return changed
