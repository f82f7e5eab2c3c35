"""The save check's agreement and quote reads compiled once per process (issue 17): each
organization gets its own corporate currency's figures from the one compiled statement (no
organization's constant is baked in), the compiled rows equal the queryset's on the same data,
and the save check of a deal under an agreement runs a constant number of queries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, AgreementCompany, DiscountTier, FrameworkAgreement
from crm.db.compiled import statement_sql
from crm.models import ExchangeRate, Organization, SalesCompany, User
from crm.scope import org_scope
from opportunities import customer, situations, trade_rules
from opportunities.conflicts import check_deal
from opportunities.models import Opportunity
from tests.accounts.factories import make_account, make_opportunity
from tests.conftest import World
from tests.opportunities.factories import OpportunityLineFactory, ProductFactory

pytestmark = pytest.mark.django_db

D = Decimal


def customer_under_agreement(
    org: Organization, company: SalesCompany, owner: User, rate: tuple[str, str]
) -> tuple[Account, FrameworkAgreement]:
    """A group under an agreement, with one won deal in EUR and one in USD (1,000 each), and
    the rate of the organization's other currency."""
    ExchangeRate.objects.create(
        organization=org, currency=rate[0], rate=D(rate[1]), valid_from=dt.date(2020, 1, 1)
    )
    top = make_account(organization=org, home_company=company, name=f"Orbit {org.pk}")
    agreement = FrameworkAgreement.objects.create(
        organization=org,
        account=top,
        name="Orbit frame",
        valid_from=dt.date(2020, 1, 1),
        valid_to=timezone.localdate() + dt.timedelta(days=300),
        incoterm="DAP",
        payment_terms="30 days net",
    )
    AgreementCompany.objects.create(organization=org, agreement=agreement, sales_company=company)
    for threshold, percent in (("0", "2"), ("1500", "5"), ("2000", "8")):
        DiscountTier.objects.create(
            organization=org,
            agreement=agreement,
            threshold=D(threshold),
            discount_percent=D(percent),
        )
    for currency in ("EUR", "USD"):
        make_opportunity(
            account=top,
            company=company,
            owner=owner,
            amount="1000",
            currency=currency,
            state="won",
            closed_on=dt.date(2026, 3, 1),
        )
    return top, agreement


def quoted(top: Account, company: SalesCompany, owner: User, currency: str, product: Any) -> Any:
    opp = make_opportunity(
        account=top, company=company, owner=owner, amount="100", currency=currency
    )
    OpportunityLineFactory(opportunity=opp, product=product, unit_price=D("100.00"))
    return opp


@pytest.fixture
def two(world: World) -> dict[str, Any]:
    """The same customer in two organizations of different corporate currencies."""
    assert world.org.corporate_currency == "EUR"
    assert world.other_org.corporate_currency == "USD"
    eur_top, eur_agreement = customer_under_agreement(
        world.org, world.se, world.rep_se, ("USD", "0.90")
    )
    usd_top, usd_agreement = customer_under_agreement(
        world.other_org, world.other_company, world.stranger, ("EUR", "1.10")
    )
    eur_product = ProductFactory(organization=world.org)
    usd_product = ProductFactory(organization=world.other_org)
    # Each organization quotes in the other's currency: the rate is what differs.
    eur_deal = quoted(eur_top, world.se, world.rep_se, "USD", eur_product)
    usd_deal = quoted(usd_top, world.other_company, world.stranger, "EUR", usd_product)
    return {
        "eur": (world.org, eur_top, eur_agreement, eur_product, eur_deal),
        "usd": (world.other_org, usd_top, usd_agreement, usd_product, usd_deal),
    }


def test_each_organization_gets_its_own_currencys_volume_and_quotes(
    world: World, two: dict[str, Any]
) -> None:
    """One compiled statement, two corporate currencies, alternating in one process."""
    expected = {"eur": (D("1900.00"), D("90")), "usd": (D("2100.00"), D("110"))}
    for _round in range(2):
        for key in ("eur", "usd", "eur"):
            org, top, agreement, product, deal = two[key]
            with org_scope(org):
                volume = customer.agreement_volume(agreement=agreement, organization=org)
                (quote,) = trade_rules.load_quotes(org, top.pk, {product.pk})
            assert volume == expected[key][0], key
            assert quote.net == expected[key][1], key
            assert quote.deal.id == deal.pk


