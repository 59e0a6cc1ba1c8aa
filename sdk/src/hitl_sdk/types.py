"""The shapes of the API's main JSON objects, as TypedDicts (the server may send more keys)."""
from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = [
    "Annotation",
    "ExportRecord",
    "Final",
    "ImportResult",
    "ItemData",
    "JobData",
    "JobState",
    "ModelVersion",
    "NextItem",
    "ProjectData",
    "ReviewTask",
    "Role",
    "TaskType",
    "User",
]

Role = Literal["admin", "ml_engineer", "reviewer", "annotator"]
TaskType = Literal["classification", "multi_label", "spans", "boxes", "pairwise"]
JobState = Literal["pending", "running", "succeeded", "failed"]


class User(TypedDict, total=False):
    id: int
    username: str
    role: Role
    is_active: bool


class ProjectData(TypedDict, total=False):
    id: int
    name: str
    task_type: TaskType
    labels: list[str]
    instructions: str
    overlap: int
    auto_accept_threshold: float | None
    escalation_threshold: float | None
    escalated_overlap: int | None
    audit_rate: float
    strategy: str
    retrain_every: int | None
    created_at: str


class ItemData(TypedDict, total=False):
    id: int
    external_id: str | None
    data: dict[str, Any]
    status: str
    prediction: dict[str, Any] | None
    annotations: list[dict[str, Any]]
    final: dict[str, Any] | None


class NextItem(TypedDict, total=False):
    item: ItemData
    prediction: dict[str, Any] | None
    lease_expires_at: str


class Annotation(TypedDict, total=False):
    id: int
    item: int
    user: Any
    value: dict[str, Any] | None
    skipped: bool
    lead_time: float | None
    created_at: str


class ReviewTask(TypedDict, total=False):
    item: ItemData
    annotations: list[Annotation]
    prediction: dict[str, Any] | None
    reason: str
    final: dict[str, Any] | None
    lease_expires_at: str


class JobData(TypedDict, total=False):
    id: int
    kind: str
    state: JobState
    progress: int
    total: int | None
    error: str | None
    result: Any


class ModelVersion(TypedDict, total=False):
    id: int
    version: int
    created: str
    train_size: int
    metrics: dict[str, Any]
    active: bool
    prelabel_job: int


class ImportResult(TypedDict, total=False):
    imported: int
    updated: int
    skipped: int
    annotations: int


class Final(TypedDict, total=False):
    value: Any
    source: str
    at: str | None
    by: str | None


class ExportRecord(TypedDict, total=False):
    id: int
    external_id: str | None
    data: dict[str, Any]
    status: str
    final: Final | None
    gold: Any
    annotations: list[dict[str, Any]]
    reviews: list[dict[str, Any]]
    prediction: dict[str, Any] | None
    created_at: str
