"""The menu of each role: home, then the pages the role may open (one list per role); and the
unread count of the top bar's notifications link, which every role has.

The shell's: it names the pages of every app. Every URL name must resolve; a misspelt one raises
``NoReverseMatch`` rather than vanishing (tests/crm/test_navigation.py renders every role's menu).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _

from crm.http import signed_in_user
from crm.roles import Role
from crm.selectors import unread_count


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    name: str


# (URL name, label) per role: only pages the role may open (tests/crm/test_navigation.py walks
# them). Every name must resolve; a misspelt one raises NoReverseMatch rather than vanishing.
_REP = [
    ("opportunities:board", _("Board")),
    ("opportunities:list", _("Opportunities")),
    ("accounts:list", _("Accounts")),
    ("accounts:contacts", _("Contacts")),
    ("accounts:tasks", _("My tasks")),
    # Sellers: the leads handed to them; managers: their companies' leads (and the hand-over).
    ("leads:lead_list", _("Leads")),
    # A rep's coaching sessions and deal reviews; a manager's, of his reps (issue 19).
    ("coaching:list", _("Coaching")),
    # CSV/XLSX imports (issue 20): each role imports what its forms may create.
    ("imports:list", _("Imports")),
]
_MANAGER = [
    *_REP,
    ("opportunities:conflicts", _("Conflicts")),
    ("accounts:join_requests", _("Join requests")),
    ("opportunities:team", _("Team")),
    ("opportunities:data_quality", _("Data quality")),
    ("reporting:dashboard", _("Reports")),
    # No Segments: customer values sum every company's deals (accounts.value), the director's.
    ("reporting:targets", _("Targets")),
    ("reporting:alerts", _("Alerts")),
]
_NAVIGATION: dict[str, list[tuple[str, Any]]] = {
    Role.SALES_REP: _REP,
    Role.COUNTRY_MANAGER: _MANAGER,
    Role.REGIONAL_MANAGER: _MANAGER,
    Role.MARKETING: [
        ("leads:lead_list", _("Leads")),
        ("leads:campaign_list", _("Campaigns")),
        ("accounts:list", _("Accounts")),
        ("accounts:contacts", _("Contacts")),
        ("imports:list", _("Imports")),
    ],
    Role.GLOBAL_DIRECTOR: [
        ("reporting:dashboard", _("Reports")),
        ("reporting:segments", _("Segments")),
        ("reporting:targets", _("Targets")),
        ("opportunities:list", _("Opportunities")),
        ("accounts:list", _("Accounts")),
        ("accounts:contacts", _("Contacts")),
        ("opportunities:conflicts", _("Conflicts")),
        ("accounts:join_requests", _("Join requests")),
        ("setup:agreements", _("Agreements")),
        ("setup:teams", _("Account teams")),
        ("coaching:list", _("Coaching")),
        ("reporting:alerts", _("Alerts")),
        ("setup:deviation_alerts", _("Alert settings")),
        ("imports:list", _("Imports")),
    ],
    Role.GLOBAL_ADMIN: [
        ("setup:index", _("Set-up")),
        ("setup:stages", _("Stages")),
        ("setup:processes", _("Processes")),
        ("setup:companies", _("Sales companies")),
        ("setup:users", _("Users")),
        ("setup:rates", _("Exchange rates")),
        ("setup:coaching", _("Coaching topics")),
        ("setup:segment_rules", _("Segment rules")),
        ("reporting:dashboard", _("Reports")),
        ("reporting:alerts", _("Alerts")),
        ("setup:deviation_alerts", _("Alert settings")),
        ("imports:list", _("Imports")),
    ],
}


def navigation_for(user: Any) -> list[NavLink]:
    """The role's menu: home, then the pages its role may open."""
    links = [NavLink(label=str(_("Home")), url=reverse("home"), name="home")]
    for name, label in _NAVIGATION.get(user.role, []):
        links.append(NavLink(label=str(label), url=reverse(name), name=name))
    return links


# Where the count is kept on the request: one query per request, however many templates of it
# render with the context processor.
_UNREAD_ATTR = "_meridian_unread_notifications"


class UnreadNotifications:
    """The signed-in user's unread notification count for the top bar, read on first use of
    ``count`` only: an htmx partial that does not show the bar does not pay for the query."""

    def __init__(self, request: HttpRequest | None) -> None:
        self._request = request

    @cached_property
    def count(self) -> int:
        request = self._request
        if request is None:
            return 0
        cached: int | None = getattr(request, _UNREAD_ATTR, None)
        if cached is None:
            cached = unread_count(user=signed_in_user(request))
            setattr(request, _UNREAD_ATTR, cached)
        return cached


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Template context: the signed-in user's menu and unread notification count, each built on
    first use only (a page that does not show them never pays for the reverse() calls or the
    count query)."""
    user = getattr(request, "user", None)
    if user is None or not (user.is_authenticated and user.is_active):
        return {"navigation": [], "unread_notifications": UnreadNotifications(None)}
    return {
        "navigation": SimpleLazyObject(lambda: navigation_for(user)),
        "unread_notifications": UnreadNotifications(request),
    }
