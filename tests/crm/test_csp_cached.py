"""crm.middleware.CachedCSPMiddleware writes the headers django-csp's own middleware writes: the
settings' policy built once, every per-view change through the stock code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from csp.constants import HEADER, HEADER_REPORT_ONLY, NONE, SELF
from csp.decorators import csp_exempt, csp_replace, csp_update
from csp.exceptions import CSPNonceError
from csp.middleware import CSPMiddleware
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings

from crm.middleware import CachedCSPMiddleware


def _plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def _with_nonce(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(request.csp_nonce))  # type: ignore[attr-defined]


def _missing(request: HttpRequest) -> HttpResponse:
    return HttpResponse("gone", status=404)


VIEWS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "plain": _plain,
    "nonce": _with_nonce,
    "missing": _missing,
    "update": csp_update({"img-src": ["https://example.com"]})(_plain),
    "replace": csp_replace({"img-src": None})(_plain),
    "exempt": csp_exempt()(_plain),
    "update_ro": csp_update({"img-src": ["https://example.com"]}, REPORT_ONLY=True)(_plain),
}


def _headers(middleware: type, view: Callable[..., HttpResponse], path: str) -> dict[str, Any]:
    request = RequestFactory().get(path)
    response = middleware(view)(request)
    headers = {name: response.get(name) for name in (HEADER, HEADER_REPORT_ONLY)}
    if headers[HEADER] is not None and view is not _with_nonce:
        # After the header is written, asking for a nonce is an error in both.
        with pytest.raises(CSPNonceError):
            str(request.csp_nonce)  # type: ignore[attr-defined]
    return headers


def _same(view: str, path: str = "/x/") -> dict[str, Any]:
    stock = _headers(CSPMiddleware, VIEWS[view], path)
    cached = _headers(CachedCSPMiddleware, VIEWS[view], path)
    if view == "nonce":
        # A fresh nonce per request: the same policy around it.
        assert ("'nonce-" in (stock[HEADER] or "")) == ("'nonce-" in (cached[HEADER] or ""))
        strip = lambda v: " ".join(p for p in (v or "").split() if not p.startswith("'nonce-"))  # noqa: E731
        stock = {k: strip(v) for k, v in stock.items()}
        cached = {k: strip(v) for k, v in cached.items()}
    assert cached == stock
    return cached


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_the_project_policy_is_the_stock_one(view: str) -> None:
    headers = _same(view)
    if view == "exempt":
        assert headers[HEADER] is None
    elif view != "missing":
        assert "default-src 'self'" in headers[HEADER]


REPORT_ONLY = {"DIRECTIVES": {"default-src": [SELF], "img-src": [SELF, "data:"]}}


@pytest.mark.parametrize("view", sorted(VIEWS))
@pytest.mark.parametrize("debug", [False, True])
def test_report_only_excluded_prefixes_and_debug(view: str, debug: bool) -> None:
    policy = {
        "EXCLUDE_URL_PREFIXES": ["/skip/"],
        "DIRECTIVES": {"default-src": [SELF], "object-src": [NONE]},
    }
    with override_settings(
        DEBUG=debug,
        CONTENT_SECURITY_POLICY=policy,
        CONTENT_SECURITY_POLICY_REPORT_ONLY=REPORT_ONLY,
    ):
        headers = _same(view)
        _same(view, "/skip/this/")
        if view == "plain":
            # (django-csp's order of directives is a set's: it varies between processes.)
            assert set(headers[HEADER].split("; ")) == {"default-src 'self'", "object-src 'none'"}
            assert set(headers[HEADER_REPORT_ONLY].split("; ")) == {
                "default-src 'self'",
                "img-src 'self' data:",
            }
        if view == "missing" and debug:
            assert headers == {HEADER: None, HEADER_REPORT_ONLY: None}


def test_a_settings_change_is_seen() -> None:
    """The cached policy follows the settings (built again after a change)."""
    first = _same("plain")
    with override_settings(CONTENT_SECURITY_POLICY={"DIRECTIVES": {"default-src": [NONE]}}):
        assert _same("plain")[HEADER] == "default-src 'none'"
    assert _same("plain") == first


def test_a_header_the_view_set_is_kept() -> None:
    def own(request: HttpRequest) -> HttpResponse:
        response = HttpResponse("ok")
        response[HEADER] = "default-src 'none'"
        return response

    for middleware in (CSPMiddleware, CachedCSPMiddleware):
        assert _headers(middleware, own, "/x/")[HEADER] == "default-src 'none'"
