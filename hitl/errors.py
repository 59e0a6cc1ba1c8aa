"""One error shape for the API: DRF's, plus bad import records and oversized requests."""
from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from tasks.records import RecordError


def exception_handler(exc, context):
    if isinstance(exc, RecordError):
        return Response(
            {"detail": f"Nothing was imported. {exc}", "errors": [exc.as_dict()]},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": str(exc)}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    return drf_exception_handler(exc, context)
