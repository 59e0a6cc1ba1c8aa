"""Login throttling with django-axes: the client address it counts by, and the answer once locked out.

Axes counts failed logins per (username, client address) and refuses that pair for
AXES_COOLOFF_TIME after AXES_FAILURE_LIMIT failures (settings "Login throttling").
"""
from __future__ import annotations

import math

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

MESSAGE = "Too many failed logins for this username from your address. Try again in {minutes}."


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or behind our own TLS proxy the address it reports.

    The proxy appends the address it saw to X-Forwarded-For, so only the last entry is trusted;
    anything before it came from the client and may be made up.
    """
    if settings.HITL_BEHIND_TLS_PROXY:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR")


def lockout_message() -> str:
    minutes = max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    return MESSAGE.format(minutes=f"{minutes} minute{'s' if minutes != 1 else ''}")


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """429: JSON for the API, the login form with the message for the browser."""
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": lockout_message()}, status=429)
    else:
        from accounts.oidc import login_context  # the "Log in with ..." button stays on the page

        response = render(request, "login.html", {"locked": lockout_message(), "next": request.POST.get("next", ""),
                                                  **login_context()}, status=429)
    response["Retry-After"] = retry_after
    return response
