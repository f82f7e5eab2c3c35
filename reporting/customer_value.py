"""Customer value and segments (issue 19): each account's and group's lifetime value, stored.

Lifetime value = won revenue to date (each won deal in the corporate currency at its close
date's rate) + the open weighted pipeline (each open deal at the report date's rate, times its
global stage's probability). Both rules are the KPIs' own (``reporting.kpis``:
``rate_date_expression``, ``open_q``, ``weighted_amount``; ``crm.money.with_corporate_amount``),
built here as one ORM aggregate per account and run inside one ``INSERT … ON CONFLICT`` per
organization: at 200k accounts and 1M deals the figures cannot be computed per page view, so
``refresh_account_values`` stores them in ``accounts.AccountValue`` (nightly, beat, and
``manage.py refresh_account_values``). Amounts stay exact in the table; ``money`` rounds them
when read, as everywhere.

A deal whose rate is missing makes its account's (and group's) money unknown (NULL) and names
the rate in ``missing_rate``, never a 1.0. ``assign_segments`` then gives each account the segment
of the first ``SegmentRule`` it meets (one ``UPDATE`` per organization), except where a person
fixed it (``Account.segment_override``); accounts whose value is unknown keep theirs. The
account's audit trigger records each change with its ``segment_reason``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pghistory
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, Segment, SegmentRule
from crm.models import Organization, User
from crm.money import missing_rate, money, with_corporate_amount
from crm.tenancy import org_scope
from opportunities.models import Opportunity
from reporting.exports import Column, Kind, Section
from reporting.kpis import ORGANIZATION, Scope, open_q, percent, rate_date_expression
from reporting.kpis import weighted_amount as weighted_rule


def window_start(as_of: dt.date) -> dt.date:
    """First day of "the last 12 months" ending on ``as_of`` (inclusive both ends): the day
    after the same date a year earlier (29 February counts from 1 March)."""
    try:
        year_ago = as_of.replace(year=as_of.year - 1)
    except ValueError:  # 29 February
        year_ago = dt.date(as_of.year - 1, 2, 28)
    return year_ago + dt.timedelta(days=1)


def _per_account(organization: Organization, as_of: dt.date) -> QuerySet[Any]:
    """One row per account with deals: the exact sums the stored value is made of."""
    won = Q(global_stage__is_won=True, closed_at__date__lte=as_of)
    is_open = open_q()
    deals = Opportunity.objects.for_org(organization).filter(
        won | is_open | Q(global_stage__is_lost=True)
    )
    qs = with_corporate_amount(deals, organization, rate_date=rate_date_expression(as_of))
    return (
        qs.values("account_id")
        .annotate(
            won=Sum("corporate_amount", filter=won),
            weighted=Sum(weighted_rule(), filter=is_open),
            open_amount=Sum("corporate_amount", filter=is_open),
            recent=Sum(
                "corporate_amount", filter=won & Q(closed_at__date__gte=window_start(as_of))
            ),
            first_win=Min("closed_at", filter=won),
            last_win=Max("closed_at", filter=won),
            won_n=Count("id", filter=won),
            lost_n=Count("id", filter=Q(global_stage__is_lost=True)),
            # A lost deal's money counts nowhere: its missing rate is not a gap.
            missing=missing_rate(filter=won | is_open),
        )
        .order_by()
    )


_VALUE_COLUMNS = [
    "won_revenue",
    "weighted_pipeline",
    "open_pipeline",
    "lifetime_value",
    "revenue_12m",
    "first_win_at",
    "last_win_at",
    "won_count",
    "lost_count",
    "missing_rate",
    "group_won_revenue",
    "group_weighted_pipeline",
    "group_lifetime_value",
    "group_revenue_12m",
    "group_first_win_at",
    "group_last_win_at",
    "group_missing_rate",
    "as_of",
    "computed_at",
]

# Money is NULL (unknown) where a rate is missing: on the account, and on every member of a
# group with a gap anywhere in it.
_REFRESH_SQL = """
WITH per AS ({per}),
acc AS (
    SELECT a.organization_id, a.id AS account_id, COALESCE(a.group_id, a.id) AS grp,
           COALESCE(per.won, 0) AS won, COALESCE(per.weighted, 0) AS weighted,
           COALESCE(per.open_amount, 0) AS open_amount, COALESCE(per.recent, 0) AS recent,
           per.first_win, per.last_win,
           COALESCE(per.won_n, 0) AS won_n, COALESCE(per.lost_n, 0) AS lost_n,
           per.missing
      FROM accounts_account a LEFT JOIN per ON per.account_id = a.id
     WHERE a.organization_id = %s
),
grp AS (
    SELECT acc.*,
           SUM(won) OVER w AS g_won, SUM(weighted) OVER w AS g_weighted,
           SUM(recent) OVER w AS g_recent,
           MIN(first_win) OVER w AS g_first, MAX(last_win) OVER w AS g_last,
           MIN(missing) OVER w AS g_missing
      FROM acc WINDOW w AS (PARTITION BY grp)
)
INSERT INTO accounts_accountvalue (organization_id, account_id, {columns})
SELECT organization_id, account_id,
       CASE WHEN missing IS NULL THEN won END,
       CASE WHEN missing IS NULL THEN weighted END,
       CASE WHEN missing IS NULL THEN open_amount END,
       CASE WHEN missing IS NULL THEN won + weighted END,
       CASE WHEN missing IS NULL THEN recent END,
       first_win, last_win, won_n, lost_n, COALESCE(missing, ''),
       CASE WHEN g_missing IS NULL THEN g_won END,
       CASE WHEN g_missing IS NULL THEN g_weighted END,
       CASE WHEN g_missing IS NULL THEN g_won + g_weighted END,
       CASE WHEN g_missing IS NULL THEN g_recent END,
       g_first, g_last, COALESCE(g_missing, ''),
       %s, %s
  FROM grp
