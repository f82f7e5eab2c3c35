"""Reads of the accounts app. Each takes the acting user and applies the one visibility policy.

Reads that need the accounts' deals too (the 360°, plan progress, agreement volume and terms)
sit above, in ``opportunities.customer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, Q, QuerySet
from django.utils.translation import gettext as _

from accounts.matching import DuplicateCandidate, find_duplicate_candidates, reason_text
from accounts.models import (
    Account,
    AccountPlan,
    AccountTeamMember,
    Activity,
    Contact,
    PlanAction,
    TeamRole,
)
from accounts.normalize import normalize_name
from accounts.tokens import join_token
from accounts.value import may_see_customer_value
from crm.ids import parse_id
from crm.models import User
from crm.registry import access_by_id
from crm.roles import Role

# The account list's orders (``?sort=``): by name, by segment, or by the stored lifetime value
# (highest first; accounts without a value yet, or with an unknown one, last).
ACCOUNT_SORTS: dict[str, tuple[Any, ...]] = {
    "name": ("name", "pk"),
    "segment": ("segment", "name", "pk"),
    "value": (F("value__lifetime_value").desc(nulls_last=True), "pk"),
}


def account_list(
    *, user: User, search: str = "", country: str = "", segment: str = "", sort: str = "name"
) -> QuerySet[Account]:
    qs = Account.objects.visible_to(user).select_related("home_company")
    shows_value = may_see_customer_value(user)
    if shows_value:
        # The stored customer value, in the same query (accounts.value: who may see it).
        qs = qs.select_related("value")
    elif sort == "value":
        sort = "name"  # an order by value would tell what the value is
    if search:
        # The pattern index on normalized_name serves this prefix search.
        qs = qs.filter(normalized_name__startswith=normalize_name(search))
    if country:
        qs = qs.filter(country=country.upper())
    if segment:
        qs = qs.filter(segment=segment)
    return qs.order_by(*ACCOUNT_SORTS.get(sort, ACCOUNT_SORTS["name"]))


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
    return activity_timeline(user=user, group_id=group_id).items


TIMELINE_PAGE_SIZE = 20


@dataclass
class TimelinePage:
    """One page of a timeline, newest first. No count: one more row than shown tells whether
    an older page exists (a busy account has thousands of activities)."""

    items: list[Activity]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def next_number(self) -> int:
        return self.number + 1

    @property
    def previous_number(self) -> int:
        return self.number - 1


def activity_timeline(
    *,
    user: User,
    group_id: int | None = None,
    account_id: int | None = None,
    opportunity_id: int | None = None,
    contact_id: int | None = None,
    page: object = 1,
    per_page: int = TIMELINE_PAGE_SIZE,
) -> TimelinePage:
    """What happened (by ``happened_at``, newest first) on a group, an account, a deal or with
    a contact, as the user may see it: one query per page."""
    number = timeline_number(page)
    start = (number - 1) * per_page
    rows = list(
        timeline_queryset(
            user=user,
            group_id=group_id,
            account_id=account_id,
            opportunity_id=opportunity_id,
            contact_id=contact_id,
        )[start : start + per_page + 1]
    )
    return timeline_page(rows, number, per_page)


def timeline_number(page: object) -> int:
    """The page number ``activity_timeline`` shows for the ``page`` asked for."""
    return min(parse_id(page) or 1, MAX_TIMELINE_PAGE)


def timeline_page(rows: list[Activity], number: int, per_page: int) -> TimelinePage:
    """The page of ``rows``: the page's activities and one more when an older page exists."""
    return TimelinePage(items=rows[:per_page], number=number, has_next=len(rows) > per_page)


