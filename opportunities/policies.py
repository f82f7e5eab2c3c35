"""Visibility policies of opportunities and what hangs off them (registered in
``crm.visibility`` by ``OpportunitiesConfig.ready``). The role table is in ARCHITECTURE.md.

Marketing works leads and campaigns; deals are the sellers': opportunities (with their lines,
splits and stages), conflicts and sales activities are not marketing's, checked before the
"whole organization" exits (global marketing has no company, which ``scoped_company_ids`` reads
as all).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import Account
from accounts.policies import account_q, team_group_ids
from crm.db.sources import AnyOfSources, Source
from crm.models import User
from crm.roles import Role
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
from opportunities.models import (
    Conflict,
    ConflictParticipant,
    Opportunity,
    OpportunitySplit,
    OpportunityUserObjectPermission,
    Product,
)


def opportunity_q(user: User, prefix: str = "") -> Q | None:
    """Opportunities the user sees; ``None`` means all of the organization, ``Q(pk__in=[])``
    none. Booked by a company in scope, on a team group, owned, split to, or shared (the last
    three for every role but marketing's, whichever company books the deal)."""
    shared = granted_ids(OpportunityUserObjectPermission, user)
    if user.role == Role.MARKETING:
        # Marketing works leads and campaigns; deals are the sellers'. Checked before the
        # "whole organization" exit: global marketing has no company, which means None below.
        return Q(**{f"{prefix}id__in": shared})
    company_ids = scoped_company_ids(user)
    groups = team_group_ids(user)
    if company_ids is None or groups is None:
        return None
    # Deals the user owns or holds a split on are theirs to see whichever company books them
    # (a manager credited on another company's deal, too).
    splits = _split_ids(user)
    if user.role == Role.SALES_REP:
        either = Q()
        for source in _rep_sources(user, prefix, splits=splits, groups=groups, shared=shared):
            either |= source.q
        return either
    # A manager's own companies are a large share of the organization, so walking an ordered
    # index with this as a filter is cheap; their teams reach thousands of groups, which is
    # cheaper probed per row (hashed) than gathered into an array of every account first. The
    # group is the opportunity's own copy (kept by the database), not the account's: the whole
    # test stays on one table, a filter PostgreSQL prices once rather than on every loop of a
    # join with the accounts.
    return (
        among(f"{prefix}sales_company_id", company_ids)
        | Q(**{f"{prefix}account_group_id__in": groups})
        | Q(**{f"{prefix}owner_id": user.pk})
        | among(f"{prefix}id", splits)
        | among(f"{prefix}id", shared)
    )


def _split_ids(user: User) -> QuerySet[Any]:
    return (
        OpportunitySplit.objects.for_org(user.organization_id)
        .filter(user_id=user.pk)
        .values("opportunity_id")
    )


def _rep_sources(
    user: User,
    prefix: str = "",
    *,
    splits: QuerySet[Any],
    groups: QuerySet[Any],
    shared: QuerySet[Any],
) -> list[Source]:
    """A rep's deals by source: owned, split to, on a team group, shared.

    A rep's deals are a few thousand of the organization's million: each source is gathered
    once (InitPlans) as an indexable condition on the opportunity itself, so PostgreSQL
    combines index scans (BitmapOr) instead of walking the whole organization through a
    filter. The team source also says how to scan it group by group (the opportunity's own
    copy of the group, indexed with the list's order), for the ranked form of a page."""
    team_accounts = (
        Account.objects.for_org(user.organization_id).filter(group_id__in=groups).values("id")
    )
    return [
        Source(Q(**{f"{prefix}owner_id": user.pk})),
        Source(among(f"{prefix}id", splits)),
        Source(
            among(f"{prefix}account_id", team_accounts),
            field=f"{prefix}account_group_id",
            per=groups,
        ),
        Source(among(f"{prefix}id", shared)),
    ]


@policy("opportunities.Opportunity")
def _opportunities(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    if user.role == Role.SALES_REP:
        # A page of a rep's deals ranks each source's first rows before the join
        # (crm.db.sources: the rep's list at 1M in a few ms rather than 58-86).
        groups = team_group_ids(user)
        assert groups is not None  # a rep's role is not organization-wide
        sources = _rep_sources(
            user,
            splits=_split_ids(user),
            groups=groups,
            shared=granted_ids(OpportunityUserObjectPermission, user),
        )
        return qs.filter(AnyOfSources(*sources))
    q = opportunity_q(user)
    return qs if q is None else qs.filter(q)


@policy(
    "opportunities.OpportunityLine",
    "opportunities.OpportunitySplit",
    "opportunities.StageChange",
    "opportunities.OpportunityContactRole",
)
def _through_opportunity(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    q = opportunity_q(user, "opportunity__")
    return qs if q is None else qs.filter(q)


def _via_opportunity(user: User, prefix: str) -> Q:
    """Rows hanging off an opportunity the user sees, tested through the join rather than as
    ``opportunity_id IN (every visible opportunity)``: the rows of one account or one inbox are
    few, the visible opportunities of a manager are a hundred thousand."""
    q = opportunity_q(user, prefix)
    return Q() if q is None else q


# An accounts model, registered here: an activity is also seen through its deal, and the deal
# rule lives at this layer (accounts sits below opportunities and cannot ask it).
@policy("accounts.Activity")
def _activities(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    if user.role == Role.MARKETING:
        # Activities have no lead or campaign link: marketing sees only those it owns itself.
        return qs.filter(owner_id=user.pk)
    if scoped_company_ids(user) is None:
        return qs
    return qs.filter(
        Q(owner_id=user.pk) | account_q(user, "account__") | _via_opportunity(user, "opportunity__")
    )


@policy("opportunities.Conflict")
def _conflicts(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    """A situation is seen by whoever sees one of its deals (or, for a duplicate, one of its
    accounts), and by the managers of every company in it, to resolve it."""
    if user.role == Role.MARKETING:
        # Sellers, deal ids and agreement details: none of it is marketing's.
        return nothing(qs)
    company_ids = scoped_company_ids(user)
    if company_ids is None:
        return qs
    q = _via_opportunity(user, "opportunity__") | account_q(user, "account__")
    if user.role in (Role.COUNTRY_MANAGER, Role.REGIONAL_MANAGER):
        q |= among("sales_company_id", company_ids)
    sides = ConflictParticipant.objects.for_org(user.organization_id).filter(q)
    return qs.filter(pk__in=sides.values("conflict_id"))


@policy("opportunities.ConflictParticipant")
def _conflict_participants(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # The sides of the situations the user sees (need-to-know applies to their deals, which
    # the warnings read through the opportunity policy).
    visible = _conflicts(Conflict.objects.for_org(user.organization_id), user)
    return qs.filter(conflict_id__in=visible.values("pk"))


# The catalog is shared by the whole organization.
policy("opportunities.Product")(everyone_in_the_organization)
# A price book entry is the product's: everyone of the organization quotes with it.
policy("opportunities.ProductPrice")(everyone_in_the_organization)
policy("opportunities.ProductPriceEvent")(event_policy(Product, "product_id"))
policy("opportunities.OpportunityUserObjectPermission")(grant_policy)
# Audit history: the deal's History page shows its own changes, its lines' and its splits'
# (replaced on save, so their events hang off the deal).
audit_trail(
    Opportunity,
    ("OpportunityEvent", "pgh_obj_id"),
    ("OpportunityLineEvent", "opportunity_id"),
    ("OpportunitySplitEvent", "opportunity_id"),
    ("OpportunityContactRoleEvent", "opportunity_id"),
)