def test_the_compiled_rows_equal_the_querysets(world: World, two: dict[str, Any]) -> None:
    for org, top, agreement, product, deal in two.values():
        with org_scope(org):
            values = {
                "organization_id": org.pk,
                "corporate_currency": org.corporate_currency,
                "group_id": top.pk,
                "agreement_id": agreement.pk,
                "valid_from": agreement.valid_from,
                "end": agreement.valid_to,
            }
            assert customer._VOLUME.rows(**values) == list(customer._volume_query(**values))
            quotes = {
                "organization_id": org.pk,
                "corporate_currency": org.corporate_currency,
                "group_id": top.pk,
                "products": [product.pk],
            }
            assert trade_rules._QUOTES.rows(**quotes) == list(trade_rules._quotes_query(**quotes))
            on = {
                "organization_id": org.pk,
                "group_id": top.pk,
                "on_date": timezone.localdate(),
                "company_ids": [top.home_company_id],
            }
            compiled = customer._COVERING.rows(**on)
            assert compiled == list(customer._covering_query(**on))
            # And what the save builds of them equals the ORM's own reads.
            (found,) = customer.covering(account=top, on_date=timezone.localdate())
            assert found.agreement == agreement
            assert found.agreement.legal_notes == agreement.legal_notes
            ladder = list(DiscountTier.objects.for_org(org).filter(agreement=agreement))
            assert [(t.pk, t.threshold, t.discount_percent) for t in found.tiers] == [
                (t.pk, t.threshold, t.discount_percent) for t in ladder
            ]
            assert found.covered_company_ids == {top.home_company_id}


def test_a_date_of_a_timestamp_follows_the_time_zone_not_the_first_caller(
    world: World, two: dict[str, Any]
) -> None:
    """A deal won at 23:30 UTC on the window's last day is a day later in Stockholm: the
    statement compiled under one zone must not run under another."""
    org, top, agreement, _product, _deal = two["eur"]
    late = make_opportunity(
        account=top,
        company=world.se,
        owner=world.rep_se,
        amount="500",
        currency="EUR",
        state="won",
        closed_on=dt.date(2026, 3, 1),
    )
    Opportunity.objects.for_org(org).filter(pk=late.pk).update(
        closed_at=dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC)
    )
    up_to = dt.date(2026, 3, 31)
    with org_scope(org):
        in_utc = customer.agreement_volume(agreement=agreement, up_to=up_to, organization=org)
        with timezone.override("Europe/Stockholm"):
            in_stockholm = customer.agreement_volume(
                agreement=agreement, up_to=up_to, organization=org
            )
        again_utc = customer.agreement_volume(agreement=agreement, up_to=up_to, organization=org)
    assert in_utc == again_utc == D("2400.00")
    assert in_stockholm == D("1900.00")


