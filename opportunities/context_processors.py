"""The ``may_*`` flags every template may ask, so that no template compares role strings: each
flag is the answer of the one service-level rule that the pages and the API enforce too."""

from __future__ import annotations

from django.http import HttpRequest

from opportunities.services import may_book_opportunities, may_see_team


def permissions(request: HttpRequest) -> dict[str, bool]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"may_book": False, "may_see_team": False}
    return {"may_book": may_book_opportunities(user), "may_see_team": may_see_team(user)}
