"""Visibility policies of targets, snapshots, stored figures and export files (registered in
``crm.visibility`` by ``ReportingConfig.ready``). The role table is in ARCHITECTURE.md."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from crm.models import User
from crm.roles import MANAGER_ROLES, ORG_WIDE_ROLES, Role
from crm.visibility import nothing, policy, scoped_company_ids


@policy("reporting.Target")
def _targets(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # A person sees their own targets; managers those of their companies and their people.
    company_ids = scoped_company_ids(user)
    if company_ids is None and user.role != Role.MARKETING:
        return qs
    own = Q(user_id=user.pk)
    if user.role not in MANAGER_ROLES:
        return qs.filter(own)
    return qs.filter(
        own | Q(sales_company_id__in=company_ids) | Q(user__sales_company_id__in=company_ids)
    )


@policy("reporting.PipelineSnapshot")
def _snapshots(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # Company-wide pipeline totals include deals a rep may not see: managers and up only.
    if user.role in ORG_WIDE_ROLES:
        return qs
    if user.role not in MANAGER_ROLES:
        return nothing(qs)
    return qs.filter(sales_company_id__in=scoped_company_ids(user))


@policy("reporting.DashboardFigures")
def _dashboard_figures(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # Stored aggregates are read only by reporting.figures, after dashboard_scope has checked
    # that the viewer's role covers the scope; through the policy they are nobody's rows.
    return nothing(qs)


@policy("reporting.Export")
def _exports(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # A report file is the requester's alone, whatever their colleagues' roles.
    return qs.filter(requested_by_id=user.pk)


@policy("reporting.CompanyMeasure", "reporting.DeviationAlert")
def _company_rows_for_managers(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # Per-company measures and their alerts are management's: the director and admin all,
    # a regional manager his region's companies, a country manager his company, others none.
    if user.role in ORG_WIDE_ROLES:
        return qs
    if user.role not in MANAGER_ROLES:
        return nothing(qs)
    return qs.filter(sales_company_id__in=scoped_company_ids(user))


@policy("reporting.DeviationThreshold")
def _deviation_thresholds(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    # The organization's alert settings: read and changed by global sales management only.
    if user.role in ORG_WIDE_ROLES:
        return qs
    return nothing(qs)