@pytest.mark.parametrize("size", [1, 4])
def test_the_save_check_under_an_agreement_runs_constant_queries(
    world: World, two: dict[str, Any], size: int
) -> None:
    """More lines, tiers and quoting deals do not add queries to a re-check."""
    org, top, agreement, product, deal = two["eur"]
    for i in range(size):
        DiscountTier.objects.create(
            organization=org,
            agreement=agreement,
            threshold=D(5000 + i),
            discount_percent=D(10 + i),
        )
        OpportunityLineFactory(opportunity=deal, unit_price=D("90.00"))
        quoted(top, world.se, world.rep_se, "EUR", product)
    with org_scope(org):
        check_deal(opportunity=deal)
        with CaptureQueriesContext(connection) as ctx:
            check_deal(opportunity=deal, accounts=False)
    statements = [
        statement_sql(q["sql"]) for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]
    ]
    # The deal's facts, the group's deals, the covering agreements (with tiers and companies),
    # the won volume, the quotes, the open price gaps (one company: no group situation open).
    # Before: 9, with the tiers, the covered companies and each statement built anew.
    assert len(statements) == 6, statements
    assert sum('"accounts_discounttier"' in sql for sql in statements) == 1


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"])
def test_the_volumes_window_edges_are_the_zones_dates(
    world: World, two: dict[str, Any], zone: str
) -> None:
    """The won volume reads the closing time in an index range around the window (two days
    wider each side) and still decides by the closing date in the active zone: at UTC+14 and
    UTC-11 a deal closed a minute inside either edge counts, a minute outside does not. A
    subsidiary's deal counts through the deal's copy of its group."""
    org, top, agreement, _product, _deal = two["eur"]
    agreement.valid_from = dt.date(2026, 3, 1)
    agreement.save()
    up_to = dt.date(2026, 3, 31)
    subsidiary = make_account(organization=org, home_company=world.se, name="Orbit Sub")
    subsidiary.group = top
    subsidiary.save()
    tz = ZoneInfo(zone)
    edges = {
        "inside_first": (dt.datetime(2026, 3, 1, 0, 1, tzinfo=tz), "1"),
        "before_first": (dt.datetime(2026, 2, 28, 23, 59, tzinfo=tz), "10"),
        "inside_last": (dt.datetime(2026, 3, 31, 23, 59, tzinfo=tz), "100"),
        "after_last": (dt.datetime(2026, 4, 1, 0, 1, tzinfo=tz), "1000"),
    }
    for closed_at, amount in edges.values():
        deal = make_opportunity(
            account=subsidiary,
            company=world.se,
            owner=world.rep_se,
            amount=amount,
            currency="EUR",
            state="won",
            closed_on=dt.date(2026, 3, 15),
        )
        Opportunity.objects.for_org(org).filter(pk=deal.pk).update(closed_at=closed_at)
    with org_scope(org), timezone.override(zone):
        volume = customer.agreement_volume(agreement=agreement, up_to=up_to, organization=org)
    # The fixture's two deals closed at noon (server zone) on 1 March: 1,000 EUR + 1,000 USD
    # at 0.90 when inside the window in this zone, plus the two inside edges.
    noon = timezone.make_aware(dt.datetime(2026, 3, 1, 12)).astimezone(tz).date()
    base = D("1900.00") if noon >= dt.date(2026, 3, 1) else D("0.00")
    assert volume == base + D("101.00")


def test_the_won_volume_is_a_range_of_the_groups_closed_index(
    world: World, two: dict[str, Any]
) -> None:
    """The statement opp_org_group_closed_idx serves (EXPLAIN at 1M in the README: an index-only
    range of the window's deals): the deals' group copy and a closing-time range, no join to
    the accounts. (A planner test on a test database's few rows would prove nothing.)"""
    org, _top, agreement, _product, _deal = two["eur"]
    with org_scope(org), CaptureQueriesContext(connection) as ctx:
        customer.agreement_volume(agreement=agreement, organization=org)
    (run,) = ctx.captured_queries
    sql = statement_sql(run["sql"])
    assert '"opportunities_opportunity"."account_group_id" = %s' in sql
    assert '"opportunities_opportunity"."closed_at" >= ' in sql
    assert '"opportunities_opportunity"."closed_at" < ' in sql
    assert '"accounts_account"' not in sql
    index = next(i for i in Opportunity._meta.indexes if i.name == "opp_org_group_closed_idx")
    assert index.fields == ["organization", "account_group_id", "closed_at"]
    assert set(index.include) == {"global_stage", "sales_company", "currency", "amount"}


def test_the_accounts_duplicate_rows_equal_the_querysets(world: World) -> None:
    """The compiled read of an account's duplicate situations (open or decided) gives the ORM's
    rows, for either account of the pair, and none for an account without duplicates."""
    first = make_account(
        organization=world.org, home_company=world.se, name="Acme AB", registration_number="55-1"
    )
    second = make_account(
        organization=world.org, home_company=world.dk, name="Acme AB", registration_number="55-1"
    )
    alone = make_account(organization=world.org, home_company=world.se, name="Solo Oy")
    deal = make_opportunity(account=second, company=world.dk, owner=world.rep_dk, amount="10")
    with org_scope(world.org):
        check_deal(opportunity=deal)
        for account in (first, second, alone):
            values = {"organization_id": world.org.pk, "account_id": account.pk}
            compiled = situations._DUPLICATE_ROWS.rows(**values)
            assert compiled == list(situations._duplicate_rows(**values))
            assert len(compiled) == (0 if account is alone else 1)