ON CONFLICT (organization_id, account_id) DO UPDATE SET {updates}
"""

# The first rule (by order) whose thresholds the account meets; C when none does. A person's
# choice wins; an unknown value (missing rate) keeps the segment it has.
_ASSIGN_SQL = """
UPDATE accounts_account a
   SET segment = n.segment, segment_reason = n.reason
  FROM (
    SELECT a2.id,
           CASE WHEN a2.segment_override <> '' THEN a2.segment_override
                ELSE COALESCE((
                    SELECT r.segment FROM accounts_segmentrule r
                     WHERE r.organization_id = a2.organization_id
                       AND (r.min_lifetime_value IS NULL
                            OR v.lifetime_value >= r.min_lifetime_value)
                       AND (r.min_potential IS NULL OR a2.potential >= r.min_potential)
                     ORDER BY r."order", r.id LIMIT 1), 'C')
           END AS segment,
           CASE WHEN a2.segment_override <> '' THEN 'manual' ELSE 'rule' END AS reason
      FROM accounts_account a2
      JOIN accounts_accountvalue v
        ON v.organization_id = a2.organization_id AND v.account_id = a2.id
     WHERE a2.organization_id = %s AND (a2.segment_override <> '' OR v.missing_rate = '')
  ) n
 WHERE a.organization_id = %s AND a.id = n.id AND a.segment <> n.segment
