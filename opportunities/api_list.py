"""The opportunity API list's page, its SQL built by the ORM once per shape and run prepared
(issue 21).

``GET /api/v1/opportunities/`` built its queryset on every request: the visibility policy's
querysets, then DRF's cursor pagination ordering and filtering it, then Django compiling it (for
a rep the ranked union of ``crm.db.sources``): about four fifths of the view's CPU, for a
statement PostgreSQL answers from an index in a few milliseconds. As the list page does
(``opportunities.list_query``), the definition stays the ORM's: the viewset's own queryset
(``VisibleViewSet.visible_queryset``: the visibility policy) as values, ordered, filtered by the
cursor's position and sliced exactly as ``CursorPagination.paginate_queryset`` does.
``crm.db.compiled.CompiledQuery`` builds it once per process and shape with a stand-in user
(``crm.visibility.stand_in_user``) and a sentinel position; each request binds the user's
values and the cursor's position. Row-level security applies as to any statement, and the
organization bound must be the one in scope.

``ListRows`` is what the paginator is given in place of the queryset: it records the two
things DRF's cursor pagination does to it (``order_by`` and the position's ``filter``) and runs
the statement of that shape when the page is sliced. The shape is what changes the SQL text:
the user's shape (role, has a company, has a region), the ordering (``?ordering=``, reversed for
a backwards cursor), whether there is a position and which way it compares, the cursor's offset
and the page size (Django writes LIMIT and OFFSET into the text). Anything else takes the ORM
path, as before, through the same calls on the real queryset: a filter value that is not one
id in digits, or whose row the filter's check does not find (the FilterSet answers its 400), a
position
on another field than ``created_at`` (``?ordering=name`` and the like bind text, dates and
decimals), a position that is not an aware datetime, an inactive user, and every shape past
``MAX_SHAPES``. The rows are the ORM path's: ``tests/api/test_list_compiled.py`` walks the
cursors both ways and compares.

The FilterSet's filters (``?global_stage=``, ``?owner=``...: django-filter's model-choice
filters by id) are part of the shape, which of them is named, and their ids are bound. Each id
is checked first, as the FilterSet's form field checks it (a look-up among
``crm.api_filters.filter_choices``, the same statement count), by a compiled statement of its
own; then the page's statement filters by the ids. A well-formed id of no row (another
organization's, a missing one) then takes the ORM path, whose FilterSet answers the 400 (one
statement more on that error answer).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django_filters.filters import ModelChoiceFilter
from django_filters.utils import get_model_field
from rest_framework.filters import OrderingFilter

from crm.api_filters import FilterBackend, filter_choices
from crm.db.compiled import CompiledQuery, cached_statement
from crm.visibility import USER_VALUES, UserShape, stand_in_user, user_shape, user_values

# The one position compiled: the default ordering's and ``?ordering=(-)created_at``'s field.
POSITION_FIELD = "created_at"
_LOOKUPS = (f"{POSITION_FIELD}__lt", f"{POSITION_FIELD}__gt")
_NAMES = (*USER_VALUES, "position")
# Bound where the statement has no position (every name is bound on every run).
_NO_POSITION = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
# One prepared statement per shape on every connection that runs it: a bound on how many one
# process keeps (offsets stop at the cursor's cutoff; orderings and page sizes could grow).
MAX_SHAPES = 256

_statements: dict[Hashable, CompiledQuery] = {}
_lock = threading.Lock()

# A filter value the compiled path takes: one id in ASCII digits, as ``int()`` and the id
# field's lookup read it. Anything else (a sign, spaces, other digits, NUL, an empty value, a
# list) is the FilterSet's to judge: the ORM path, with its own 400.
_ID = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True)
class _IdFilter:
    """A FilterSet filter the compiled path applies itself: django-filter's ``ModelChoiceFilter``
    as ``filterset_fields`` makes it (``field__exact=<row>``, the row's id checked against
    ``filter_choices``), no method, no exclude, no distinct, no null choice."""

    lookup: str
    field: Any
    key: str  # the form field's ``to_field_name``: what the id is looked up by


# Per viewset class: its filters by name (in the FilterSet's order), None for a filter that is
# not an ``_IdFilter`` (the ORM path), or None for a viewset without the API's filter backend.
_filters: dict[type, dict[str, _IdFilter | None] | None] = {}


def _id_filters(viewset: Any) -> dict[str, _IdFilter | None] | None:
    kind = type(viewset)
    if kind in _filters:
        return _filters[kind]
    found: dict[str, _IdFilter | None] | None = None
    backends = viewset.filter_backends
    backend = next((b for b in backends if issubclass(b, FilterBackend)), None)
    # The compiled path applies the FilterSet's filters; the ordering filter's order_by is the
    # paginator's to replace. Any other backend: the ORM path.
    if backend is not None and all(
        issubclass(b, (FilterBackend, OrderingFilter)) for b in backends
    ):
        filterset = backend().get_filterset_class(viewset, viewset.model._default_manager.none())
        found = {}
        for name, filter_ in filterset.base_filters.items() if filterset else ():
            extra = filter_.extra
            plain = (
                type(filter_) is ModelChoiceFilter
                and filter_.lookup_expr == "exact"
                and filter_.method is None
                and not filter_.exclude
                and not filter_.distinct
                and extra.get("null_label") is None
                and set(extra) <= {"to_field_name", "null_label", "empty_label", "required"}
                and not extra.get("required")
            )
            field = get_model_field(viewset.model, filter_.field_name) if plain else None
            if field is None or not field.is_relation or field.many_to_many:
                found[name] = None
                continue
            found[name] = _IdFilter(
                lookup=f"{filter_.field_name}__exact",
                field=field,
                key=extra.get("to_field_name") or "pk",
            )
    _filters[kind] = found
    return found


def _choice_exists(viewset: Any, name: str, id_filter: _IdFilter, user: Any, id_: int) -> bool:
    """Whether the filter's form field would accept ``id_`` (its ``queryset.get``), by one
    compiled statement per filter; False also where no statement fits (the ORM path then)."""
    statement = cached_statement(
        _statements,
        _lock,
        ("choice", type(viewset), name),
        MAX_SHAPES,
        lambda: CompiledQuery(
            lambda organization_id, id: (
                filter_choices(id_filter.field, organization_id)
                .filter(**{id_filter.key: id})
                .values_list("pk")[:1]
            ),
            "organization_id",
            "id",
            scope="organization_id",
        ),
    )
    return statement is not None and bool(
        statement.rows(organization_id=user.organization_id, id=id_)
    )


def _filtered(qs: QuerySet[Any], lookups: tuple[str, ...], ids: tuple[Any, ...]) -> QuerySet[Any]:
    # As the FilterSet filters (its filters in order, ``field__exact``), with the row's id for
    # the row: the same condition on the foreign key's column.
    for lookup, id_ in zip(lookups, ids, strict=True):
        qs = qs.filter(**{lookup: id_})
    return qs


class ListRows:
    """The list's rows for ``CursorPagination``: ``order_by`` and ``filter`` as DRF calls them,
    the page's slice one compiled statement (or, where no statement fits, the same calls on the
    ORM's queryset, made then: ``fallback``)."""

    def __init__(
        self,
        viewset: Any,
        user: Any,
        shape: UserShape,
        fields: tuple[str, ...],
        fallback: Callable[[], QuerySet[Any]],
        lookups: tuple[str, ...] = (),
        ids: tuple[int, ...] = (),
    ) -> None:
        self._viewset = viewset
        self._user = user
        self._shape = shape
        self._fields = fields
        self._fallback = fallback
        # The filters the request named (checked already), their lookups in the FilterSet's
        # order: part of the shape; their ids are bound.
        self._lookups = lookups
        self._ids = ids
        self._calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self._ordering: tuple[str, ...] | None = None
        self._lookup: str | None = None
        self._position: Any = None
        self._orm = False
        # What OrderingFilter's field check reads of a queryset (never used: ordering_fields
        # are named on the viewset).
        self.model = viewset.model

    def order_by(self, *ordering: str) -> ListRows:
        self._calls.append(("order_by", ordering, {}))
        self._ordering = ordering
        if not ordering or ordering[0].lstrip("-") != POSITION_FIELD:
            self._orm = True
        return self

    def filter(self, **kwargs: Any) -> ListRows:
        self._calls.append(("filter", (), kwargs))
        if self._lookup is not None or len(kwargs) != 1:
            self._orm = True
            return self
        ((lookup, value),) = kwargs.items()
        if lookup not in _LOOKUPS:
            self._orm = True
            return self
        # As the lookup prepares it: the cursor's text parsed by the field (a bad one raises
        # the ORM's ValidationError here, as the queryset's filter would).
        prepared = self._viewset.model._meta.get_field(POSITION_FIELD).get_prep_value(value)
        if type(prepared) is not dt.datetime or prepared.utcoffset() is None:
            self._orm = True
        self._lookup, self._position = lookup, prepared
        return self

    def __getitem__(self, page: slice) -> list[dict[str, Any]]:
        if not isinstance(page, slice) or page.step is not None or page.stop is None:
            raise TypeError("ListRows takes a page's slice.")
        start = page.start or 0
        statement = None if self._orm else self._statement(start, page.stop)
        if statement is None:
            return list(self._replay()[page])
        values = user_values(self._user)
        values["position"] = _NO_POSITION if self._lookup is None else self._position
        values.update(zip(_filter_names(len(self._ids)), self._ids, strict=True))
        return [dict(zip(self._fields, row, strict=True)) for row in statement.rows(**values)]

    def _replay(self) -> QuerySet[Any]:
        qs = self._fallback()
        for name, args, kwargs in self._calls:
            qs = getattr(qs, name)(*args, **kwargs)
        return qs

    def _statement(self, start: int, stop: int) -> CompiledQuery | None:
        assert self._ordering is not None  # CursorPagination always orders
        key = (
            type(self._viewset),
            self._shape,
            self._ordering,
            self._lookup,
            start,
            stop,
            self._lookups,
        )
        return cached_statement(
            _statements,
            _lock,
            key,
            MAX_SHAPES,
            lambda: CompiledQuery(
                _builder(type(self._viewset), self._fields, *key[1:]),
                *_NAMES,
                *_filter_names(len(self._lookups)),
                scope="organization_id",
                datetimes=("position",),
            ),
        )


