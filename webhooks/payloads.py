"""What an endpoint may hear: the sales companies an object concerns, and its payload at
need-to-know level for the endpoint's scope (ids, stage, amounts; never notes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from django.utils import timezone

from accounts.models import Account
from crm.models import Organization, SalesCompany
from crm.money import MissingExchangeRateError, to_corporate
from imports.models import ImportJob
from opportunities.models import Conflict, ConflictParticipant, Opportunity
from webhooks.models import Scope, WebhookEndpoint


def companies_of(obj: Any) -> set[int]:
    """The sales companies whose scope includes ``obj``: the booking company of a deal, the
    home company of an account, every company taking part in a conflict."""
    if isinstance(obj, Opportunity):
        return {obj.sales_company_id}
    if isinstance(obj, Account):
        return {obj.home_company_id}
    if isinstance(obj, Conflict):
        found = set(
            ConflictParticipant.objects.for_org(obj.organization_id)
            .filter(conflict_id=obj.pk)
            .values_list("sales_company_id", flat=True)
        )
        return found | {obj.sales_company_id}
    if isinstance(obj, ImportJob):
        # An import is its importer's company's (an organization-wide user's: no company's,
        # so only organization-wide endpoints hear of it).
        company = obj.created_by.sales_company_id
        return {company} if company else set()
    return set()


def company_regions(organization_id: int) -> dict[int, int | None]:
    return dict(SalesCompany.objects.for_org(organization_id).values_list("pk", "region_id"))


def visible_companies(
    endpoint: WebhookEndpoint, regions: dict[int, int | None]
) -> Collection[int] | None:
    """The companies the endpoint's scope covers; None for the whole organization."""
    if endpoint.scope == Scope.COMPANY:
        return {endpoint.sales_company_id} if endpoint.sales_company_id else set()
    if endpoint.scope == Scope.REGION:
        return {c for c, r in regions.items() if r == endpoint.region_id}
    return None


def _money(value: Any) -> str | None:
    return None if value is None else str(value)


def _opportunity(opp: Opportunity) -> dict[str, Any]:
    org = Organization.objects.get(pk=opp.organization_id)
    corporate: str | None = None
    if opp.amount is not None:
        on_date: dt.date = opp.expected_close_date or timezone.localdate()
        try:
            corporate = _money(
                to_corporate(
                    organization=org, amount=opp.amount, currency=opp.currency, on_date=on_date
                )
            )
        except MissingExchangeRateError:
            corporate = None  # said as null, never converted at 1.0
    stage = opp.global_stage
    return {
        "id": opp.pk,
        "name": opp.name,
        "account_id": opp.account_id,
        "sales_company_id": opp.sales_company_id,
        "owner_id": opp.owner_id,
        "local_stage_id": opp.local_stage_id,
        "global_stage_id": opp.global_stage_id,
        "global_stage": stage.name,
        "is_won": stage.is_won,
        "is_lost": stage.is_lost,
        "amount": _money(opp.amount),
        "currency": opp.currency,
        "amount_corporate": corporate,
        "corporate_currency": org.corporate_currency,
        "expected_close_date": (
            opp.expected_close_date.isoformat() if opp.expected_close_date else None
        ),
    }


def _account(account: Account) -> dict[str, Any]:
    return {
        "id": account.pk,
        "name": account.name,
        "country": account.country,
        "home_company_id": account.home_company_id,
        "parent_id": account.parent_id,
        "group_id": account.group_id or account.pk,
    }


def _conflict(conflict: Conflict, companies: Collection[int] | None) -> dict[str, Any]:
    # Read again: a conflict closed by an UPDATE (the automatic endings) is stale in memory.
    conflict = Conflict.objects.for_org(conflict.organization_id).get(pk=conflict.pk)
    participants = ConflictParticipant.objects.for_org(conflict.organization_id).filter(
        conflict_id=conflict.pk
    )
    # Need-to-know: the other companies are named by id; their deals are not.
    own_deals = sorted(
        p.opportunity_id
        for p in participants
        if p.opportunity_id is not None and (companies is None or p.sales_company_id in companies)
    )
    return {
        "id": conflict.pk,
        "kind": conflict.kind,
        "status": conflict.status,
        "account_id": conflict.account_id,
        "resolution": conflict.resolution or None,
        "sales_company_ids": sorted(
            {p.sales_company_id for p in participants} | {conflict.sales_company_id}
        ),
        "opportunity_ids": own_deals,
    }


def object_payload(
    obj: Any, companies: Collection[int] | None, extra: dict[str, Any]
) -> dict[str, Any]:
    if isinstance(obj, Opportunity):
        return {"opportunity": _opportunity(obj), **extra}
    if isinstance(obj, Account):
        return {"account": _account(obj), **extra}
    if isinstance(obj, Conflict):
        return {"conflict": _conflict(obj, companies), **extra}
    return dict(extra)