"""


@dataclass(frozen=True)
class RefreshResult:
    accounts: int
    segments_changed: int


@transaction.atomic
def refresh_account_values(
    *, organization: Organization, as_of: dt.date | None = None
) -> RefreshResult:
    """Recompute and store every account's value of one organization, then assign segments:
    two statements, whatever the number of accounts. Idempotent."""
    as_of = as_of or timezone.localdate()
    sql, params = _per_account(organization, as_of).query.sql_with_params()
    statement = _REFRESH_SQL.format(
        per=sql,
        columns=", ".join(_VALUE_COLUMNS),
        updates=", ".join(f"{c} = EXCLUDED.{c}" for c in _VALUE_COLUMNS),
    )
    with org_scope(organization), connection.cursor() as cursor:
        cursor.execute(statement, [*params, organization.pk, as_of, timezone.now()])
        accounts = cursor.rowcount
    changed = assign_segments(organization=organization)
    return RefreshResult(accounts=accounts, segments_changed=changed)


def assign_segments(*, organization: Organization) -> int:
    """Segments from the rules (one statement); an organization without rules keeps the
    segments people typed. Returns how many accounts changed segment."""
    with org_scope(organization):
        if not SegmentRule.objects.for_org(organization).exists():
            return 0
        with pghistory.context(segment_reason="rules"), connection.cursor() as cursor:
            cursor.execute(_ASSIGN_SQL, [organization.pk, organization.pk])
            return int(cursor.rowcount)


# --- Reads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentRow:
    segment: str
    country: str
    accounts: int
    lifetime_value: Decimal
    open_pipeline: Decimal
    weighted_pipeline: Decimal
    won: int
    lost: int
    win_rate: Decimal | None
    unknown: int  # accounts whose value is unknown (a missing rate) or not computed yet


@dataclass(frozen=True)
class SegmentReport:
    rows: list[SegmentRow]
    totals: list[SegmentRow]  # per segment, all countries
    as_of: dt.date | None  # of the stored values (the last refresh)
    missing_rates: list[str] = field(default_factory=list)


def _scope_q(scope: Scope) -> Q:
    if scope.sales_company_id:
        return Q(home_company_id=scope.sales_company_id)
    if scope.region_id:
        return Q(home_company__region_id=scope.region_id)
    return Q()


def _row(segment: str, country: str, r: dict[str, Any]) -> SegmentRow:
    return SegmentRow(
        segment=segment,
        country=country,
        accounts=r["n"],
        lifetime_value=money(r["ltv"]),
        open_pipeline=money(r["pipeline"]),
        weighted_pipeline=money(r["weighted"]),
        won=r["won"] or 0,
        lost=r["lost"] or 0,
        win_rate=percent(r["won"] or 0, (r["won"] or 0) + (r["lost"] or 0)),
        unknown=r["unknown"],
    )


def segment_report(*, user: User, scope: Scope = ORGANIZATION) -> SegmentReport:
    """Accounts the user sees (the accounts policy), within ``scope`` (their home company):
    count, lifetime value, open pipeline and win rate of their deals per segment and country,
    from the stored values. Two queries."""
    qs = Account.objects.visible_to(user).filter(_scope_q(scope))
    aggregates = {
        "n": Count("id"),
        "ltv": Sum("value__lifetime_value"),
        "pipeline": Sum("value__open_pipeline"),
        "weighted": Sum("value__weighted_pipeline"),
        "won": Sum("value__won_count"),
        "lost": Sum("value__lost_count"),
        "unknown": Count("id", filter=Q(value__lifetime_value__isnull=True)),
        "as_of": Max("value__as_of"),
        "missing": Min("value__missing_rate", filter=~Q(value__missing_rate="")),
    }
    grouped: list[dict[str, Any]] = list(
        qs.values("segment", "country").annotate(**aggregates).order_by("segment", "country")  # type: ignore[arg-type]
    )
    rows = [_row(r["segment"], r["country"], r) for r in grouped]
    totals: dict[str, dict[str, Any]] = {}
    for r in grouped:
        t = totals.setdefault(r["segment"], dict.fromkeys(("n", "won", "lost", "unknown"), 0))
        for key in ("n", "won", "lost", "unknown"):
            t[key] += r[key] or 0
        for key in ("ltv", "pipeline", "weighted"):
            t[key] = (t.get(key) or Decimal(0)) + (r[key] or Decimal(0))
    as_of = max((r["as_of"] for r in grouped if r["as_of"]), default=None)
    missing = sorted({r["missing"] for r in grouped if r["missing"]})
    return SegmentReport(
        rows=rows,
        totals=[_row(seg, "", t) for seg, t in sorted(totals.items())],
        as_of=as_of,
        missing_rates=missing,
    )


def segments_section(user: User, scope: Scope, as_of: dt.date) -> Section:
    """The segments report as an export section (the regional report's and the page's file)."""
    report = segment_report(user=user, scope=scope)
    labels = dict(Segment.choices)
    return Section(
        _("Segments"),
        [
            Column(_("Segment"), width=18),
            Column(_("Country")),
            Column(_("Accounts"), Kind.INT, total=True),
            Column(_("Lifetime value"), Kind.MONEY, 18, total=True),
            Column(_("Open pipeline"), Kind.MONEY, 18, total=True),
            Column(_("Weighted pipeline"), Kind.MONEY, 18, total=True),
            Column(_("Won deals"), Kind.INT, total=True),
            Column(_("Lost deals"), Kind.INT, total=True),
            Column(_("Win rate %"), Kind.PERCENT),
            Column(_("Value unknown"), Kind.INT, total=True),
        ],
        [
            [
                str(labels.get(r.segment, r.segment)),
                r.country,
                r.accounts,
                r.lifetime_value,
                r.open_pipeline,
                r.weighted_pipeline,
                r.won,
                r.lost,
                r.win_rate,
                r.unknown,
            ]
            for r in report.rows
        ],
    )
