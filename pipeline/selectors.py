"""Reads of the sales process, leads and campaigns. Every read takes the acting user."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, Q, QuerySet

from crm.models import Organization, SalesCompany, User
from crm.visibility import apply, get_visible_or_404, scoped_company_ids
from pipeline.models import (
    Campaign,
    CampaignCompany,
    GlobalStage,
    Lead,
    LocalStage,
    SalesProcess,
)


def global_stage_list(*, organization: Organization | int) -> QuerySet[GlobalStage]:
    return GlobalStage.objects.for_org(organization).order_by("order")


def sales_process_for(*, sales_company: SalesCompany) -> SalesProcess | None:
    return (
        SalesProcess.objects.for_org(sales_company.organization_id)
        .filter(sales_company=sales_company)
        .first()
    )


def local_stage_list(*, sales_company: SalesCompany) -> QuerySet[LocalStage]:
    """The company's stages in order, with their global stage (the board's columns)."""
    return (
        LocalStage.objects.for_org(sales_company.organization_id)
        .filter(process__sales_company=sales_company)
        .select_related("global_stage")
        .order_by("order")
    )


def lead_list(
    *,
    user: User,
    status: str | None = None,
    sales_company: SalesCompany | int | None = None,
    owner: User | int | None = None,
    campaign: Campaign | int | None = None,
    search: str = "",
) -> QuerySet[Lead]:
    qs = apply(Lead.objects.unscoped(), user).select_related("sales_company", "owner", "campaign")
    if status:
        qs = qs.filter(status=status)
    if sales_company is not None:
        qs = qs.filter(sales_company=sales_company)
    if owner is not None:
        qs = qs.filter(owner=owner)
    if campaign is not None:
        qs = qs.filter(campaign=campaign)
    if search.strip():
        term = search.strip()
        qs = qs.filter(
            Q(company_name__icontains=term)
            | Q(contact_name__icontains=term)
            | Q(email__icontains=term)
        )
    return qs.order_by("-created_at", "-id")


def lead_get(*, user: User, pk: int) -> Lead:
    return get_visible_or_404(
        Lead.objects.unscoped().select_related("sales_company", "owner", "campaign"), user, pk=pk
    )


def campaign_list(
    *, user: User, active_on: dt.date | None = None, mine_only: bool = False
) -> QuerySet[Campaign]:
    """The organization's campaign calendar; ``mine_only`` keeps those for the user's companies
    (a campaign for no company in particular is everyone's)."""
    qs = apply(Campaign.objects.unscoped(), user).select_related("owner")
    if active_on is not None:
        qs = qs.filter(starts_on__lte=active_on, ends_on__gte=active_on)
    if mine_only:
        ids = scoped_company_ids(user)
        if ids is not None:
            links = CampaignCompany.objects.for_org(user.organization_id).filter(
                campaign_id=OuterRef("pk")
            )
            qs = qs.filter(~Exists(links) | Exists(links.filter(sales_company_id__in=ids)))
    return qs.order_by("-starts_on", "id")


def campaign_get(*, user: User, pk: int) -> Campaign:
    return get_visible_or_404(Campaign.objects.unscoped().select_related("owner"), user, pk=pk)
