"""Input refused at the edge, before any view sees it.

PostgreSQL cannot store a NUL character in text (``DataError``), and no legitimate name, filter
or note contains one, so a NUL in the path, the query string or a form field is refused with a
400 here, once, instead of a 500 wherever the value would reach the database. JSON bodies are
checked by the API's JSON parser (``crm.parsers.SafeJSONParser``), which knows the field's path.
Uploaded files are not inspected: binary content may hold NUL bytes legitimately.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError

NUL_MESSAGE = "The request contains a NUL character (%s), which is never valid input."


def _nul_in_request(request: HttpRequest) -> str | None:
    """Where a NUL was found (path, query string, form field) or None."""
    if "\x00" in request.path or "\x00" in request.path_info:
        return "in the path"
    # The raw query string, decoded: request.GET would replace undecodable bytes but keep NUL;
    # the raw form catches NUL in a parameter's name as well as in its value.
    query = request.META.get("QUERY_STRING", "")
    if b"\x00" in unquote_to_bytes(query.replace("+", " ")):
        return "in the query string"
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        try:
            form = request.POST
        except (MultiPartParserError, OSError):
            return None  # Django answers a malformed body itself
        for name, values in form.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                return f"in the form field {name.replace(chr(0), '')!r}"
    return None


class RejectBadInputMiddleware:
    """Answer 400 for a NUL character anywhere in the path, query string or form body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = _nul_in_request(request)
        if where is not None:
            message = NUL_MESSAGE % where
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
