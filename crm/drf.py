"""The API's shared machinery: token authentication, organization scope, visibility-backed
viewsets, pagination and the mapping of domain errors to HTTP answers.

One code path with the pages: viewsets read through ``crm.visibility`` and write through the
apps' services; serializers only translate.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from contextvars import Token
from typing import Any, ClassVar

from django.apps import apps
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from django.http import Http404
from django.utils import translation
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import BasePagination, CursorPagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.viewsets import GenericViewSet

from crm.http import AuthenticatedRequest
from crm.middleware import user_locale
from crm.money import MissingExchangeRateError
from crm.registry import access_by_id, visible_rows
from crm.tenancy import enter_org_scope, exit_org_scope


class OrgScopedAPIMixin:
    """Put the authenticated user's organization in scope once DRF has authenticated them
    (the scope middleware runs before DRF, so a token request arrives without one), and for a
    token request the user's language and time zone too: ``UserLocaleMiddleware`` saw an
    anonymous request, so the same call answered a token in UTC and the default language and a
    session in the user's zone and language (datetimes, messages)."""

    _scope_token: Token[int | None] | None = None
    _locale: AbstractContextManager[None] | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        user = request.user
        if user.is_authenticated:
            self._scope_token = enter_org_scope(user.organization_id)
            if request.auth is not None:  # a token; a session's auth is None
                self._locale = user_locale(user)
                self._locale.__enter__()

    def _leave(self) -> None:
        if self._scope_token is not None:
            exit_org_scope(self._scope_token)
            self._scope_token = None
        if self._locale is not None:
            locale, self._locale = self._locale, None
            locale.__exit__(None, None, None)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        if self._locale is not None:
            response.headers.setdefault("Content-Language", translation.get_language() or "")
        self._leave()
        finalized: Response = super().finalize_response(  # type: ignore[misc]
            request, response, *args, **kwargs
        )
        return finalized

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # DRF re-raises an error its handler does not answer without finalize_response: close
        # the scope here too, or the thread's next request would start in this organization.
        try:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        finally:
            self._leave()


class MeridianPagination(PageNumberPagination):
    """DRF's page-number pagination; the first page reads its rows before the count.

    Most of these lists are the organization's structure (regions, companies, rates), shorter
    than a page: the first page asks for one row more than it shows, and when that row is not
    there the count is the rows' number and the COUNT statement (its ORM compile, its round
    trip: about a quarter of a signed-in call to such a list) is not run. A full first page
    counts as before. Every other page is DRF's own code. Same answer, same rows."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(
        self, queryset: Any, request: Request, view: Any | None = None
    ) -> list[Any] | None:
        if request.query_params.get(self.page_query_param, "1") not in ("1", ""):
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        page_size = self.get_page_size(request)
        if not page_size:
            return None
        paginator = self.django_paginator_class(queryset, page_size)
        rows = list(queryset[: page_size + 1])
        if len(rows) <= page_size:
            # The whole list is on this page: its length is the count (cached_property).
            paginator.__dict__["count"] = len(rows)
        # Page 1 is valid whatever the count (an empty first page is allowed), as in DRF.
        self.page = paginator._get_page(rows[:page_size], 1, paginator)  # type: ignore[attr-defined]
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return list(self.page)


class KeysetPagination(CursorPagination):
    """Cursor (keyset) pagination for the big lists: page 10,000 costs what page 1 costs (an
    index range scan from the cursor, no OFFSET) and no COUNT(*) of a million rows runs per
    request. The ordering matches the ``(organization, -created_at, -id)`` indexes."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("-created_at", "-id")


class VisibleViewSet(OrgScopedAPIMixin, GenericViewSet[Any]):
    """Lists and fetches only what the visibility policy lets the user see; anything else,
    including rows of other organizations, answers 404."""

    request: AuthenticatedRequest  # behind IsAuthenticated, the default permission

    model: ClassVar[type[Model]]
    select_related: ClassVar[tuple[str, ...]] = ()
    prefetch_related: ClassVar[tuple[str, ...]] = ()
    pagination_class: type[BasePagination] | None = MeridianPagination
    # ``?ordering=`` accepts only the fields a viewset names: DRF's default (every serializer
    # field, sources included) lets values through that are no column, and a FieldError is a
    # 500. Unknown values are dropped and the list keeps its default order.
    ordering_fields: ClassVar[Sequence[str]] = ()

    def get_queryset(self) -> QuerySet[Any]:
        return self.visible_queryset(self.request.user)

    @classmethod
    def visible_queryset(cls, user: Any) -> QuerySet[Any]:
        """The rows ``user`` may see, as the viewset lists them (a compiled list statement is
        built from this with a stand-in user: ``opportunities.api_list``)."""
        qs = visible_rows(cls.model, user)
        if cls.select_related:
            qs = qs.select_related(*cls.select_related)
        if cls.prefetch_related:
            qs = qs.prefetch_related(*cls.prefetch_related)
        return qs.order_by(*(cls.model._meta.ordering or ["pk"]), "pk")

    def get_object(self) -> Any:
        # The list's queryset (visible rows, its joins), so a detail is 404 exactly when the
        # row is not in the list: missing, foreign, invisible and malformed ids alike.
        obj = access_by_id(
            self.get_queryset(), self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        )
        self.check_object_permissions(self.request, obj)
        return obj


