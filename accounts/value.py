"""Reading an account's stored customer value (``AccountValue``, written nightly by
``reporting.customer_value``): rounded once, half-even to the cent, as every money figure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from accounts.models import Account, AccountValue
from crm.models import User
from crm.money import money
from crm.roles import ORG_WIDE_ROLES


@dataclass(frozen=True)
class ValueFigures:
    """An account's (or its group's) stored value, rounded for reading."""

    lifetime_value: Decimal | None
    won_revenue: Decimal | None
    weighted_pipeline: Decimal | None
    revenue_12m: Decimal | None
    first_win_at: dt.datetime | None
    last_win_at: dt.datetime | None
    missing_rate: str


def _rounded(value: Decimal | None) -> Decimal | None:
    return None if value is None else money(value)


def account_figures(value: AccountValue | None) -> ValueFigures | None:
    if value is None:
        return None
    return ValueFigures(
        lifetime_value=_rounded(value.lifetime_value),
        won_revenue=_rounded(value.won_revenue),
        weighted_pipeline=_rounded(value.weighted_pipeline),
        revenue_12m=_rounded(value.revenue_12m),
        first_win_at=value.first_win_at,
        last_win_at=value.last_win_at,
        missing_rate=value.missing_rate,
    )


def group_figures(value: AccountValue | None) -> ValueFigures | None:
    if value is None:
        return None
    return ValueFigures(
        lifetime_value=_rounded(value.group_lifetime_value),
        won_revenue=_rounded(value.group_won_revenue),
        weighted_pipeline=_rounded(value.group_weighted_pipeline),
        revenue_12m=_rounded(value.group_revenue_12m),
        first_win_at=value.group_first_win_at,
        last_win_at=value.group_last_win_at,
        missing_rate=value.group_missing_rate,
    )


def joined_value(account: Account) -> AccountValue | None:
    """The value ``select_related("value")`` joined, without a query (None when absent)."""
    value: AccountValue | None = account._state.fields_cache.get("value")
    return value


def value_rows(
    value: AccountValue | None, group_value: AccountValue | None
) -> list[tuple[str, dict[str, Any], str]]:
    """The 360°'s value table: the account, and its group when shown in full."""
    rows: list[tuple[str, dict[str, Any], str]] = []
    if value is not None:
        rows.append(
            (_("This account"), {"figures": account_figures(value), "missing": value.missing_rate},
             "account")
        )  # fmt: skip
    if group_value is not None:
        rows.append(
            (_("Whole group"),
             {"figures": group_figures(group_value), "missing": group_value.group_missing_rate},
             "group")
        )  # fmt: skip
    return rows


def may_see_customer_value(user: User) -> bool:
    """Customer value is deal data summed over every company's deals with the customer, so only
    the roles that see every deal see it (the director and the global admin). Need-to-know: the
    lifetime value of an account with one deal of another company *is* that deal's amount, and a
    country manager or rep who sees the account in full may still not see that deal."""
    return user.role in ORG_WIDE_ROLES
