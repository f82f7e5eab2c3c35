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
path, as before, through the same calls on the real queryset: a request naming a filter (the
FilterSet validates its ids against the organization's rows, a query of its own), a position
on another field than ``created_at`` (``?ordering=name`` and the like bind text, dates and
decimals), a position that is not an aware datetime, an inactive user, and every shape past
``MAX_SHAPES``. The rows are the ORM path's: ``tests/api/test_list_compiled.py`` walks the
cursors both ways and compares.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Hashable
from typing import Any

from django.db.models import QuerySet

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
    ) -> None:
        self._viewset = viewset
        self._user = user
        self._shape = shape
        self._fields = fields
        self._fallback = fallback
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
        return [dict(zip(self._fields, row, strict=True)) for row in statement.rows(**values)]

    def _replay(self) -> QuerySet[Any]:
        qs = self._fallback()
        for name, args, kwargs in self._calls:
            qs = getattr(qs, name)(*args, **kwargs)
        return qs

    def _statement(self, start: int, stop: int) -> CompiledQuery | None:
        assert self._ordering is not None  # CursorPagination always orders
        key = (type(self._viewset), self._shape, self._ordering, self._lookup, start, stop)
        return cached_statement(
            _statements,
            _lock,
            key,
            MAX_SHAPES,
            lambda: CompiledQuery(
                _builder(type(self._viewset), self._fields, *key[1:]),
                *_NAMES,
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
) -> Callable[..., QuerySet[Any]]:
    def build(**values: Any) -> QuerySet[Any]:
        user = stand_in_user(shape, **{name: values[name] for name in USER_VALUES})
        # The ORM path's calls: the viewset's rows as values, then CursorPagination's.
        qs = viewset.visible_queryset(user).values(*fields).order_by(*ordering)
        if lookup is not None:
            qs = qs.filter(**{lookup: values["position"]})
        return qs.values_list(*fields)[start:stop]

    return build


def page_rows(viewset: Any, fields: tuple[str, ...]) -> ListRows | QuerySet[Any]:
    """What the viewset's list pages: ``ListRows`` (compiled statements), or the ORM's values
    queryset where the request names a filter or the user has no shape."""
    request = viewset.request

    def orm() -> QuerySet[Any]:
        return viewset.filter_queryset(viewset.get_queryset()).values(*fields)

    shape = user_shape(request.user)
    params = request.query_params
    if shape is None or any(name in params for name in viewset.filterset_fields):
        return orm()
    # No filter named: the filter backend leaves the rows as they are, and the ordering
    # filter's order_by is replaced by the paginator's own (the same ordering, or reversed).
    return ListRows(viewset, request.user, shape, fields, orm)