def _validation_payload(exc: DjangoValidationError) -> dict[str, Any]:
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for m in msgs] for field, msgs in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Domain errors become clear HTTP answers: 400 with field messages, 403, 404, and 409 for a
    stale version (with the current one) or a missing exchange rate, never a 500."""
    stale_version = getattr(exc, "current_version", None)
    if stale_version is not None:
        return Response(
            {"detail": str(exc), "current_version": stale_version}, status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, DjangoValidationError):
        return Response(_validation_payload(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, MissingExchangeRateError):
        # Not the request's fault but the organization's data: 409, naming the missing rate.
        return Response(
            {
                "detail": exc.user_message,
                "currency": exc.currency,
                "date": exc.on_date.isoformat(),
            },
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, Http404):
        # DRF would answer with the Http404's own text ("No opportunity matches the given
        # query."), which is English whatever the reader's language: its translated "Not found."
        # says the same, and the same for a missing, a foreign and an invisible row.
        exc = exceptions.NotFound()
    return drf_exception_handler(exc, context)


class VisibleRelatedField(serializers.PrimaryKeyRelatedField[Any]):
    """A reference by id that only accepts rows the requesting user may see: an id of another
    organization reads as "does not exist", exactly like a missing one."""

    def __init__(self, model: type[Model] | str, **kwargs: Any) -> None:
        # A label ("leads.Campaign") names a model of an app above the serializer's, as a
        # lazy foreign key does: the reference is in the schema, the import would run upwards.
        self.model = apps.get_model(model) if isinstance(model, str) else model
        if not kwargs.get("read_only"):
            # Set per request in get_queryset; DRF insists on a queryset at construction.
            kwargs["queryset"] = self.model._default_manager.none()
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet[Any]:
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated:
            return self.model._default_manager.none()
        return visible_rows(self.model, request.user)


def money_field(**kwargs: Any) -> serializers.DecimalField:
    """Money as a string with two decimals (the currency travels in its own field)."""
    return serializers.DecimalField(max_digits=16, decimal_places=2, **kwargs)


class HistoryEntrySerializer(serializers.Serializer[Any]):
    """One audited change (crm.audit.HistoryEntry)."""

    at = serializers.DateTimeField()
    kind = serializers.CharField()
    object_id = serializers.IntegerField()
    # A declared field (the metaclass takes it off the class), not the stubs' Field.label.
    label = serializers.CharField(help_text="insert, update or delete")  # type: ignore[assignment]
    user_id = serializers.IntegerField(allow_null=True)
    request_id = serializers.CharField(help_text="Generated by the server for the request.")
    client_request_id = serializers.CharField(
        help_text="The X-Request-ID the client sent, if any: the client's claim, not verified."
    )
    changes = serializers.SerializerMethodField()

    def get_changes(self, entry: Any) -> dict[str, list[str | None]]:
        return {
            name: [None if a is None else str(a), None if b is None else str(b)]
            for name, (a, b) in entry.changes.items()
        }


_ERROR_SCHEMA = {
    "type": "object",
    "description": "Field errors ({field: [messages]}), or {detail: message}; 409 adds "
    "current_version.",
    "additionalProperties": True,
}
_ERRORS = {
    "400": "Invalid input: field messages.",
    "401": "Not signed in, or a bad token.",
    "403": "Signed in, but the role may not do this.",
    "404": "Missing, of another organization, or not visible to this user.",
    "405": "Method not allowed here.",
    "409": "Stale version: someone saved first; the body carries current_version.",
    "429": "Too many requests or sign-in attempts.",
}


def document_error_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular post-processing hook: every operation documents the errors the API
    answers with (one shape for all), so clients and the fuzzer know what to expect."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = _ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for code, text in _ERRORS.items():
                responses.setdefault(
                    code, {"description": text, "content": {"application/json": {"schema": ref}}}
                )
    return result
