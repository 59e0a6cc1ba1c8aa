"""Exceptions raised by the SDK: one per kind of refusal, each carrying the server's answer.

Every error answer of the API is JSON: `{"detail": "..."}`, field errors (`{"labels": ["..."]}`), or, for a
refused import, `{"detail": "Nothing was imported. ...", "errors": [{"line": 3, "field": "data.text",
"message": "..."}]}`. `HitlError.body` is that JSON as sent, `detail` its message, and `str(error)` a
readable sentence with the status code.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "Conflict",
    "ConnectionFailed",
    "HitlError",
    "JobFailed",
    "JobTimeout",
    "NotFound",
    "PermissionDenied",
    "ServerError",
    "TooManyRequests",
    "ValidationError",
    "error_for",
]

# The units a refused import names its bad record by (`{"line": 3}` for JSON Lines, `row` for CSV, ...).
RECORD_UNITS = ("line", "row", "record", "entry")


def _describe(body: Any) -> str:
    """The message of an error body: its detail, else its field errors as `field: message` sentences."""
    if isinstance(body, dict):
        if isinstance(body.get("detail"), str):
            return body["detail"]
        parts = []
        for field, problems in body.items():
            if isinstance(problems, list):
                problems = " ".join(str(p) for p in problems)
            elif isinstance(problems, dict):
                problems = _describe(problems)
            parts.append(f"{field}: {problems}")
        return "; ".join(parts)
    if isinstance(body, list):
        return " ".join(str(p) for p in body)
    return "" if body is None else str(body)


class HitlError(Exception):
    """A request the server refused (or that failed); `status_code` is None when there was no answer."""

    def __init__(self, detail: str, *, status_code: int | None = None, body: Any = None,
                 method: str | None = None, url: str | None = None) -> None:
        self.detail = detail
        self.status_code = status_code
        self.body = body
        self.method = method
        self.url = url
        super().__init__(detail)

    @classmethod
    def from_body(cls, status_code: int, body: Any, *, method: str | None = None,
                  url: str | None = None) -> HitlError:
        detail = _describe(body) or f"The server answered {status_code}."
        return cls(detail, status_code=status_code, body=body, method=method, url=url)

    @property
    def errors(self) -> list[dict[str, Any]]:
        """A refused import's bad records (`[{"line": 3, "field": ..., "message": ...}]`), else []."""
        if isinstance(self.body, dict) and isinstance(self.body.get("errors"), list):
            return [e for e in self.body["errors"] if isinstance(e, dict)]
        return []

    def _first(self, key: str) -> Any:
        if isinstance(self.body, dict) and key in self.body:
            return self.body[key]
        for error in self.errors:
            if key in error:
                return error[key]
        return None

    @property
    def line(self) -> int | None:
        """The line (or row, record, zip entry) number of a refused import's bad record."""
        for unit in RECORD_UNITS:
            number = self._first(unit)
            if isinstance(number, int):
                return number
        return None

    @property
    def record(self) -> int | None:
        """Alias of `line`: the number of the bad record, whatever unit the file counts in."""
        return self.line

    @property
    def field(self) -> str | None:
        """The field of the bad record the server names, if any."""
        field = self._first("field")
        return field if isinstance(field, str) else None

    def __str__(self) -> str:
        head = f"{self.status_code}: " if self.status_code is not None else ""
        text = f"{head}{self.detail}"
        errors = self.errors
        if errors and not any(str(e.get("message", "")) in self.detail for e in errors):
            text += " " + "; ".join(_describe(e) for e in errors)
        return text


class ValidationError(HitlError):
    """400: the request's data does not fit (a field error, a bad record of an import, a bad value)."""


class AuthenticationError(HitlError):
    """401: no or a bad token; also a login with wrong credentials."""


class PermissionDenied(HitlError):
    """403: the user's role may not do this."""


class NotFound(HitlError):
    """404: no such object, or one the user may not see."""


class Conflict(HitlError):
    """409: clashes with the current state (e.g. a second annotation of the same item)."""


class TooManyRequests(HitlError):
    """429: rate limited or locked out after failed logins."""


class ServerError(HitlError):
    """5xx: the server failed (503: the database is unavailable; try again)."""


class ConnectionFailed(HitlError):
    """The server could not be reached (no answer at all)."""


class JobFailed(HitlError):
    """A background job ended in `failed`; `job` is its last state and `detail` the job's error."""

    def __init__(self, detail: str, *, job: dict[str, Any]) -> None:
        super().__init__(detail, body=job)
        self.job = job

    def __str__(self) -> str:
        return f"job {self.job.get('id')} ({self.job.get('kind')}) failed: {self.detail}"


class JobTimeout(HitlError):
    """Waiting on a job took longer than the timeout given; the job goes on running."""


_BY_STATUS: dict[int, type[HitlError]] = {
    400: ValidationError, 401: AuthenticationError, 403: PermissionDenied, 404: NotFound, 409: Conflict,
    429: TooManyRequests,
}


def error_for(status_code: int, body: Any, *, method: str | None = None, url: str | None = None) -> HitlError:
    """The exception for an error answer."""
    cls = _BY_STATUS.get(status_code) or (ServerError if status_code >= 500 else HitlError)
    return cls.from_body(status_code, body, method=method, url=url)
