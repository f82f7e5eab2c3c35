"""Group-wide marketing suppression: who is "do not market", and why.

A contact is not marketed to while

* any sales company of the organization has an open deal, in a global stage that suppresses
  marketing (``GlobalStage.suppresses_marketing``, per organization), with any account of the
  contact's account group (the group is the unit: a Danish campaign must not mail the Swedish
  subsidiary's buyer while Germany negotiates with the parent); or
* someone paused marketing to the account, or to its whole group, until a date
  (``MarketingPause``).

A lead counts as the customer it looks like at entry (``Lead.matched_account``). Nothing here is
stored per contact: the flags are subqueries over the deals and pauses, so they lift by
themselves when the deal closes, moves back or the pause ends.

Need-to-know: the reason names the negotiating sales companies (and that a deal exists), never
the deal's name, amount, stage or owner, whoever reads it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.aggregates import StringAgg
from django.db.models import (
    BooleanField,
    CharField,
    DateField,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from accounts.models import Account
from accounts.normalize import normalize_domain, normalize_name, normalize_registration
from crm.models import Organization
from leads.models import MarketingPause
from opportunities.models import Opportunity
from opportunities.selectors import open_q


def suppressing_deals(organization: Organization | int) -> QuerySet[Opportunity]:
    """Open deals in a global stage that suppresses marketing, in every sales company."""
    return Opportunity.objects.for_org(organization).filter(
        open_q(), global_stage__suppresses_marketing=True
    )


def active_pauses(
    organization: Organization | int, today: dt.date | None = None
) -> QuerySet[MarketingPause]:
    """Pauses not ended and holding today (``until`` is the last paused day)."""
    return MarketingPause.objects.for_org(organization).filter(
        ended_at__isnull=True, until__gte=today or timezone.localdate()
    )


def suppressed_account_q(organization: Organization | int, prefix: str = "") -> Q:
    """Accounts (reached through ``prefix``, e.g. ``"account__"``) that are "do not market".

    Each branch is an ``IN`` over an indexed subquery (the deals' copy of their account's
    group, the pauses' account and group), so a campaign of any size is one statement."""
    deals = suppressing_deals(organization)
    pauses = active_pauses(organization)
    return (
        Q(**{f"{prefix}group_id__in": deals.filter(account_group_id__isnull=False).values(
            "account_group_id"
        )})
        # An account outside any group (group not set yet) is its own group.
        | Q(**{f"{prefix}id__in": deals.values("account_id")})
        | Q(**{f"{prefix}id__in": pauses.values("account_id")})
        | Q(**{f"{prefix}group_id__in": pauses.filter(group__isnull=False).values("group_id")})
    )  # fmt: skip


def _ref(path: str, column: str) -> OuterRef:
    return OuterRef(f"{path}__{column}" if path else column)


def annotate_suppression(
    qs: QuerySet[Any], organization: Organization | int, paths: Sequence[str]
) -> QuerySet[Any]:
    """Add ``negotiating_companies`` (the suppressing deals' sales companies, "DE, SE"),
    ``pause_reason``, ``pause_until`` and ``do_not_market`` to each row, for the account each of
    ``paths`` leads to (the first that is set: a campaign member is a contact or a lead).
    Correlated subqueries: one statement whatever the number of rows."""
    deals = suppressing_deals(organization)
    pauses = active_pauses(organization)
    companies: list[Any] = []
    reasons: list[Any] = []
    untils: list[Any] = []
    for path in paths:
        group, account = _ref(path, "group_id"), _ref(path, "id")
        companies.append(
            Subquery(
                deals.filter(Q(account_group_id=group) | Q(account_id=account))
                .order_by()
                .values("organization_id")
                .annotate(
                    names=StringAgg(
                        "sales_company__name",
                        ", ",
                        distinct=True,
                        order_by="sales_company__name",
                    )
                )
                .values("names")[:1],
                output_field=CharField(),
            )
        )
        holding = pauses.filter(Q(account_id=account) | Q(group_id=group)).order_by("-until", "-id")
        reasons.append(Subquery(holding.values("reason")[:1], output_field=CharField()))
        untils.append(Subquery(holding.values("until")[:1], output_field=DateField()))

    def first(items: list[Any], field: Any) -> Any:
        return items[0] if len(items) == 1 else Coalesce(*items, output_field=field)

    return qs.annotate(
        negotiating_companies=first(companies, CharField()),
        pause_reason=first(reasons, CharField()),
        pause_until=first(untils, DateField()),
    ).annotate(
        do_not_market=ExpressionWrapper(
            Q(negotiating_companies__isnull=False) | Q(pause_reason__isnull=False),
            output_field=BooleanField(),
        )
    )


def suppression_reason(row: Any) -> str:
    """The reason of an annotated row, in the reader's language; empty when it may be mailed."""
    parts = []
    if getattr(row, "negotiating_companies", None):
        parts.append(
            _("Group in negotiation with %(companies)s") % {"companies": row.negotiating_companies}
        )
    if getattr(row, "pause_reason", None):
        until = row.pause_until
        parts.append(
            _("Marketing paused until %(date)s: %(reason)s")
            % {
                "date": formats.date_format(until, "SHORT_DATE_FORMAT") if until else "—",
                "reason": row.pause_reason,
            }
        )
    return "; ".join(parts)


@dataclass(frozen=True)
class Suppression:
    """Whether one account (or lead) is "do not market", and the reason to show."""

    do_not_market: bool
    reason: str


def account_suppression(account: Account) -> Suppression:
    """One account's status, for its page and the API (one query)."""
    org_id = account.organization_id
    row = annotate_suppression(
        Account.objects.for_org(org_id).filter(pk=account.pk), org_id, [""]
    ).first()
    if row is None:
        return Suppression(False, "")
    return Suppression(bool(getattr(row, "do_not_market", False)), suppression_reason(row))


def lead_suppression(lead: Any) -> Suppression:
    """A lead's status through the customer it matched at entry (one query; none without a
    match)."""
    if lead.matched_account_id is None:
        return Suppression(False, "")
    org_id = lead.organization_id
    row = annotate_suppression(
        type(lead).objects.for_org(org_id).filter(pk=lead.pk), org_id, ["matched_account"]
    ).first()
    if row is None:
        return Suppression(False, "")
    return Suppression(bool(row.do_not_market), suppression_reason(row))


def match_account_for_lead(
    *,
    organization: Organization | int,
    company_name: str,
    registration_number: str = "",
    domain: str = "",
    email: str = "",
) -> Account | None:
    """The existing customer a new lead's company is: the same registration number, else the
    same web domain (given, or the e-mail's), else the same normalized name. Organization-wide
    on purpose (suppression is), through the indexed look-ups of duplicate matching; the match
    is never shown to a user who may not see the account."""
    q = Q()
    key = normalize_registration(registration_number)
    if key:
        q |= Q(registration_key=key)
    domains = {
        d for d in (normalize_domain(domain), normalize_domain(email.rpartition("@")[2])) if d
    }
    if domains:
        q |= Q(domain__in=sorted(domains))
    name = normalize_name(company_name)
    if name:
        q |= Q(normalized_name=name)
    if not q:
        return None
    candidates = list(Account.objects.for_org(organization).filter(q).order_by("id")[:50])

    def rank(a: Account) -> int:
        if key and a.registration_key == key:
            return 0
        if a.domain and a.domain in domains:
            return 1
        return 2

    return min(candidates, key=rank, default=None)
