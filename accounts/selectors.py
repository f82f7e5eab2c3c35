"""Reads of the accounts app. Each takes the acting user and applies the one visibility policy.

Reads that need the accounts' deals too (the 360°, plan progress, agreement volume and terms)
sit above, in ``opportunities.customer``.
"""

from __future__ import annotations

from django.db.models import (
    QuerySet,
)

from accounts.models import (
    Account,
    Activity,
)
from accounts.normalize import normalize_name
from crm.models import User
from crm.visibility import apply, get_visible_or_404


def account_list(*, user: User, search: str = "", country: str = "") -> QuerySet[Account]:
    qs = Account.objects.unscoped().visible_to(user).select_related("home_company")
    if search:
        # The pattern index on normalized_name serves this prefix search.
        qs = qs.filter(normalized_name__startswith=normalize_name(search))
    if country:
        qs = qs.filter(country=country.upper())
    return qs.order_by("name", "pk")


def account_get(*, user: User, pk: int) -> Account:
    return get_visible_or_404(
        Account.objects.unscoped().select_related("home_company", "parent", "group"), user, pk=pk
    )


def latest_activities(user: User, group_id: int) -> list[Activity]:
    """The 20 newest activities on the group's accounts that the user may see (the 360° feed)."""
    return list(
        apply(Activity.objects.unscoped(), user)
        .filter(account__group_id=group_id)
        .select_related("account", "owner", "sales_company", "contact")
        .order_by("-created_at", "-pk")[:20]
    )
