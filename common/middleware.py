"""Pages (not the API, which has common.http_errors): the domain's errors, and an unreachable database (503)."""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.html import escape

from common.errors import DomainError, Forbidden, NotFound
from common.http_errors import (
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


class DomainErrorMiddleware:
    """The pages' side of `common.http_errors`: a domain error raised under a page view is the
    same 404 or 403 page Django shows for its own, and any other the API's JSON body and status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DomainError):
            return None
        if isinstance(exception, NotFound):
            raise Http404(exception.detail)
        if isinstance(exception, Forbidden):
            raise PermissionDenied(exception.detail)
        return JsonResponse(exception.body(), status=exception.status)
