"""Visibility policies of customer accounts and what hangs off them (registered in
``crm.visibility`` by ``AccountsConfig.ready``). The role table is in ARCHITECTURE.md.

Need-to-know for marketing: it works leads and campaigns and reads accounts and contacts (the
table's "read-only"); deal data is the sellers'. Account plans (targets) and agreements (discount
tiers, terms) are not marketing's, and these checks come before the "whole organization" exits:
global marketing has no company, which ``scoped_company_ids`` reads as all.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import (
    Account,
    AccountPlan,
    AccountPlanUserObjectPermission,
    AccountTeamMember,
    FrameworkAgreement,
    TeamRole,
)
from crm.models import User
from crm.roles import ORG_WIDE_ROLES, Role
from crm.visibility import (
    among,
    audit_trail,
    event_policy,
    everyone_in_the_organization,
    grant_policy,
    granted_ids,
    nothing,
    policy,
    scoped_company_ids,
)


def team_group_ids(user: User) -> QuerySet[Any] | None:
    """Top accounts of the groups whose global account team gives this user visibility:
    a rep through their own membership, a manager through any member of their companies.
    ``None`` for the roles that see the whole organization anyway."""
    if user.role in ORG_WIDE_ROLES:
        return None
    team = AccountTeamMember.objects.for_org(user.organization_id)
    if user.role in (Role.SALES_REP, Role.MARKETING):
        team = team.filter(user_id=user.pk)
    else:
        # A queryset in a boolean context would run; pass the subquery itself.
        company_ids = scoped_company_ids(user)
        team = team.filter(sales_company_id__in=[] if company_ids is None else company_ids)
    return team.values("account_id")


def account_q(user: User, prefix: str = "") -> Q:
    """Accounts the user sees: their companies' accounts, plus whole groups through the team."""
    company_ids = scoped_company_ids(user)
    groups = team_group_ids(user)
    if company_ids is None or groups is None:
        return Q()
    # The team's groups stay a hashed ``IN``: a manager's reach thousands of groups, and the
    # pages that read accounts narrow by group or walk an ordered index, where probing each row
    # beats gathering every team account into a bitmap first (measured: 360 of a group 25 ms
    # with the bitmap, 1 ms without).
    return among(f"{prefix}home_company_id", company_ids) | Q(**{f"{prefix}group_id__in": groups})


@policy("accounts.Account")
def _accounts(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    return qs.filter(account_q(user))


@policy("accounts.Contact", "accounts.AccountTeamMember")
def _through_account(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    return qs.filter(account_q(user, "account__"))


@policy("accounts.FrameworkAgreement")
def _agreements(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    if user.role == Role.MARKETING:
        return nothing(qs)
    return qs.filter(account_q(user, "account__"))


@policy("accounts.DiscountTier", "accounts.AgreementCompany")
def _through_agreement(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    if user.role == Role.MARKETING:
        return nothing(qs)
    return qs.filter(account_q(user, "agreement__account__"))


@policy("accounts.AccountPlan")
def _plans(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    granted = Q(id__in=granted_ids(AccountPlanUserObjectPermission, user))
    if user.role == Role.MARKETING:
        # A plan someone explicitly shared with a marketing colleague, nothing else.
        return qs.filter(granted)
    q = account_q(user, "account__")
    if q == Q():
        return qs
    return qs.filter(q | granted)


@policy("accounts.PlanAction")
def _plan_actions(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # An action's owner sees it (their task list, completing it) even where the plan is out of
    # their sight, e.g. a colleague abroad given a step of the group's plan.
    return qs.filter(
        Q(owner_id=user.pk) | Q(plan_id__in=AccountPlan.objects.visible_to(user).values("id"))
    )


@policy("accounts.GroupJoinRequest")
def _join_requests(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    """Who asked, and who decides or must know: the group's global account manager, the
    managers of the account's home company and of the group's home company, the director and
    the admin. Neither the requester nor the other side learns more about the other's records
    from it: a request names both accounts, and each side sees the one it already may."""
    if user.role in ORG_WIDE_ROLES:
        return qs
    gam_of = (
        AccountTeamMember.objects.for_org(user.organization_id)
        .filter(user_id=user.pk, role=TeamRole.GLOBAL_ACCOUNT_MANAGER)
        .values("account_id")
    )
    q = Q(requested_by_id=user.pk) | Q(group_id__in=gam_of)
    if user.role in (Role.COUNTRY_MANAGER, Role.REGIONAL_MANAGER):
        company_ids = scoped_company_ids(user)
        if company_ids is not None:
            q |= among("account__home_company_id", company_ids) | among(
                "group__home_company_id", company_ids
            )
    return qs.filter(q)


@policy("accounts.AccountValue")
def _values(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # An account's value is seen with the account, by whoever sees the account in full;
    # it is deal data, which marketing does not read.
    if user.role == Role.MARKETING:
        return nothing(qs)
    return qs.filter(account_q(user, "account__"))


# The segment rules are configuration the whole organization may read (the set-up page and
# the API that change them are the admin's).
policy("accounts.SegmentRule", "accounts.SegmentRuleEvent")(everyone_in_the_organization)

policy("accounts.AccountPlanUserObjectPermission")(grant_policy)

# Audit history: the account's History page shows its own changes and those of what hangs off
# it. Agreement history hangs off the account (it outlives a deleted agreement) but is deal
# data, which marketing does not read; so are the tiers' (not on the page).
audit_trail(
    Account,
    ("AccountEvent", "pgh_obj_id"),
    ("ContactEvent", "account_id"),
    ("AccountTeamMemberEvent", "account_id"),
    ("FrameworkAgreementEvent", "account_id"),
    deal_data={"FrameworkAgreementEvent"},
)
policy("accounts.DiscountTierEvent")(
    event_policy(FrameworkAgreement, "agreement_id", marketing=False)
)
