"""Pagination for lists that can hold a million rows: the count stops at a cap.

A full COUNT(*) of a large visible set costs more than the page itself; past the cap the page
says "more than N" and the user narrows the list with filters instead of paging that deep.
The cap is 1,000 (40 pages of 25): at 10,000 a country manager's count walked ten times as many
rows and cost 300 ms of a 360 ms page in the 1M benchmark; nobody pages past page 40.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.core.paginator import Paginator
from django.db.models import QuerySet

if TYPE_CHECKING:
    # Generic only in the stubs; at run time not subscriptable.
    _Paginator = Paginator[Any]
else:
    _Paginator = Paginator

COUNT_CAP = 1_000


class CappedPaginator(_Paginator):
    cap = COUNT_CAP
    # What is paged this way is a queryset: a list would be counted for free.
    object_list: QuerySet[Any]

    @cached_property
    def count(self) -> int:
        # A sliced queryset counts in a subquery: LIMIT cap + 1, then count.
        return self.object_list.order_by()[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap


class CountedPaginator(CappedPaginator):
    """A capped paginator over rows that count themselves (``count(cap)``: the rows up to
    ``cap + 1``) and hand out a page's slice: compiled statements in place of a queryset (the
    opportunity list page, the search page)."""

    object_list: Any

    def __init__(self, rows: Any, per_page: int) -> None:
        super().__init__(rows, per_page)

    @cached_property
    def count(self) -> int:
        return int(self.object_list.count(self.cap))
