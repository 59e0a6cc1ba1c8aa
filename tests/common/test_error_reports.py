"""An error report shows the request, not the process environment the web server copied into its WSGI environ."""
from __future__ import annotations

import os
import sys

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

DATABASE_URL = "postgres://hitl:s3cret-pw@db.internal:5432/hitl"


def _report(request) -> str:
    try:
        raise ValueError("boom")
    except ValueError:
        return ExceptionReporter(request, *sys.exc_info(), is_email=True).get_traceback_text()


@pytest.fixture
def granian_request(monkeypatch):
    """A request as granian hands it to the app: the process environment, then the request's own keys."""
    monkeypatch.setenv("DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("HITL_SOMETHING", "process-only-value")
    scope = RequestFactory().get("/api/projects/", HTTP_X_REQUEST_ID="req-42").environ
    return WSGIRequest({**os.environ, **scope})


def test_the_report_leaves_out_the_process_environment(granian_request):
    text = _report(granian_request)

    assert "s3cret-pw" not in text
    assert "DATABASE_URL" not in text
    assert "process-only-value" not in text


def test_the_report_keeps_what_came_with_the_request(granian_request):
    text = _report(granian_request)

    assert "HTTP_X_REQUEST_ID = 'req-42'" in text
    assert "PATH_INFO = '/api/projects/'" in text
    assert "REQUEST_METHOD = 'GET'" in text


def test_a_request_key_that_shadows_the_environment_is_kept(monkeypatch):
    # The request's own value wins over the process's (granian: environ | scope); the report shows it.
    monkeypatch.setenv("HTTP_X_REQUEST_ID", "from-the-process")
    scope = RequestFactory().get("/", HTTP_X_REQUEST_ID="from-the-request").environ
    text = _report(WSGIRequest({**os.environ, **scope}))

    assert "HTTP_X_REQUEST_ID = 'from-the-request'" in text
