"""Reads of the sales process. Every read takes the acting user."""

from __future__ import annotations

from django.db.models import QuerySet

from crm.models import Organization, SalesCompany, User
from crm.registry import access_by_id
from pipeline.models import (
    GlobalStage,
    LocalStage,
    SalesProcess,
)


def global_stage_list(*, organization: Organization | int) -> QuerySet[GlobalStage]:
    return GlobalStage.objects.for_org(organization).order_by("order")


def access_global_stage_by_id(user: User, pk: object) -> GlobalStage:
    return access_by_id(GlobalStage.objects.visible_to(user), pk)


def access_local_stage_by_id(user: User, pk: object) -> LocalStage:
    """A local stage with its global stage and its process's company (the set-up pages')."""
    return access_by_id(
        LocalStage.objects.visible_to(user).select_related(
            "global_stage", "process__sales_company"
        ),
        pk,
    )


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