def timeline_queryset(
    *,
    user: User,
    group_id: int | None = None,
    account_id: int | None = None,
    opportunity_id: int | None = None,
    contact_id: int | None = None,
) -> QuerySet[Activity]:
    """``activity_timeline``'s activities, newest first, unsliced (the 360° compiles its page
    of them once per shape: ``opportunities.customer``)."""
    qs = Activity.objects.visible_to(user)
    if group_id is not None:
        qs = qs.filter(account__group_id=group_id)
    if account_id is not None:
        qs = qs.filter(account_id=account_id)
    if opportunity_id is not None:
        qs = qs.filter(opportunity_id=opportunity_id)
    if contact_id is not None:
        qs = qs.filter(contact_id=contact_id)
    return qs.select_related(
        "account", "owner", "sales_company", "contact", "opportunity"
    ).order_by("-happened_at", "-pk")


# Deep pages of a timeline are an OFFSET walk; nobody reads 500 pages back (the API has filters).
MAX_TIMELINE_PAGE = 500


CONTACT_SORTS = {
    "name": ("full_name", "pk"),
    "-name": ("-full_name", "-pk"),
    "account": ("account__name", "full_name", "pk"),
    "-account": ("-account__name", "-full_name", "-pk"),
    "created": ("created_at", "pk"),
    "-created": ("-created_at", "-pk"),
}


def contact_list(
    *,
    user: User,
    search: str = "",
    account_id: int | None = None,
    company_id: int | None = None,
    archived: bool = False,
    sort: str = "name",
) -> QuerySet[Contact]:
    """Contacts the user may see (those of the accounts they see): live ones, or the archived
    ones only; narrowed by a search over name, e-mail and title, an account or the account's
    home company; sorted by one of ``CONTACT_SORTS``."""
    qs = Contact.objects.visible_to(user).filter(archived_at__isnull=not archived)
    if search:
        qs = qs.filter(
            Q(full_name__icontains=search) | Q(email__icontains=search) | Q(title__icontains=search)
        )
    if account_id is not None:
        qs = qs.filter(account_id=account_id)
    if company_id is not None:
        qs = qs.filter(account__home_company_id=company_id)
    return qs.select_related("account", "account__home_company").order_by(
        *CONTACT_SORTS.get(sort, CONTACT_SORTS["name"])
    )


def contacts_of_group(user: User, group_id: int, limit: int = 200) -> list[Contact]:
    """The live contacts of the group's accounts that the user sees (the 360° and the deal's
    buying-centre picker), by account and name."""
    return list(
        Contact.objects.visible_to(user)
        .filter(account__group_id=group_id, archived_at__isnull=True)
        .select_related("account")
        .order_by("account__name", "full_name", "pk")[:limit]
    )


@dataclass(frozen=True)
class HiddenMatch:
    """A look-alike the user may not see, told at need-to-know level: per group, the company
    that works it (the home company of the group's top account), whom to ask (the group's
    global account manager, else a country manager of that company) and why it matched.
    Nothing else - no account name, no deal, amount, stage or note - so that this is safe to
    render, serialize and mail to anyone who typed the name. ``token`` names the group for a
    join request without its id (``accounts.tokens``)."""

    company: str
    contact_name: str = ""
    contact_email: str = ""
    reasons: list[str] = field(default_factory=list)
    token: str = ""

    @property
    def reason_text(self) -> str:
        return reason_text(self.reasons)

    @property
    def message(self) -> str:
        if self.contact_name:
            return _("This customer exists — worked by %(company)s, contact %(person)s.") % {
                "company": self.company,
                "person": self.contact_name,
            }
        return _("This customer exists — worked by %(company)s.") % {"company": self.company}


