"""Reads of the accounts app. Each takes the acting user and applies the one visibility policy.

Reads that need the accounts' deals too (the 360°, plan progress, agreement volume and terms)
sit above, in ``opportunities.customer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import (
    F,
    QuerySet,
)
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
from crm.models import User
from crm.registry import access_by_id
from crm.roles import Role


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
