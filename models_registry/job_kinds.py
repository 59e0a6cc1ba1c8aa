"""The jobs this app runs, as the core's job registry knows them (registered in apps.py)."""
from __future__ import annotations

from tasks import jobs
from tasks.models import Job

TRAIN = "train"
PRELABEL = "prelabel"


def describe_training(job: Job) -> str:
    result = job.result or {}
    if "version" not in result:
        return ""
    outcome = (result.get("decision") or {}).get("outcome", "")
    return f"Version {result['version']}" + (f": {outcome}" if outcome else "") + "."


def describe_prelabel(job: Job) -> str:
    result = job.result or {}
    if "scored" not in result:
        return ""
    return f"Scored {result['scored']} items" + (
        f" with version {result['model_version']}" if result.get("model_version") else "") + "."


def register() -> None:
    jobs.register_kind(TRAIN, task="models_registry.train", label="Training", describe=describe_training)
    jobs.register_kind(PRELABEL, task="models_registry.prelabel", label="Pre-labeling", describe=describe_prelabel)
