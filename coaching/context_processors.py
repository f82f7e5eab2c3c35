"""The coaching ``may_*`` flags every template may ask (the deal page's "Coach" links), so that
no template compares role strings: each is the rule the coaching pages and API enforce."""

from __future__ import annotations

from django.http import HttpRequest

from coaching.policies import may_see_coaching
from coaching.services import may_coach


def permissions(request: HttpRequest) -> dict[str, bool]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"may_coach": False, "may_see_coaching": False}
    return {"may_coach": may_coach(user), "may_see_coaching": may_see_coaching(user)}
