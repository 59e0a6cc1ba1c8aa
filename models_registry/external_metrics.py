"""How well a project's external model does on what people labeled: metrics for its registry row.

The platform never trains an external model, so every human final value (gold, consensus,
reviewer) is a fair test of it. Pre-labeling asks the endpoint about up to `LIMIT` of them, the
newest first, and keeps the task type's held-out metrics (accuracy for classes, mAP@0.5 for boxes)
on the "http" model version, which the models page shows like a trained version's.
"""
from __future__ import annotations

from models_registry.backends import Backend, BackendError
from models_registry.learners import learner_for
from models_registry.models import ModelVersion
from models_registry.structured import is_structured
from tasks.models import Item, Project

LIMIT = 1000  # the newest human labels: enough for stable metrics, a bounded cost per run


def evaluate(project: Project, backend: Backend, mv: ModelVersion) -> dict | None:
    """Score the endpoint on the project's human-labeled items and store the metrics on `mv`.

    None (and `mv` left as it is) when there is nothing to judge it on. Call inside pre-labeling's
    transaction: an endpoint that fails here fails the job, and nothing is kept.
    """
    try:
        learner = learner_for(project.task_type)
    except BackendError:
        return None
    if not (learner.has_classes or is_structured(project.task_type)):
        return None  # the protocol gives this task type no predictions to judge
    rows = (Item.objects.filter(project=project).human_final().order_by("-final_at", "-id")
            .values_list("id", "data", "final_value")[:LIMIT])
    labeled = sorted((pk, data, target) for pk, data, value in rows if (target := learner.target(value)) is not None)
    if not labeled:
        return None
    ids, data, targets = [pk for pk, _, _ in labeled], [d for _, d, _ in labeled], [t for _, _, t in labeled]
    metrics = learner.evaluate(backend.predict_values(None, data, ids=ids), targets)
    metrics.update(endpoint=project.model_endpoint, evaluated_on="human_labels")
    ModelVersion.objects.filter(pk=mv.pk).update(metrics=metrics, holdout_size=len(ids))
    mv.metrics, mv.holdout_size = metrics, len(ids)
    return metrics