def _builder(
    viewset: Any,
    fields: tuple[str, ...],
    shape: UserShape,
    ordering: tuple[str, ...],
    lookup: str | None,
    start: int,
    stop: int,
    lookups: tuple[str, ...],
) -> Callable[..., QuerySet[Any]]:
    def build(**values: Any) -> QuerySet[Any]:
        user = stand_in_user(shape, **{name: values[name] for name in USER_VALUES})
        # The ORM path's calls: the viewset's rows filtered, as values, then CursorPagination's.
        ids = tuple(values[name] for name in _filter_names(len(lookups)))
        qs = _filtered(viewset.visible_queryset(user), lookups, ids)
        qs = qs.values(*fields).order_by(*ordering)
        if lookup is not None:
            qs = qs.filter(**{lookup: values["position"]})
        return qs.values_list(*fields)[start:stop]

    return build


def _filter_names(count: int) -> tuple[str, ...]:
    return tuple(f"filter_{i}" for i in range(count))


def page_rows(viewset: Any, fields: tuple[str, ...]) -> ListRows | QuerySet[Any]:
    """What the viewset's list pages: ``ListRows`` (compiled statements), or the ORM's values
    queryset where the user has no shape or a filter the compiled path does not take."""
    request = viewset.request

    def orm() -> QuerySet[Any]:
        return viewset.filter_queryset(viewset.get_queryset()).values(*fields)

    shape = user_shape(request.user)
    params = request.query_params
    if shape is None:
        return orm()
    named = [name for name in viewset.filterset_fields if name in params]
    if not named:
        # No filter named: the filter backend leaves the rows as they are, and the ordering
        # filter's order_by is replaced by the paginator's own (the same ordering, or reversed).
        return ListRows(viewset, request.user, shape, fields, orm)
    filters = _id_filters(viewset)
    if filters is None:
        return orm()
    lookups: list[str] = []
    ids: list[int] = []
    # In the FilterSet's order (the ORM path's): one shape per set of filters named.
    for name, id_filter in filters.items():
        if name not in params:
            continue
        given = params.getlist(name)
        if id_filter is None or len(given) != 1 or not _ID.fullmatch(given[0]):
            return orm()
        # The FilterSet validates each id now, before the paginator reads its cursor (a bad
        # filter is a 400 even with a bad cursor): so does this, one statement per filter as
        # its form field's query. An id it does not find: the ORM path answers the 400.
        if not _choice_exists(viewset, name, id_filter, request.user, int(given[0])):
            return orm()
        lookups.append(id_filter.lookup)
        ids.append(int(given[0]))
    if len(lookups) != len(named):
        return orm()  # a name the FilterSet does not know (filterset_fields is its source)

    def checked() -> QuerySet[Any]:
        # A page no statement fits (another position, past the bound): the ORM's queryset
        # filtered by the ids checked above (the FilterSet would check them a second time).
        return _filtered(viewset.get_queryset(), tuple(lookups), tuple(ids)).values(*fields)

    return ListRows(viewset, request.user, shape, fields, checked, tuple(lookups), tuple(ids))
