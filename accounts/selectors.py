"""Reads of the accounts app. Each takes the acting user and applies the one visibility policy.

Reads that need the accounts' deals too (the 360°, plan progress, agreement volume and terms)
sit above, in ``opportunities.customer``.
"""

from __future__ import annotations

from django.db.models import (
    QuerySet,
)

from accounts.matching import DuplicateCandidate, find_duplicate_candidates
from accounts.models import (
    Account,
    AccountTeamMember,
    Activity,
    Contact,
)
from accounts.normalize import normalize_name
from crm.models import User
from crm.registry import access_by_id


def account_list(*, user: User, search: str = "", country: str = "") -> QuerySet[Account]:
    qs = Account.objects.visible_to(user).select_related("home_company")
    if search:
        # The pattern index on normalized_name serves this prefix search.
        qs = qs.filter(normalized_name__startswith=normalize_name(search))
    if country:
        qs = qs.filter(country=country.upper())
    return qs.order_by("name", "pk")


def access_account_by_id(user: User, pk: object) -> Account:
    return access_by_id(
        Account.objects.visible_to(user).select_related("home_company", "parent", "group"), pk
    )


def access_group_by_id(user: User, pk: object) -> Account:
    """The top account of a group (teams, plans and agreements hang there); a subsidiary's id
    is 404 like a missing one."""
    return access_by_id(
        Account.objects.visible_to(user).filter(parent__isnull=True).select_related("home_company"),
        pk,
    )


def access_contact_by_id(user: User, pk: object) -> Contact:
    return access_by_id(Contact.objects.visible_to(user).select_related("account"), pk)


def access_activity_by_id(user: User, pk: object) -> Activity:
    return access_by_id(Activity.objects.visible_to(user).select_related("account"), pk)


def access_team_member_by_id(user: User, pk: object) -> AccountTeamMember:
    return access_by_id(
        AccountTeamMember.objects.visible_to(user).select_related(
            "account", "user", "sales_company"
        ),
        pk,
    )


def latest_activities(user: User, group_id: int) -> list[Activity]:
    """The 20 newest activities on the group's accounts that the user may see (the 360° feed)."""
    return list(
        Activity.objects.visible_to(user)
        .filter(account__group_id=group_id)
        .select_related("account", "owner", "sales_company", "contact")
        .order_by("-created_at", "-pk")[:20]
    )


def duplicate_candidates(
    *,
    user: User,
    name: str,
    country: str = "",
    registration_number: str = "",
    domain: str = "",
    group: Account | None = None,
    exclude_id: int | None = None,
) -> tuple[list[DuplicateCandidate], int]:
    """Existing accounts the one being entered may duplicate: those the user may see (best
    first; the only ones that may be named) and how many others there are (they count as
    duplicates all the same). Two queries."""
    found = find_duplicate_candidates(
        organization=user.organization_id,
        name=name,
        country=country,
        registration_number=registration_number,
        domain=domain,
        group=group,
        exclude_id=exclude_id,
    )
    if not found:
        return [], 0
    visible = set(
        Account.objects.visible_to(user)
        .filter(pk__in=[c.account.pk for c in found])
        .values_list("pk", flat=True)
    )
    shown = [c for c in found if c.account.pk in visible]
    return shown, len(found) - len(shown)
