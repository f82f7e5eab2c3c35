"""Pagination for lists that can hold a million rows: the count stops at a cap.

A full COUNT(*) of a large visible set costs more than the page itself; past the cap the page
says "more than N" and the user narrows the list with filters instead of paging that deep.
"""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import Paginator

COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    cap = COUNT_CAP

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        # A sliced queryset counts in a subquery: LIMIT cap + 1, then count.
        return self.object_list.order_by()[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap
