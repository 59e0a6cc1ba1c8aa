"""One error shape for the API: DRF's, plus the domain's errors (common.errors), oversized requests and an
unreachable database."""
from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common.errors import DomainError

log = logging.getLogger(__name__)

# What a request meets while the database is down, restarting or refusing connections: a
# PostgreSQL restart, a failover, max_connections reached. It is worth trying again shortly.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE_DETAIL = "The database is unavailable; try again in a moment."
# Seconds a client should wait before trying again (the Retry-After header of the 503).
RETRY_AFTER_SECONDS = 5


def log_database_unavailable(request, exc: Exception) -> None:
    """One line per refused request; the cause is the database's own message."""
    log.warning("%s %s answered 503: the database is unavailable (%s: %s)", request.method, request.path,
                type(exc).__name__, str(exc).strip())


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.body(), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, DATABASE_UNAVAILABLE):
        log_database_unavailable(context["request"], exc)
        return Response({"detail": DATABASE_UNAVAILABLE_DETAIL}, status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return drf_exception_handler(exc, context)
