"""Money in the corporate currency, converted with the rate valid on the relevant date.

A missing rate is an error that names the currency and date: a wrong 1.0 in a global
pipeline report is worse than no number.

The one rounding rule, in Python and in SQL alike: each deal converts exactly (amount x rate,
no per-deal rounding), the exact amounts are summed, and only the total is rounded half-even
to the cent (``money``). PostgreSQL's ROUND is half away from zero, so SQL never rounds: the
queries return exact sums (``with_corporate_amount``) and Python rounds them. That way the 360°
view, the dashboard and the exports agree to the cent for the same deals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db.models import (
    Case,
    CharField,
    DateField,
    DecimalField,
    ExpressionWrapper,
    F,
    Func,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat
from django.utils.translation import gettext

from crm.models import ExchangeRate, Organization

CENT = Decimal("0.01")
RATE = DecimalField(max_digits=18, decimal_places=8)
# Wide enough for an exact amount x rate and sums of them: nothing is rounded in SQL.
EXACT = DecimalField(max_digits=38, decimal_places=12)


def money(value: Decimal | None) -> Decimal:
    """The one rounding of money: half-even to the cent, on an exact amount or exact sum."""
    return (value or Decimal(0)).quantize(CENT, rounding=ROUND_HALF_EVEN)


class MissingExchangeRateError(LookupError):
    def __init__(self, *, currency: str, on_date: dt.date, organization: Organization) -> None:
        self.currency = currency
        self.on_date = on_date
        self.corporate_currency = organization.corporate_currency
        super().__init__(
            f"No exchange rate {currency}->{organization.corporate_currency} valid on "
            f"{on_date:%Y-%m-%d} in {organization.name}: add one from that date or earlier."
        )

    @property
    def user_message(self) -> str:
        """What a page, the API or an export says, in the reader's language: which rate is
        missing and who can add it (the figures cannot be shown without it)."""
        return gettext(
            "No %(corporate)s rate for %(currency)s on %(date)s: ask your admin to add it under "
            "Set-up > Exchange rates."
        ) % {
            "corporate": self.corporate_currency,
            "currency": self.currency,
            "date": f"{self.on_date:%Y-%m-%d}",
        }


def rate_on(*, organization: Organization, currency: str, on_date: dt.date) -> Decimal:
    """Units of the corporate currency per unit of ``currency`` on ``on_date``."""
    if currency == organization.corporate_currency:
        return Decimal(1)
    rate = (
        ExchangeRate.objects.for_org(organization)
        .filter(currency=currency, valid_from__lte=on_date)
        .order_by("-valid_from")
        .values_list("rate", flat=True)
        .first()
    )
    if rate is None:
        raise MissingExchangeRateError(
            currency=currency, on_date=on_date, organization=organization
        )
    return rate


def to_corporate_exact(
    *, organization: Organization, amount: Decimal, currency: str, on_date: dt.date
) -> Decimal:
    """``amount`` in the corporate currency, unrounded: what a total sums before ``money``."""
    return amount * rate_on(organization=organization, currency=currency, on_date=on_date)


def to_corporate(
    *, organization: Organization, amount: Decimal, currency: str, on_date: dt.date
) -> Decimal:
    return money(
        to_corporate_exact(
            organization=organization, amount=amount, currency=currency, on_date=on_date
        )
    )


# --- The same conversion in SQL ----------------------------------------------------------------


class ScalarSelect(Func):
    """``(SELECT <expression>)``: the expression's value handed to the statement around it as a
    parameter instead of as an expression over the outer row.

    Why: the exchange rates are under row-level security, and PostgreSQL uses a condition of a
    protected table's scan as an index condition only if it is *leakproof*, which a condition
    applying a non-leakproof function to the outer row is not: ``valid_from <= CASE WHEN
    closed_at IS NOT NULL THEN (closed_at AT TIME ZONE 'UTC')::date ELSE … END`` (``timezone()``
    and the cast) became a filter over every rate of the currency, newest first (35-51 index
    rows per deal at 1M), instead of the index's ``valid_from`` range. Wrapped, the rate date is
    an InitPlan's parameter and the look-up reads one index row: 44.6 -> 11.5 ms for 2,000 deals
    as the application role (10.4 ms as the owner, without row-level security)."""

    template = "(SELECT %(expressions)s)"


def corporate_rate(organization_id: int, corporate_currency: Any, *, prefix: str = "") -> Case:
    """The rate of ``{prefix}currency`` to the corporate currency on ``rate_date`` (an
    annotation the query has): exactly 1 for the corporate currency itself, else the latest
    rate valid on that date, NULL if there is none. The organization's id and corporate
    currency as values, not an ``Organization``: a statement built once per process
    (``crm.db.compiled``) passes them as named values, bound anew on each run, never baked in.
    """
    latest = (
        ExchangeRate.objects.for_org(organization_id)
        .filter(
            currency=OuterRef(f"{prefix}currency"),
            valid_from__lte=ScalarSelect(OuterRef("rate_date"), output_field=DateField()),
        )
        .order_by("-valid_from")
        .values("rate")[:1]
    )
    return Case(
        When(
            **{f"{prefix}currency": corporate_currency},
            then=Value(Decimal(1), output_field=RATE),
        ),
        default=Subquery(latest, output_field=RATE),
        output_field=RATE,
    )


def with_corporate_amount(
    qs: QuerySet[Any],
    organization: Organization | None,
    *,
    rate_date: Any,
    prefix: str = "",
    organization_id: int | None = None,
    corporate_currency: Any = None,
) -> QuerySet[Any]:
    """Annotate ``rate_date``, ``rate`` and ``corporate_amount`` (amount x dated rate, exact).

    The corporate currency converts at exactly 1; any other currency takes the latest rate
    valid on ``rate_date`` or NULL if there is none (report it with ``missing_rate``). Sum
    ``corporate_amount`` and round the sum with ``money``, never the rows. ``organization``
    None: its ``organization_id`` and ``corporate_currency`` given instead (``corporate_rate``).
    """
    if organization is not None:
        organization_id, corporate_currency = organization.pk, organization.corporate_currency
    assert organization_id is not None
    rate = corporate_rate(organization_id, corporate_currency, prefix=prefix)
    converted: QuerySet[Any] = qs.annotate(rate_date=rate_date, rate=rate).annotate(
        corporate_amount=ExpressionWrapper(F(f"{prefix}amount") * F("rate"), output_field=EXACT)
    )
    return converted


def missing_rate(prefix: str = "", filter: Q | None = None) -> Min:
    """Aggregate naming one row whose amount could not be converted: "SEK 2026-03-31"."""
    condition = Q(rate__isnull=True, **{f"{prefix}amount__isnull": False})
    if filter is not None:
        condition &= filter
    return Min(
        Case(
            When(
                condition,
                then=Concat(
                    F(f"{prefix}currency"),
                    Value(" "),
                    Cast("rate_date", CharField()),
                    output_field=CharField(),
                ),
            ),
            output_field=CharField(),
        )
    )


def raise_if_missing(organization: Organization, missing: Iterable[str | None]) -> None:
    """Raise ``MissingExchangeRateError`` for the earliest of the ``missing_rate`` values."""
    found = sorted(m for m in missing if m)
    if found:
        currency, day = found[0].split(" ", 1)
        raise MissingExchangeRateError(
            currency=currency, on_date=dt.date.fromisoformat(day), organization=organization
        )
