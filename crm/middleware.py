"""Per-request context from the authenticated user: organization scope, language and time zone,
and the role's navigation."""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth import logout
from django.core.signals import setting_changed
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone, translation

from crm.tenancy import org_scope


def keep_context_while_streaming(
    response: HttpResponse, context: Callable[[], AbstractContextManager[Any]]
) -> None:
    """Run each chunk of a streamed response inside ``context``.

    A ``StreamingHttpResponse``'s generator is consumed by the server after the view and every
    middleware have returned, so whatever a middleware put in scope around the view (the
    organization, the language, the time zone) is gone by then: the campaign export's rows ran
    with no organization, and row-level security answered no rows (issue 18). Files stream
    from disk and need none of it, so ``FileResponse`` keeps its file wrapper."""
    if not isinstance(response, StreamingHttpResponse) or isinstance(response, FileResponse):
        return
    if response.is_async:
        return  # no async streaming views here; an async iterator would need its own wrapper
    response.streaming_content = _chunks_within(response.streaming_content, context)


def _chunks_within(
    chunks: Iterable[Any], context: Callable[[], AbstractContextManager[Any]]
) -> Iterator[Any]:
    # Entered and left around each next(), never across a yield: the server may interleave
    # other work between chunks, which must not run inside this request's scope.
    iterator = iter(chunks)
    try:
        while True:
            with context():
                try:
                    chunk = next(iterator)
                except StopIteration:
                    return
            yield chunk
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            with context():
                close()


class OrganizationScopeMiddleware:
    """The organization always comes from the authenticated user, never from the client; a
    streamed response keeps it for its chunks."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and user.is_active:
            org_id = user.organization_id
            with org_scope(org_id):
                response = self.get_response(request)
            keep_context_while_streaming(response, lambda: org_scope(org_id))
            return response
        return self.get_response(request)


class SessionIdleTimeoutMiddleware:
    """Signs out a session idle for longer than SESSION_IDLE_TIMEOUT_SECONDS (besides the
    absolute SESSION_COOKIE_AGE). Runs after authentication. The last activity is noted at
    sign-in (``note_sign_in``) and then written to the session at most every few minutes, not
    on every request: a session write is three SQL statements, and an 8-hour timeout does not
    need finer steps. After the sign-out the request goes on anonymous: pages redirect to the
    sign-in page, the API answers 401/403."""

    KEY = "_meridian_last_activity"
    WRITE_EVERY_SECONDS = 300

    @classmethod
    def write_every(cls) -> int:
        # Short timeouts (tests, strict deployments) get proportionally finer steps.
        return max(1, min(cls.WRITE_EVERY_SECONDS, settings.SESSION_IDLE_TIMEOUT_SECONDS // 10))

    @classmethod
    def note_sign_in(cls, sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
        """user_logged_in: the session starts active, so its first request writes nothing."""
        if request is not None and hasattr(request, "session"):
            request.session[cls.KEY] = int(time.time())

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Only sessions that are signed in; anonymous visitors get no session written.
        if request.user.is_authenticated:
            now = int(time.time())
            last = request.session.get(self.KEY)
            if isinstance(last, int) and now - last > settings.SESSION_IDLE_TIMEOUT_SECONDS:
                logout(request)
            elif not isinstance(last, int) or now - last >= self.write_every():
                request.session[self.KEY] = now
        return self.get_response(request)


class UserLocaleMiddleware:
    """Language and time zone of the signed-in user, for every request.

    Runs after authentication. The language is the user's own or their sales company's
    (``User.effective_language``); Django's LocaleMiddleware before it only decides for
    anonymous visitors (the sign-in page, from the browser's Accept-Language). The time zone makes
    ``{{ value|date }}`` and form fields show local time while the database keeps UTC.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if not (user.is_authenticated and user.is_active):
            return self.get_response(request)
        language = supported_language(user.effective_language)
        # Restored afterwards: the thread serves other requests and tasks after this one.
        previous_language = translation.get_language()
        translation.activate(language)
        request.LANGUAGE_CODE = language
        zone = user_zone(user.effective_timezone)
        if zone is None:
            # A bad stored zone must not lock the user out; UTC is the honest fallback.
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            response = self.get_response(request)
        finally:
            timezone.deactivate()
            if previous_language:
                translation.activate(previous_language)
            else:
                translation.deactivate()
        response.headers.setdefault("Content-Language", language)
        # A streamed export writes its headers, labels and dates in the user's language too.
        keep_context_while_streaming(response, lambda: _locale(language, zone))
        return response


def user_locale(user: Any) -> AbstractContextManager[None]:
    """``user``'s language and time zone in place for a block (the previous ones restored
    after): what ``UserLocaleMiddleware`` does around a session's request, for a request whose
    user is known only later (an API token, authenticated by DRF inside the view)."""
    return _locale(supported_language(user.effective_language), user_zone(user.effective_timezone))


def user_zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


@contextmanager
def _locale(language: str, zone: zoneinfo.ZoneInfo | None) -> Iterator[None]:
    previous_language = translation.get_language()
    translation.activate(language)
    if zone is not None:
        timezone.activate(zone)
    try:
        yield
    finally:
        timezone.deactivate()
        if previous_language:
            translation.activate(previous_language)
        else:
            translation.deactivate()


def supported_language(code: str) -> str:
    """The UI language for ``code``: one of settings.LANGUAGES (nb/fi/zh users get English
    until their catalog exists rather than a half-translated mix)."""
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return settings.LANGUAGE_CODE


# The response attributes and the request's nonce through which a view changes its policy
# (django-csp's decorators, ``request.csp_nonce``): with none of them set the policy is the
# settings' alone.
_CSP_PER_RESPONSE = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)
_CSP_SETTINGS = ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY")
_csp_built: dict[bool, str] = {}


def _forget_csp(*, setting: str, **kwargs: Any) -> None:
    if setting in _CSP_SETTINGS:
        _csp_built.clear()


setting_changed.connect(_forget_csp)


def _settings_policy(report_only: bool) -> str:
    built = _csp_built.get(report_only)
    if built is None:
        built = _csp_built[report_only] = build_policy(report_only=report_only)
    return built


class CachedCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, with the policy of the settings built once.

    The stock one builds both headers from the settings on every response (a dataclass copied
    to a dict, each directive joined: about 5 % of a signed-in API call's CPU). A response whose
    view changed nothing of the policy (no decorator's config, update or replace, no nonce
    asked for) gets the same strings, built once per process and again after a change of the
    settings (tests); any other response goes through the stock code. The rest is the stock
    ``process_response``: the debug exemption, ``_csp_exempt``, the excluded URL prefixes, the
    trap for a nonce asked for after the header is written."""

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if getattr(request, "_csp_nonce", None) is not None or any(
            getattr(response, name, None) is not None for name in _CSP_PER_RESPONSE
        ):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:
            return response
        for report_only, header, exempt, setting in (
            (False, HEADER, "_csp_exempt", "CONTENT_SECURITY_POLICY"),
            (True, HEADER_REPORT_ONLY, "_csp_exempt_ro", "CONTENT_SECURITY_POLICY_REPORT_ONLY"),
        ):
            csp = _settings_policy(report_only)
            if not csp or getattr(response, exempt, False) is not False or header in response:
                continue
            prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
            if not request.path_info.startswith(tuple(prefixes)):
                response[header] = csp
        # As the stock middleware: once the header is written a nonce can no longer be added.
        request.csp_nonce = CheckableLazyObject(  # type: ignore[attr-defined]
            self._csp_nonce_post_response
        )
        return response
