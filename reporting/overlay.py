"""Overlay credit: what overlay splits earn their holders, against overlay targets.

An overlay split (``SplitKind.OVERLAY``) credits a specialist beside the revenue owners (a
product specialist, a global account manager): it never counts towards the revenue figures
(``kpis.revenue_credit`` reads revenue splits only, and revenue splits alone sum to 100 %,
``opportunities.services.opportunity_set_splits``), so it gets attainment figures of its own:
per person (the split's holder) and per sales company (the split's company), the won amount x
the overlay percentage, in the corporate currency at each deal's close date's rate, for deals won
in the period, against the targets of kind ``TargetKind.OVERLAY``.

Shown beside the revenue attainment: ``overlay_attainment`` takes the revenue rows of the same
scope and period and carries their numbers along, so one table shows both. Three queries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import F, Q, Sum, Value
from django.db.models.functions import TruncDate

from crm.models import User
from crm.money import EXACT, missing_rate, money, raise_if_missing, with_corporate_amount
from opportunities.models import OpportunitySplit, SplitKind
from reporting import kpis
from reporting.kpis import ORGANIZATION, AttainmentRow, Scope
from reporting.models import Target, TargetKind
from reporting.periods import Period

PARTY_FIELDS = {
    "company": ("sales_company_id", "sales_company__name"),
    "user": ("user_id", "user__full_name"),
}


@dataclass(frozen=True)
class OverlayRow:
    """One company or person: overlay target and credit, and their revenue figures beside."""

    party: str  # "company" or "user"
    key: int
    name: str
    target: Decimal | None
    actual: Decimal
    revenue_target: Decimal | None = None
    revenue_actual: Decimal | None = None
    revenue_attainment: Decimal | None = None

    @property
    def attainment(self) -> Decimal | None:
        return kpis.percent(self.actual, self.target) if self.target else None


@dataclass(frozen=True)
class OverlayAttainment:
    period: Period
    rows: list[OverlayRow]

    @property
    def total_credit(self) -> Decimal:
        """Overlay credit of the companies (each overlay split has exactly one company)."""
        return money(sum((r.actual for r in self.rows if r.party == "company"), Decimal(0)))

    def shown(self, level: str) -> list[OverlayRow]:
        """As the revenue table: people on a company's (or a person's) dashboard only."""
        if level == "company":
            return self.rows
        return [r for r in self.rows if r.party == "company"]


def overlay_credit(
    *, user: User, scope: Scope = ORGANIZATION, period: Period, party: str
) -> dict[int, tuple[str, Decimal]]:
    """Overlay credit per sales company or person (``party``) for deals won in ``period``: each
    overlay split gives its percent of the won amount at the close date's rate. One query."""
    org = user.organization
    key, name = PARTY_FIELDS[party]
    splits = OpportunitySplit.objects.visible_to(user).filter(
        Q(opportunity__global_stage__is_won=True),
        Q(opportunity__closed_at__date__gte=period.start),
        Q(opportunity__closed_at__date__lt=period.end),
        scope.q(owner_field="user_id"),
        kind=SplitKind.OVERLAY,
    )
    priced = with_corporate_amount(
        splits, org, rate_date=TruncDate("opportunity__closed_at"), prefix="opportunity__"
    )
    # Keyed by the party's fields, chosen at run time: read as mappings.
    rows: list[Mapping[str, Any]] = list(
        priced.values(key, name)
        .annotate(
            credit=Sum(
                F("corporate_amount") * F("percent") / Value(Decimal(100)), output_field=EXACT
            ),
            missing=missing_rate("opportunity__"),
        )
        .order_by()
    )
    raise_if_missing(org, [r["missing"] for r in rows])
    return {r[key]: (r[name], money(r["credit"])) for r in rows}


def overlay_attainment(
    *,
    user: User,
    scope: Scope = ORGANIZATION,
    period: Period,
    revenue: list[AttainmentRow] | None = None,
) -> OverlayAttainment:
    """Overlay targets of the period for the companies and people in scope against their
    overlay credit, with the revenue attainment rows (``kpis.target_attainment``) beside."""
    targets: list[Mapping[str, Any]] = list(
        Target.objects.visible_to(user)
        .filter(
            Q(sales_company__isnull=False, **kpis._company_scope(scope))
            | Q(user__isnull=False, **kpis._user_scope(scope)),
            kind=TargetKind.OVERLAY,
            period_kind=period.kind,
            period_start=period.start,
        )
        .values("sales_company_id", "sales_company__name", "user_id", "user__full_name", "value")
    )
    by_revenue = {(r.party, r.key): r for r in revenue or []}
    rows: list[OverlayRow] = []
    for party in ("company", "user"):
        credit = overlay_credit(user=user, scope=scope, period=period, party=party)
        id_field, name_field = PARTY_FIELDS[party]
        mine = {t[id_field]: t for t in targets if t[id_field]}
        for key in sorted(set(mine) | set(credit)):
            t = mine.get(key)
            name = t[name_field] if t else credit[key][0]
            rev = by_revenue.get((party, key))
            rows.append(
                OverlayRow(
                    party=party,
                    key=key,
                    name=name,
                    target=money(t["value"]) if t else None,
                    actual=credit.get(key, (name, money(Decimal(0))))[1],
                    revenue_target=rev.target if rev else None,
                    revenue_actual=rev.actual if rev else None,
                    revenue_attainment=rev.attainment if rev else None,
                )
            )
    return OverlayAttainment(period=period, rows=rows)
