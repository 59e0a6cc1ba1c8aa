"""Pages (not the API, which has hitl.errors) while the database is unreachable: 503, not a 500."""
from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.utils.html import escape

from hitl.errors import (
    DATABASE_UNAVAILABLE,
    DATABASE_UNAVAILABLE_DETAIL,
    RETRY_AFTER_SECONDS,
    log_database_unavailable,
)


class DatabaseUnavailableMiddleware:
    """A view that fails to reach the database answers 503 with Retry-After instead of a traceback.

    Browsers asking for HTML get a one-line page (no template: rendering one could need the database
    again); everything else, `/healthz/` included, gets the API's `{"detail": ...}`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None
        log_database_unavailable(request, exception)
        if "text/html" in request.headers.get("Accept", ""):
            response = HttpResponse(
                f"<!doctype html><title>Unavailable</title><p>{escape(DATABASE_UNAVAILABLE_DETAIL)}</p>",
                status=503)
        else:
            response = JsonResponse({"detail": DATABASE_UNAVAILABLE_DETAIL}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
