"""The opportunity list page's two statements, its page of rows and its capped count, built by
the ORM once per shape and run prepared with each request's values (issue 21).

Building them cost more CPU than PostgreSQL needs to answer them: for a rep, Django resolved
the four visibility sources and compiled the ranked union (``crm.db.sources``) twice a request,
about 6 ms of a 17-20 ms page. The definition stays ``forms.list_queryset`` (the selector, the
visibility policy, the page's filters and sort); ``crm.db.compiled.CompiledQuery`` calls it once
per process and shape with a stand-in user (``crm.visibility.stand_in_user``) and sentinel
filter values, and each request binds its own: the organization, the user, the user's company
and region, the chosen ids and the quarter's dates. Row-level security applies as to any
statement, and the organization asked for must be the one in scope.

The shape is what changes the SQL text: the user's role and whether the user has a company and
a region (``crm.visibility.user_shape``), which filters are chosen, open/closed/all, the sort,
and the page's offset (Django writes LIMIT and OFFSET into the text, and the ranked union its
``k``). A search is not compiled (its ``LIKE`` pattern folds the term into a parameter of its
own): it takes the ORM path, as does anything else the shape cannot say. The rows and the
count are the ORM path's: ``tests/opportunities/test_list_query.py`` compares them.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import namedtuple
from collections.abc import Callable, Hashable
from typing import Any, cast

from django.core.paginator import Page
from django.db.models import QuerySet

from crm.db.compiled import CompiledQuery, cached_statement
from crm.models import User
from crm.pagination import COUNT_CAP, CappedPaginator, CountedPaginator
from crm.visibility import USER_VALUES, UserShape, stand_in_user, user_shape, user_values
from opportunities.forms import SORTS, list_queryset
from opportunities.rows import ROW_FIELDS, row_values

# The filters that are ids (the form cleans them to ids), and the quarter's two dates.
_IDS = ("region", "sales_company", "owner", "global_stage", "product")
_DATES = ("closing_from", "closing_to")
_NAMES = (*USER_VALUES, *_IDS, *_DATES)
# Each shape is a statement prepared on every connection that runs it: a bound on how many one
# process keeps (the page numbers stop at the capped count's; the filters' combinations are
# what could grow). Past it, the ORM path.
MAX_SHAPES = 512

# The rows as ``values_list(*ROW_FIELDS, named=True)`` gives them (``opportunities.rows``).
Row = namedtuple("Row", ROW_FIELDS)  # type: ignore[misc]

_statements: dict[Hashable, CompiledQuery] = {}
_lock = threading.Lock()


def _shape(user: User, filters: dict[str, Any]) -> tuple[Any, ...] | None:
    """The shape of the page's SQL for these filters; ``None``: not compiled (the ORM path)."""
    shape = user_shape(user)
    if shape is None or (filters.get("search") or "").strip():
        return None
    if set(filters) - {*_IDS, *_DATES, "is_open", "search", "sort"}:
        return None
    if filters.get("sort", "newest") not in SORTS:
        return None
    chosen = frozenset(name for name in _IDS if filters.get(name) is not None)
    if any(type(_id(filters[name])) is not int for name in chosen):
        return None
    dates = tuple(filters.get(name) is not None for name in _DATES)
    return (shape, chosen, filters.get("is_open"), dates, filters.get("sort", "newest"))


def _id(value: Any) -> Any:
    return getattr(value, "pk", value)


def _statement(shape: tuple[Any, ...], offset: int | None, size: int) -> CompiledQuery | None:
    """The page at ``offset`` of ``size`` rows; ``offset=None``: the count capped at ``size``."""
    return cached_statement(
        _statements,
        _lock,
        (*shape, offset, size),
        MAX_SHAPES,
        lambda: CompiledQuery(
            _builder(shape, offset, size),
            *_NAMES,
            scope="organization_id",
            dates=_DATES,
            count=offset is None,
        ),
    )


def _builder(shape: tuple[Any, ...], offset: int | None, size: int) -> Callable[..., QuerySet[Any]]:
    user_of: UserShape = shape[0]
    chosen, is_open, dates, sort = shape[1:]

    def build(**values: Any) -> QuerySet[Any]:
        user = stand_in_user(user_of, **{name: values[name] for name in USER_VALUES})
        filters: dict[str, Any] = {name: values[name] for name in chosen}
        for name, present in zip(_DATES, dates, strict=True):
            if present:
                filters[name] = values[name]
        qs = list_queryset(user, is_open=is_open, sort=sort, **filters)
        if offset is None:
            # CappedPaginator.count's statement: the first cap + 1 rows, counted.
            return qs.order_by()[: size + 1].values_list("pk")
        # The page's rows (opportunities.rows.row_values of the sliced queryset).
        return qs.values_list(*ROW_FIELDS)[offset : offset + size]

    return build


def _values(user: User, filters: dict[str, Any]) -> dict[str, Any]:
    values = dict.fromkeys(_NAMES)
    values.update(user_values(user))
    for name in _IDS:
        if filters.get(name) is not None:
            values[name] = _id(filters[name])
    for name in _DATES:
        # Without the quarter the dates are in no statement's text; a date all the same (the
        # compiled query checks the type of every date it is given).
        values[name] = filters.get(name) or dt.date.min
    return values


class CompiledRows:
    """The list's rows for a paginator: ``count()`` is the capped count, a slice one page of
    rows (named tuples of ``ROW_FIELDS``), each one compiled statement."""

    def __init__(
        self, user: User, filters: dict[str, Any], shape: tuple[Any, ...], size: int
    ) -> None:
        self._shape = shape
        self._size = size
        self._values = _values(user, filters)
        self._user = user
        self._filters = filters

    def _orm(self) -> QuerySet[Any]:
        # Past MAX_SHAPES only: the ORM path's queryset (built on demand, it is what costs).
        return list_queryset(self._user, **self._filters)

    def count(self, cap: int = COUNT_CAP) -> int:
        """The rows up to ``cap + 1`` (``CappedPaginator.count``)."""
        statement = _statement(self._shape, None, cap)
        if statement is None:
            return self._orm().order_by()[: cap + 1].count()
        ((n,),) = statement.rows(**self._values)
        return int(n)

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, page: slice) -> list[Any]:
        if not isinstance(page, slice) or page.step is not None:
            raise TypeError("CompiledRows takes a page's slice.")
        start, stop = page.start or 0, page.stop
        # Paginator cuts the last page at the count: the same rows as a full page's statement.
        statement = _statement(self._shape, start, self._size)
        if statement is None or stop is None or not 0 <= stop - start <= self._size:
            return list(self._orm().values_list(*ROW_FIELDS, named=True)[start:stop])
        return [Row(*row) for row in statement.rows(**self._values)[: stop - start]]


def list_page(user: User, filters: dict[str, Any], number: Any, size: int) -> Page:
    """The page ``number`` of the list (``form.list_filters()``), its rows as ``row_values``
    gives them (named tuples of ``ROW_FIELDS``)."""
    shape = _shape(user, filters)
    if shape is None:
        page = CappedPaginator(list_queryset(user, **filters), size).get_page(number)
        page.object_list = row_values(cast(QuerySet[Any], page.object_list))
        return page
    return CountedPaginator(CompiledRows(user, filters, shape, size), size).get_page(number)
