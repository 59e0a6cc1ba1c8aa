"""The Content-Security-Policy middleware sets the header django-csp would, building the settings' policy once."""
from __future__ import annotations

import pytest
from csp.decorators import csp_exempt, csp_replace, csp_update
from csp.middleware import CSPMiddleware as LibraryCSPMiddleware
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from common import csp_policy
from common.csp_policy import CSPMiddleware

REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'self'"], "report-uri": "/csp-report/"}}


def _headers(middleware_class, view, path="/api/projects/", use_nonce=False) -> dict[str, str]:
    middleware = middleware_class(view)
    request = RequestFactory().get(path)
    middleware.process_request(request)
    if use_nonce:
        str(request.csp_nonce)
        request._csp_nonce = "fixed"  # the same nonce for both middlewares
    response = middleware.process_response(request, view(request))
    return {h: response[h] for h in ("Content-Security-Policy", "Content-Security-Policy-Report-Only")
            if h in response}


def _plain(request):
    return HttpResponse("ok")


def _missing(request):
    return HttpResponse("gone", status=404)


@csp_update({"img-src": "https://images.example.com"})
def _updated(request):
    return HttpResponse("ok")


@csp_replace({"script-src": "'none'"})
def _replaced(request):
    return HttpResponse("ok")


@csp_exempt()
def _exempt(request):
    return HttpResponse("ok")


def _own_header(request):
    response = HttpResponse("ok")
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


@pytest.mark.parametrize("view", [_plain, _missing, _updated, _replaced, _exempt, _own_header])
@pytest.mark.parametrize("use_nonce", [False, True])
@pytest.mark.parametrize("report_only", [None, REPORT_ONLY])
@pytest.mark.parametrize("debug", [False, True])
def test_every_response_gets_the_header_django_csp_would_set(view, use_nonce, report_only, debug):
    with override_settings(CONTENT_SECURITY_POLICY_REPORT_ONLY=report_only, DEBUG=debug):
        ours = _headers(CSPMiddleware, view, use_nonce=use_nonce)
        library = _headers(LibraryCSPMiddleware, view, use_nonce=use_nonce)

    assert ours == library
    if view is _plain and not debug:
        assert "default-src 'self'" in ours["Content-Security-Policy"]
        assert ("'nonce-fixed'" in ours["Content-Security-Policy"]) is use_nonce
        assert ("Content-Security-Policy-Report-Only" in ours) is (report_only is not None)


def test_excluded_prefixes_get_no_header():
    policy = {"EXCLUDE_URL_PREFIXES": ["/api/"], "DIRECTIVES": {"default-src": ["'self'"]}}
    with override_settings(CONTENT_SECURITY_POLICY=policy):
        assert _headers(CSPMiddleware, _plain, path="/api/projects/") == {}
        assert _headers(CSPMiddleware, _plain, path="/projects/") == {"Content-Security-Policy": "default-src 'self'"}


def test_the_policy_is_built_once_and_again_when_the_settings_change():
    csp_policy._settings_policy.cache_clear()
    for _ in range(3):
        _headers(CSPMiddleware, _plain)
    assert csp_policy._settings_policy.cache_info().misses == 2  # the policy and its report-only twin

    with override_settings(CONTENT_SECURITY_POLICY={"DIRECTIVES": {"default-src": ["'none'"]}}):
        assert _headers(CSPMiddleware, _plain) == {"Content-Security-Policy": "default-src 'none'"}
    assert "default-src 'self'" in _headers(CSPMiddleware, _plain)["Content-Security-Policy"]


def test_a_nonce_asked_for_after_the_header_is_an_error():
    from csp.exceptions import CSPNonceError

    middleware = CSPMiddleware(_plain)
    request = RequestFactory().get("/")
    middleware.process_request(request)
    middleware.process_response(request, _plain(request))

    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)
