"""What an error report (Django's debug page, an error e-mail) shows of a request.

The web server (granian) starts every request's WSGI environ from a copy of the process environment, as CGI
did: `request.META` then holds `DATABASE_URL`, `REDIS_URL` and the like, secrets Django's filter does not
recognise by name. They describe the process, not the request, so a report leaves them out.
"""
from __future__ import annotations

import os

from django.views.debug import SafeExceptionReporterFilter


class ExceptionReporterFilter(SafeExceptionReporterFilter):
    def get_safe_request_meta(self, request) -> dict:
        process = os.environ
        return {key: value for key, value in super().get_safe_request_meta(request).items()
                if key not in process or process[key] != request.META.get(key)}