def _hidden_matches(user: User, hidden: list[DuplicateCandidate]) -> list[HiddenMatch]:
    """One ``HiddenMatch`` per group of the hidden candidates, best match first. At most three
    queries whatever the number of candidates: the groups' top accounts, their global account
    managers, and (only for groups without one) the home companies' country managers."""
    org_id = user.organization_id
    reasons: dict[int, list[str]] = {}
    for candidate in hidden:  # best first, as found
        codes = reasons.setdefault(candidate.account.group_id or candidate.account.pk, [])
        codes += [r for r in candidate.reasons if r not in codes]
    if not reasons:
        return []
    tops = {
        a.pk: a
        for a in Account.objects.for_org(org_id)
        .filter(pk__in=list(reasons))
        .select_related("home_company")
    }
    gams = {
        m.account_id: m.user
        for m in AccountTeamMember.objects.for_org(org_id)
        .filter(
            account_id__in=list(tops),
            role=TeamRole.GLOBAL_ACCOUNT_MANAGER,
            user__is_active=True,
        )
        .select_related("user")
    }
    need_manager = {t.home_company_id for pk, t in tops.items() if pk not in gams}
    managers: dict[int, User] = {}
    if need_manager:
        for manager in (
            User.objects.for_org(org_id)
            .filter(role=Role.COUNTRY_MANAGER, is_active=True, sales_company_id__in=need_manager)
            .order_by("pk")
        ):
            assert manager.sales_company_id is not None  # filtered on it
            managers.setdefault(manager.sales_company_id, manager)
    matches = []
    for group_id, codes in reasons.items():
        top = tops.get(group_id)
        if top is None:  # deleted meanwhile
            continue
        person = gams.get(group_id) or managers.get(top.home_company_id)
        matches.append(
            HiddenMatch(
                company=top.home_company.name,
                contact_name=(person.full_name or person.email) if person else "",
                contact_email=person.email if person else "",
                reasons=codes,
                token=join_token(organization_id=org_id, user_id=user.pk, group_id=group_id),
            )
        )
    return matches


def duplicate_candidates(
    *,
    user: User,
    name: str,
    country: str = "",
    registration_number: str = "",
    domain: str = "",
    group: Account | None = None,
    exclude_id: int | None = None,
) -> tuple[list[DuplicateCandidate], list[HiddenMatch]]:
    """Existing accounts the one being entered may duplicate, matched across the whole
    organization: those the user may see (best first; the only ones that may be named), and
    for the others one need-to-know ``HiddenMatch`` per group (they count as duplicates all
    the same). A hidden account of a group the user already sees a candidate of adds nothing:
    the visible candidate leads there. At most five queries."""
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
        return [], []
    visible = set(
        Account.objects.visible_to(user)
        .filter(pk__in=[c.account.pk for c in found])
        .values_list("pk", flat=True)
    )
    shown = [c for c in found if c.account.pk in visible]
    seen_groups = {c.account.group_id or c.account.pk for c in shown}
    hidden = [
        c
        for c in found
        if c.account.pk not in visible and (c.account.group_id or c.account.pk) not in seen_groups
    ]
    return shown, _hidden_matches(user, hidden)


def access_plan_by_id(user: User, pk: object) -> AccountPlan:
    """An account plan the user may see (its group, or shared with them); else 404."""
    return access_by_id(
        AccountPlan.objects.visible_to(user).select_related(
            "organization", "account__home_company", "owner"
        ),
        pk,
    )


def access_plan_action_by_id(user: User, pk: object) -> PlanAction:
    """A plan action the user may see (its plan, or it is theirs); else 404."""
    return access_by_id(
        PlanAction.objects.visible_to(user).select_related("plan__account__home_company", "owner"),
        pk,
    )


def plan_actions(*, user: User, plan: AccountPlan) -> QuerySet[PlanAction]:
    """The plan's actions the user may see, soonest due first (undated last)."""
    return (
        PlanAction.objects.visible_to(user)
        .filter(plan=plan)
        .select_related("owner")
        .order_by(F("due_date").asc(nulls_last=True), "pk")
    )


def group_plans(*, user: User, group: Account) -> QuerySet[AccountPlan]:
    """The group's plans the user may see, newest year first."""
    return AccountPlan.objects.visible_to(user).filter(account=group).order_by("-year")
