"""Per-request context from the authenticated user: organization scope, language and time zone,
and the role's navigation."""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
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
