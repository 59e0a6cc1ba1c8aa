"""Python client of the hitl annotation platform's REST API, and the `hitl` command.

    from hitl_sdk import Client

    with Client("http://localhost:8000", token="...") as client:
        project = client.project(1)
        project.import_records({"data": {"text": t}} for t in texts)
        for record in project.export():
            ...
"""
from __future__ import annotations

from hitl_sdk.client import Client
from hitl_sdk.errors import (
    AuthenticationError,
    Conflict,
    ConnectionFailed,
    HitlError,
    JobFailed,
    JobTimeout,
    NotFound,
    PermissionDenied,
    ServerError,
    TooManyRequests,
    ValidationError,
)
from hitl_sdk.jobs import Job
from hitl_sdk.projects import Project
from hitl_sdk.users import Users

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "HitlError",
    "Job",
    "JobFailed",
    "JobTimeout",
    "NotFound",
    "PermissionDenied",
    "Project",
    "ServerError",
    "TooManyRequests",
    "Users",
    "ValidationError",
    "__version__",
]
