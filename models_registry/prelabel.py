"""Pre-labeling: the active model scores every item without a human final value, and routing
decides where each goes. Batches of items, set-based writes, one transaction: a failure (an
unreachable external model, say) changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from audit import trail
from audit.models import AuditEvent
from models_registry import artifacts, external_metrics
from models_registry.backends import BACKENDS, Backend, BackendError, builtin_for
from models_registry.backends.external_http import ExternalHTTPBackend
from models_registry.models import ModelVersion, Prediction
from models_registry.scoring import priorities, structured_priorities
from tasks import items, jobs, lifecycle, routing
from tasks.models import FinalSource, Item, ItemStatus, Job, Project

BATCH = 5000


def targets(project: Project):
    """Items the model decides about: waiting ones, and ones an earlier model accepted."""
    return Item.objects.filter(project=project).filter(
        Q(final_source="", status__in=lifecycle.LABELABLE)
        | Q(final_source=lifecycle.Source.MODEL, status=lifecycle.Status.AUTO_ACCEPTED)
    )


@dataclass
class Outcome:
    scored: int = 0
    unreadable: int = 0
    bands: dict[str, int] = field(default_factory=dict)


def _backend(project: Project, mv: ModelVersion | None, sample: dict) -> tuple[Backend, object]:
    if project.model_backend == "http":
        if not project.model_endpoint:
            raise BackendError("The project names no model endpoint.")
        return ExternalHTTPBackend(project.task_type, list(project.labels), project.model_endpoint,
                                   project.model_timeout, questions=project.questions), None
    if mv is None:
        raise BackendError("The project has no active model; train one (or activate a version) first.")
    backend_cls = BACKENDS.get(mv.backend) or builtin_for(sample)
    return backend_cls(project.task_type, list(mv.labels)), artifacts.load(mv.artifact.name, mv.artifact_sha256)


def _external_version(project: Project) -> ModelVersion:
    """External models get a registry row too, so predictions say where they came from."""
    mv = (ModelVersion.objects.filter(project=project, backend="http", labels=project.labels)
          .order_by("-version").first())
    if mv is None:
        version = (ModelVersion.objects.filter(project=project).aggregate(v=Max("version"))["v"] or 0) + 1
        mv = ModelVersion.objects.create(project=project, version=version, backend="http",
                                         labels=list(project.labels), metrics={"endpoint": project.model_endpoint})
    return mv


def prelabel(project: Project, *, user=None, job: Job | None = None, seed: int | None = None) -> Outcome:
    """Score and route every target item of the project with its active (or external) model.

    The audit sample is fixed by (item, model version, `seed`), so a re-run changes nothing.
    """
    thresholds = routing.Thresholds.of(project)
    outcome = Outcome()
    with transaction.atomic():
        if job is not None and not jobs.lock_unfinished(job):
            return outcome
        mv = ModelVersion.objects.active_for(project)
        first = targets(project).order_by("id").values("data").first()
        if first is None:
            if job is not None:
                jobs.complete(job, {"scored": 0})
            return outcome
        backend, model = _backend(project, mv, first["data"])
        if project.model_backend == "http":
            mv = _external_version(project)
        total = targets(project).count()
        if job is not None:
            jobs.report_progress(job, 0, total=total)
        last_id = 0
        now = timezone.now()
        while True:
            rows = list(targets(project).filter(id__gt=last_id).order_by("id").values(
                "id", "data", "status", "final_source", "annotation_count", "needed", "final_value")[:BATCH])
            if not rows:
                break
            last_id = rows[-1]["id"]
            _score_batch(project, mv, backend, model, rows, thresholds, seed or 0, now, outcome)
            if job is not None:
                jobs.report_progress(job, outcome.scored + outcome.unreadable, total=total)
        if project.model_backend == "http":  # its metrics on the human labels, for the models page
            external_metrics.evaluate(project, backend, mv)
        trail.record("items.prelabeled", user=user, project=project, model_version=mv.version,
                     scored=outcome.scored, bands=outcome.bands)
        if job is not None:
            jobs.complete(job, {"scored": outcome.scored, "unreadable": outcome.unreadable,
                                "bands": outcome.bands, "model_version": mv.version})
    return outcome


def _score_batch(project, mv, backend, model, rows, thresholds, seed: int, now, outcome: Outcome) -> None:
    ids = [r["id"] for r in rows]
    data = [r["data"] for r in rows]
    result = backend.predict_values(model, data, ids=ids)
    values, confidence = result.values, result.confidence
    if project.strategy == "random":
        # A random order that stays put when pre-labeling runs again.
        priority = routing.audit_draws(ids, salt=0x5EED)
    elif result.probs is not None:
        priority = priorities(project.strategy, result.probs, multi_label=project.task_type == "multi_label")
    else:
        priority = structured_priorities(project.strategy, confidence, result.uncertainty)
    # Items nobody has annotated may be accepted by the model; the others only get the
    # prediction, a new priority and, if the model is unsure, more annotations.
    band = routing.bands(confidence, thresholds, draws=routing.audit_draws(ids, salt=mv.pk * 1_000_003 + seed))
    predictions, updates, events = [], [], []
    for k, row in enumerate(rows):
        if not result.ok[k]:
            outcome.unreadable += 1
            continue
        outcome.scored += 1
        scores = result.scores[k]
        conf = float(confidence[k])
        predictions.append(Prediction(item_id=row["id"], model_version=mv, value=values[k], confidence=conf,
                                      scores=scores))
        snapshot = {"model_version": mv.version, "value": values[k], "confidence": round(conf, 6),
                    "scores": scores}
        if result.answers and result.answers[k]:
            snapshot["answers"] = result.answers[k]  # a judge's suggested rubric answers
        b = band[k]
        if row["annotation_count"] > 0 and b in (routing.Band.AUTO_ACCEPT, routing.Band.AUDIT):
            b = routing.Band.NORMAL
        outcome.bands[b] = outcome.bands.get(b, 0) + 1
        updates.append({
            "id": row["id"], "prediction": snapshot, "confidence": conf, "priority": float(priority[k]),
            "needed": max(routing.needed(b, thresholds), row["needed"] if row["annotation_count"] else 0),
            "life": lifecycle.routed(row["status"], row["final_source"], b, values[k], now),
            "was": (row["status"], row["final_source"], row["annotation_count"])})
        unchanged = (b == routing.Band.AUTO_ACCEPT and row["status"] == ItemStatus.AUTO_ACCEPTED
                     and row["final_value"] == values[k])
        if b in (routing.Band.AUTO_ACCEPT, routing.Band.AUDIT) and not unchanged:
            events.append(AuditEvent(project_id=project.pk, item_id=row["id"], action="final.set",
                                     payload={"value": values[k], "source": FinalSource.MODEL,
                                              "model_version": mv.version, "confidence": round(conf, 6),
                                              "audit": b == routing.Band.AUDIT}))
    Prediction.objects.bulk_create(predictions, batch_size=BATCH, update_conflicts=True,
                                   unique_fields=["item", "model_version"],
                                   update_fields=["value", "confidence", "scores"])
    written = items.write_many(updates, now)
    trail.record_many([e for e in events if e.item_id in written])
