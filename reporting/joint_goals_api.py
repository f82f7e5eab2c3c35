"""API v1 of the joint goals: overlay credit and the smarketing KPIs as JSON.

* ``GET /api/v1/smarketing/`` — the dashboard scope's smarketing figures (``?company=<id>`` or
  ``?region=<id>``, else the user's own scope; ``?period=quarter`` (default) or ``year``);
* ``GET /api/v1/smarketing/campaigns/<id>/`` — one campaign's own figures over its life;
* ``GET /api/v1/overlay-attainment/`` — overlay beside revenue attainment, same parameters.

For those who see dashboards (managers, the director, the admin; the campaign's figures also
for marketing, as its page; others 403); a scope outside
the user's role, another organization's company or campaign, answer 404 like missing ones. The
quarter's figures come from the stored dashboard figures (``reporting.figures``), the year's are
computed. Money is a string with two decimals, in the corporate currency; days one decimal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.drf import OrgScopedAPIMixin
from crm.http import AuthenticatedRequest
from crm.ids import parse_id
from crm.models import User
from leads.selectors import access_campaign_by_id
from leads.services import LEAD_ROLES
from reporting import figures, kpis, selectors, services
from reporting.joint_goals import JointGoals
from reporting.joint_goals import joint_goals as compute_joint_goals
from reporting.periods import fiscal_year
from reporting.smarketing import Funnel, campaign_figures

SCOPE_PARAMETERS = [
    OpenApiParameter("company", OpenApiTypes.INT, description="A sales company's id."),
    OpenApiParameter("region", OpenApiTypes.INT, description="A region's id."),
    OpenApiParameter("period", OpenApiTypes.STR, enum=["quarter", "year"]),
]


def _plain(value: Any) -> Any:
    """Decimals as strings (money must not become a float), dates ISO, dataclasses as dicts."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def _funnel(f: Funnel) -> dict[str, Any]:
    return {
        **_plain(f),
        "conversion_rate": _plain(f.conversion_rate),
        "qualified_conversion_rate": _plain(f.qualified_conversion_rate),
    }


def _require_reports(user: User) -> None:
    if user.role not in services.REPORT_ROLES:
        raise exceptions.PermissionDenied("Reports are for managers and the global sales director.")


def _goals(request: AuthenticatedRequest) -> JointGoals:
    user = request.user
    _require_reports(user)
    params = request.query_params
    errors = {
        name: ["Give the id of one you may see."]
        for name in ("company", "region")
        if params.get(name) not in (None, "") and parse_id(params.get(name)) is None
    }
    period = params.get("period", "quarter")
    if period not in ("quarter", "year"):
        errors["period"] = ['"quarter" or "year".']
    if errors:
        raise exceptions.ValidationError(errors)
    where = selectors.dashboard_scope(
        user=user, region_id=params.get("region"), sales_company_id=params.get("company")
    )
    as_of = timezone.localdate()
    if period == "quarter":
        return figures.show(user=user, where=where, as_of=as_of).dashboard.joint_goals
    year = fiscal_year(user.organization, as_of)
    revenue = kpis.target_attainment(user=user, scope=where.scope, period=year)
    return compute_joint_goals(
        user=user, scope=where.scope, level=where.level, period=year, as_of=as_of, revenue=revenue
    )


class SmarketingView(OrgScopedAPIMixin, APIView):
    @extend_schema(parameters=SCOPE_PARAMETERS, responses=OpenApiTypes.OBJECT)
    def get(self, request: AuthenticatedRequest) -> Response:
        """Lead-to-opportunity conversion, times to hand-over and conversion, campaign-sourced
        pipeline and won revenue, events attended against targets, per company and campaign."""
        s = _goals(request).smarketing
        return Response(
            {
                "period": _plain(s.period),
                "total": _funnel(s.total),
                "by_company": [_funnel(f) for f in s.by_company],
                "by_campaign": [_funnel(f) for f in s.by_campaign],
                "events": [{**_plain(r), "attainment": _plain(r.attainment)} for r in s.events],
                "events_attended": s.events_attended,
                "events_target": _plain(s.events_target),
                "events_attainment": _plain(s.events_attainment),
                "corporate_currency": request.user.organization.corporate_currency,
            }
        )


class CampaignSmarketingView(OrgScopedAPIMixin, APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: AuthenticatedRequest, pk: str) -> Response:
        """One campaign's leads and the deals they became, over its life, in total and per
        sales company: of what the user may see."""
        user = request.user
        if user.role not in LEAD_ROLES:  # as the campaign page
            raise exceptions.PermissionDenied("Campaigns are for marketing and managers.")
        campaign = access_campaign_by_id(user, pk)
        c = campaign_figures(user=user, campaign_id=campaign.pk, as_of=timezone.localdate())
        return Response(
            {
                "campaign": {"id": campaign.pk, "name": campaign.name},
                "total": _funnel(c.total),
                "by_company": [_funnel(f) for f in c.by_company],
                "corporate_currency": user.organization.corporate_currency,
            }
        )


class OverlayAttainmentView(OrgScopedAPIMixin, APIView):
    @extend_schema(parameters=SCOPE_PARAMETERS, responses=OpenApiTypes.OBJECT)
    def get(self, request: AuthenticatedRequest) -> Response:
        """Overlay targets and credit per company and person, beside revenue attainment."""
        o = _goals(request).overlay
        return Response(
            {
                "period": _plain(o.period),
                "rows": [{**_plain(r), "attainment": _plain(r.attainment)} for r in o.rows],
                "total_credit": _plain(o.total_credit),
                "corporate_currency": request.user.organization.corporate_currency,
            }
        )
