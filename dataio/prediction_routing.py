"""Imported predictions are routed as the platform's own model's are: by confidence and thresholds.

A record that brings a prediction with a confidence (for boxes: its least sure box, see
`dataio.records`) and nothing stronger (gold, a final value, annotations enough to settle it) goes
where pre-labeling would send it, by the project's `auto_accept_threshold`, `escalation_threshold`
and `audit_rate`: auto-accepted (final source "model", with a `final.set` audit event), an audit
sample to review, `escalated_overlap` annotations, or `overlap`. It also gets its queue priority
for the project's strategy (from the class probabilities in `scores` where it has them, else from
the confidence). An item people have begun to annotate is never accepted by a prediction, as in
pre-labeling. A prediction without a confidence leaves the item waiting (queued), unordered.

New items take their state from `tasks.lifecycle.imported`; existing ones (`on_duplicate=update`)
are routed through `tasks.items.write_many`, the writer pre-labeling uses, so an item a person
or a reviewer settled keeps its value.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from audit import trail
from audit.models import AuditEvent
from dataio.records import ImportedPrediction, Record
from models_registry.scoring import priorities, structured_priorities
from tasks import items, lifecycle, routing
from tasks.models import FinalSource, Item, Project

_RANDOM_ORDER = 0x5EED  # salts the "random" strategy's order apart from the audit draws
_NO_AUDIT = np.ones(1)  # a draw no audit rate reaches (draws are below 1)


@dataclass(frozen=True)
class Route:
    band: str
    priority: float
    needed: int


class Router:
    """Routes the predictions of one import into one project.

    The audit sample is drawn by the record's number, salted by the project and the import's time:
    fixed within an import, independent from one import to the next.
    """

    def __init__(self, project: Project, now: datetime):
        self.project = project
        self.thresholds = routing.Thresholds.of(project)
        digest = hashlib.blake2b(f"{project.pk}:{now.isoformat()}".encode(), digest_size=8).digest()
        self.salt = int.from_bytes(digest, "big")

    def route(self, number: int, prediction: ImportedPrediction | None, *, annotated: bool) -> Route | None:
        """Where a prediction sends its item, or None when it has no confidence to route by."""
        if prediction is None or prediction.confidence is None:
            return None
        confidence = np.array([prediction.confidence])
        band = str(routing.bands(confidence, self.thresholds, draws=_NO_AUDIT)[0])
        if band == routing.Band.AUTO_ACCEPT and self.thresholds.audit_rate > 0:
            # The audit draw (costly for one item) only where it can matter.
            band = str(routing.bands(confidence, self.thresholds, draws=routing.audit_draws([number], self.salt))[0])
        if annotated and band in (routing.Band.AUTO_ACCEPT, routing.Band.AUDIT):
            band = routing.Band.NORMAL  # people have begun on it: they finish it
        return Route(band, self._priority(number, prediction), routing.needed(band, self.thresholds))

    def _priority(self, number: int, prediction: ImportedPrediction) -> float:
        strategy, task_type = self.project.strategy, self.project.task_type
        if strategy == "random":
            return float(routing.audit_draws([number], salt=self.salt ^ _RANDOM_ORDER)[0])
        if task_type in ("classification", "multi_label") and prediction.scores:
            probs = np.array([[float(prediction.scores.get(label, 0.0)) for label in self.project.labels]])
            if probs.any():
                return float(priorities(strategy, probs, multi_label=task_type == "multi_label")[0])
        assert prediction.confidence is not None
        return float(structured_priorities(strategy, np.array([prediction.confidence]))[0])


def snapshot(prediction: ImportedPrediction) -> dict:
    """The prediction as an item keeps it (the shape pre-labeling writes)."""
    return {"model_version": prediction.model_version, "value": prediction.value,
            "confidence": prediction.confidence, "scores": prediction.scores or {}}


def _event(project_id: int, item_id: int, prediction: ImportedPrediction, audit: bool) -> AuditEvent:
    assert prediction.confidence is not None
    return AuditEvent(project_id=project_id, item_id=item_id, action="final.set",
                      payload={"value": prediction.value, "source": FinalSource.MODEL,
                               "model_version": prediction.model_version,
                               "confidence": round(prediction.confidence, 6), "audit": audit, "imported": True})


def record_accepted(project: Project, written: list[tuple[Record, dict]]) -> None:
    """The audit events of new items a prediction settled (auto-accepted or sent to audit)."""
    trail.record_many([_event(project.pk, row["id"], record.prediction,
                              row["review_reason"] == lifecycle.Reason.AUDIT)
                       for record, row in written
                       if record.prediction is not None and record.final is None and record.gold is None
                       and row.get("final_source") == FinalSource.MODEL])


def route_existing(project: Project, records: list[Record], existing: dict[str, int], router: Router,
                   now: datetime) -> None:
    """on_duplicate=update: route the known items whose records bring a prediction with a confidence.

    Items a person, gold or a reviewer settled (or in review) keep their state; only their stored
    prediction changes (the caller writes that).
    """
    wanted = {existing[r.external_id]: r for r in records
              if r.external_id and r.gold is None and r.prediction is not None and r.prediction.confidence is not None}
    if not wanted:
        return
    updates, accepted = [], []
    rows = Item.objects.filter(pk__in=list(wanted)).values("id", "status", "final_source", "annotation_count", "needed",
                                                           "final_value")
    for row in rows:
        record = wanted[row["id"]]
        routable = ((row["status"] in lifecycle.LABELABLE and not row["final_source"])
                    or (row["status"] == lifecycle.Status.AUTO_ACCEPTED and row["final_source"] == FinalSource.MODEL))
        route = router.route(record.number, record.prediction, annotated=row["annotation_count"] > 0)
        if not routable or route is None:
            continue
        assert record.prediction is not None
        life = lifecycle.routed(row["status"], row["final_source"], route.band, record.prediction.value, now)
        updates.append({"id": row["id"], "prediction": snapshot(record.prediction),
                        "confidence": record.prediction.confidence, "priority": route.priority,
                        "needed": max(route.needed, row["needed"] if row["annotation_count"] else 0), "life": life,
                        "was": (row["status"], row["final_source"], row["annotation_count"])})
        unchanged = life.status == row["status"] and life.final_value == row["final_value"]
        if life.final_source == FinalSource.MODEL and not unchanged:
            accepted.append((row["id"], record.prediction, life.review_reason == lifecycle.Reason.AUDIT))
    written = items.write_many(updates, now)
    trail.record_many([_event(project.pk, pk, p, audit) for pk, p, audit in accepted if pk in written])
