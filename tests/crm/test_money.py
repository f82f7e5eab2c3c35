from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crm.money import MissingExchangeRateError, rate_on, to_corporate
from tests.conftest import World
from tests.factories import ExchangeRateFactory

pytestmark = pytest.mark.django_db


def test_conversion_uses_the_rate_valid_on_the_date(world: World) -> None:
    ExchangeRateFactory(
        organization=world.org, currency="SEK", rate="0.08", valid_from=dt.date(2026, 1, 1)
    )
    ExchangeRateFactory(
        organization=world.org, currency="SEK", rate="0.09", valid_from=dt.date(2026, 6, 1)
    )
    # A rate of another organization must never be used.
    ExchangeRateFactory(
        organization=world.other_org, currency="SEK", rate="5", valid_from=dt.date(2026, 5, 1)
    )

    def eur(day: dt.date) -> Decimal:
        return to_corporate(
            organization=world.org, amount=Decimal("1000.00"), currency="SEK", on_date=day
        )

    assert eur(dt.date(2026, 5, 31)) == Decimal("80.00")
    assert eur(dt.date(2026, 6, 1)) == Decimal("90.00")
    assert eur(dt.date(2027, 1, 1)) == Decimal("90.00")


def test_corporate_currency_converts_at_one(world: World) -> None:
    assert rate_on(organization=world.org, currency="EUR", on_date=dt.date(2020, 1, 1)) == 1


def test_missing_rate_is_an_error_naming_currency_and_date(world: World) -> None:
    ExchangeRateFactory(
        organization=world.org, currency="SEK", rate="0.08", valid_from=dt.date(2026, 1, 1)
    )
    with pytest.raises(MissingExchangeRateError, match=r"SEK->EUR valid on 2025-12-31") as err:
        to_corporate(
            organization=world.org, amount=Decimal(1), currency="SEK", on_date=dt.date(2025, 12, 31)
        )
    assert err.value.currency == "SEK"
    with pytest.raises(MissingExchangeRateError, match="GBP"):
        rate_on(organization=world.org, currency="GBP", on_date=dt.date(2026, 6, 1))


@pytest.mark.django_db(transaction=True)
def test_the_sql_rate_look_up_is_an_index_range_under_row_level_security(world: World) -> None:
    """As the application role (RLS on), the dated rate's look-up must bound ``valid_from`` in
    the index, not filter every rate of the currency: a condition applying a non-leakproof
    function (``timezone()``, the cast to a date) to the outer row is not used as an index
    condition on a table under row-level security, so the rate date reaches it as a
    sub-select's parameter (``crm.money.ScalarSelect``)."""
    from django.db import connection

    from crm.money import with_corporate_amount
    from crm.scope import org_scope
    from opportunities.models import Opportunity
    from reporting.kpis import rate_date_expression
    from tests.crm.test_rls import as_app_role

    ExchangeRateFactory(
        organization=world.org, currency="SEK", rate="0.08", valid_from=dt.date(2026, 1, 1)
    )
    with as_app_role(orm_filter=True), org_scope(world.org):
        qs = with_corporate_amount(
            Opportunity.objects.for_org(world.org.pk),
            world.org,
            rate_date=rate_date_expression(dt.date(2026, 12, 6)),
        ).values_list("corporate_amount")
        sql, params = qs.query.sql_with_params()
        with connection.cursor() as cursor:
            # The tables are tiny: without this the planner would scan them whole either way.
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = [row[0] for row in cursor.fetchall()]
            cursor.execute("RESET enable_seqscan")
    scan = next(i for i, line in enumerate(plan) if "on crm_exchangerate" in line)
    details = []
    for line in plan[scan + 1 :]:
        if "->" in line or "SubPlan" in line:
            break
        details.append(line.strip())
    index_cond = next(line for line in details if line.startswith("Index Cond:"))
    assert "valid_from <=" in index_cond, plan
    assert not any(line.startswith("Filter:") and "valid_from" in line for line in details), plan
