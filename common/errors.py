"""The domain's own errors. Services raise these; `common.http_errors` (the API) and
`common.middleware.DomainErrorMiddleware` (the pages) turn them into HTTP answers, in one place.

    raise Invalid({"value": ["This field is required."]})   # 400 {"value": [...]}
    raise Invalid("Version 3 cannot be activated: ...")     # 400 {"detail": "..."}
    raise NotFound("No such item.")                         # 404 {"detail": "No such item."}
"""
from __future__ import annotations


class DomainError(Exception):
    """Something a caller asked for that the domain refuses; `status` is the HTTP status it maps to."""

    status = 400
    default_detail = "The request was refused."

    def __init__(self, detail: str | dict | None = None):
        self.detail = self.default_detail if detail is None else detail
        super().__init__(self.detail if isinstance(self.detail, str) else str(self.detail))

    def body(self) -> dict:
        """The answer's JSON body: field errors as given, else {"detail": message}."""
        return dict(self.detail) if isinstance(self.detail, dict) else {"detail": self.detail}


class Invalid(DomainError):
    """Bad input: 400, naming the field (`{"field": ["message"]}`) where there is one."""


class Forbidden(DomainError):
    status = 403
    default_detail = "You may not do this."


class NotFound(DomainError):
    status = 404
    default_detail = "Not found."


class Conflict(DomainError):
    """The request clashes with the current state (already done, too late, taken meanwhile): 409."""

    status = 409


class TooLarge(DomainError):
    status = 413
    default_detail = "The request is too large."
