"""`/metrics` (Prometheus) and `/readyz/` (readiness): thin views over `ops.metrics` and `ops.readiness`."""
from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.exposition import choose_encoder
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from ops.metrics import HitlCollector
from ops.readiness import CHECKS, readiness

SCRAPER = "metrics-token"  # request.auth of a scrape made with HITL_METRICS_TOKEN


class _Scraper:
    """Who scraped with the metrics token: not a user, and no one's session."""

    is_authenticated = True
    is_admin = False
    is_active = True
    pk = None


class MetricsTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <HITL_METRICS_TOKEN>`; only when that setting is set."""

    def authenticate(self, request):
        token = getattr(settings, "HITL_METRICS_TOKEN", "")
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if not token or scheme.lower() != "bearer":
            return None
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise AuthenticationFailed("Invalid metrics token.")
        return _Scraper(), SCRAPER

    def authenticate_header(self, request):
        return "Bearer" if getattr(settings, "HITL_METRICS_TOKEN", "") else "Token"


class IsScraper(BasePermission):
    """The metrics token, or an admin (session or API token)."""

    def has_permission(self, request, view):
        return request.auth == SCRAPER or bool(getattr(request.user, "is_admin", False)
                                                and request.user.is_authenticated)


class _Combined:
    """The request metrics (this process's, or every web server process's in multiprocess mode) and the
    database families, as one thing `generate_latest` can collect."""

    def __init__(self):
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            self.requests = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.requests)
        else:
            self.requests = REGISTRY
        self.database = HitlCollector()

    def collect(self):
        yield from self.requests.collect()
        yield from self.database.collect()


class MetricsView(APIView):
    """Prometheus' text exposition (or OpenMetrics, if asked for) of the request and platform metrics."""

    schema = None  # not part of the public API
    # The metrics token first: a scrape with it needs no database to authenticate.
    authentication_classes = [MetricsTokenAuthentication, *api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    permission_classes = [IsScraper]

    def perform_content_negotiation(self, request, force=False):
        # Prometheus asks for text formats; the answer to a refused scrape is JSON all the same.
        return super().perform_content_negotiation(request, force=True)

    def get(self, request):
        encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
        response = HttpResponse(encoder(_Combined()), content_type=content_type)
        response["Cache-Control"] = "no-store"
        return response


@require_safe
@never_cache
def readyz(request):
    """Readiness: 200 when the database, the broker and the workers all answer, else 503."""
    skip = {name for name in request.GET.get("skip", "").split(",") if name in CHECKS}
    result = readiness(skip)
    return JsonResponse(result, status=200 if result["status"] == "ready" else 503)
