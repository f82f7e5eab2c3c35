"""The save check's agreement and quote reads compiled once per process (issue 17): each
organization gets its own corporate currency's figures from the one compiled statement (no
organization's constant is baked in), the compiled rows equal the queryset's on the same data,
and the save check of a deal under an agreement runs a constant number of queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import TruncDate
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, AgreementCompany, DiscountTier, FrameworkAgreement
from crm.db.compiled import statement_sql
from crm.models import ExchangeRate, Organization, SalesCompany, User
from crm.money import corporate_rate
from crm.scope import org_scope
from opportunities import conflicts, customer, situations, trade_rules
from opportunities.conflicts import check_deal
from opportunities.models import (
    Conflict,
    ConflictKind,
    ConflictParticipant,
    ConflictStatus,
    Opportunity,
    OpportunityLine,
)
from opportunities.selectors import open_q
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


def _situations_now(org: Organization) -> list[tuple[Any, ...]]:
    """Every open situation with its participants, comparable between two runs."""
    rows = []
    for c in Conflict.objects.for_org(org.pk).filter(status=ConflictStatus.OPEN).order_by("pk"):
        members = sorted(
            ConflictParticipant.objects.for_org(org.pk)
            .filter(conflict=c, left_at__isnull=True)
            .values_list("opportunity_id", "sales_company_id", "coordinated")
        )
        rows.append((c.kind, c.account_id, c.product_id, c.opportunity_id, c.params, members))
    return rows


def test_the_save_reads_ahead_what_it_then_asks_and_finds_the_same(
    world: World, two: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save with lines reads the group's deals, the covering agreements, the open price gaps
    and the quotes in one round trip (``read_ahead``; a first save the account's duplicate
    candidates and duplicate situations too) and then takes every one of them (none read
    twice, none wasted); what it records is what it records without reading ahead: an
    agreement finding (no discount on the line), a price gap with a Danish quote and the
    account's duplicate, a first detection and two re-checks."""
    org, top, _agreement, product, deal = two["eur"]
    # A German account of the same name: the customer's possible duplicate.
    make_account(organization=org, home_company=world.de, name=top.name, country=top.country)
    dk_deal = quoted(top, world.dk, world.rep_dk, "EUR", product)
    OpportunityLine.objects.for_org(org.pk).filter(opportunity=dk_deal).update(
        unit_price=D("50.00")
    )
    real = conflicts.read_ahead
    taken: list[tuple[int, int]] = []

    @contextmanager
    def spy(runs: Any) -> Iterator[Any]:
        with real(runs) as left:
            yield left
            taken.append((len(runs), len(left)))

    @contextmanager
    def off(runs: Any) -> Iterator[Any]:
        with real([]) as left:
            yield left

    found = {}
    for name, ahead in (("ahead", spy), ("one by one", off)):
        monkeypatch.setattr(conflicts, "read_ahead", ahead)
        with org_scope(org.pk), transaction.atomic():
            check_deal(opportunity=deal, is_new=True)
            first = _situations_now(org)
            check_deal(opportunity=dk_deal, accounts=False)
            check_deal(opportunity=deal, accounts=False)
            found[name] = (first, _situations_now(org))
            transaction.set_rollback(True)
    kinds = {row[0] for row in found["ahead"][1]}
    assert {
        ConflictKind.AGREEMENT,
        ConflictKind.PRICE_GAP,
        ConflictKind.DUPLICATE_ACCOUNT,
    } <= kinds, found
    assert found["ahead"] == found["one by one"]
    # The first save also reads the account's duplicate candidates and situations ahead.
    assert taken == [(6, 0), (4, 0), (4, 0)]


def _quotes_joined(
    organization_id: int, corporate_currency: Any, where: Q, products: list[int]
) -> QuerySet[Any, Any]:
    """The quotes' statement as it was before the open deals were found from the group index
    first (the lines joined to their deals, filtered there): the reference the new one is
    compared with."""
    qs = OpportunityLine.objects.for_org(organization_id).filter(
        open_q("opportunity__"), where, product_id__any_of=products
    )
    return (
        qs.order_by("opportunity_id", "pk")
        .annotate(rate_date=TruncDate("opportunity__created_at"))
        .annotate(rate=corporate_rate(organization_id, corporate_currency, prefix="opportunity__"))
        .values_list(
            "opportunity_id",
            "opportunity__account_id",
            "opportunity__sales_company_id",
            "opportunity__owner_id",
            "opportunity__sales_company__country",
            "product_id",
            "unit_price",
            "discount_percent",
            "rate",
        )
    )


def test_the_quotes_read_from_the_group_index_first_equal_the_joined_read(
    world: World, two: dict[str, Any]
) -> None:
    """The save's quotes (compiled and built) and the import's quotes of many groups equal the
    lines-joined-to-deals statement they replace, on a group with a subsidiary, won and lost
    deals, a currency without a rate, a product not asked for, another group and another
    organization's lines of the same product ids asked."""
    org, top, _agreement, product, deal = two["eur"]
    other_product = ProductFactory(organization=org)
    subsidiary = make_account(organization=org, home_company=world.dk, name="Orbit DK")
    subsidiary.group = top
    subsidiary.save()
    elsewhere = make_account(organization=org, home_company=world.se, name="Elsewhere")
    for account, company, owner, currency, state in (
        (subsidiary, world.dk, world.rep_dk, "USD", "open"),
        (subsidiary, world.dk, world.rep_dk, "JPY", "open"),
        (top, world.de, world.rep_de, "EUR", "won"),
        (top, world.de, world.rep_de, "EUR", "lost"),
        (elsewhere, world.se, world.rep_se, "EUR", "open"),
    ):
        opp = make_opportunity(
            account=account,
            company=company,
            owner=owner,
            amount="100",
            currency=currency,
            state=state,
            closed_on=None if state == "open" else dt.date(2026, 3, 1),
        )
        for p, price, discount in ((product, "80.00", "5"), (other_product, "70.00", "0")):
            OpportunityLineFactory(
                opportunity=opp, product=p, unit_price=D(price), discount_percent=D(discount)
            )
    OpportunityLineFactory(opportunity=deal, product=product, unit_price=D("95.00"))
    usd_org, usd_top, *_rest = two["usd"]
    every = [product.pk, other_product.pk, two["usd"][3].pk]
    with org_scope(org):
        for wanted in ([product.pk], every):
            values = {
                "organization_id": org.pk,
                "corporate_currency": org.corporate_currency,
                "group_id": top.pk,
                "products": wanted,
            }
            old = list(
                _quotes_joined(org.pk, "EUR", Q(opportunity__account_group_id=top.pk), wanted)
            )
            # Three open deals of the group, lines of the asked products; JPY has no rate.
            assert len({row[0] for row in old}) == 3 and None in {row[8] for row in old}
            assert list(trade_rules._quotes_query(**values)) == old
            assert trade_rules._QUOTES.rows(**values) == old
        groups = sorted({top.pk, elsewhere.pk})
        old_many = list(
            _quotes_joined(org.pk, "EUR", Q(opportunity__account_group_id__any_of=groups), every)
        )
        assert {row[1] for row in old_many} >= {elsewhere.pk, subsidiary.pk}
        many = trade_rules.load_quotes_many(org, {g: set(every) for g in groups})
        assert many[top.pk] == trade_rules.load_quotes(org, top.pk, set(every))
        assert sorted(
            (q.deal.id, q.product_id, q.net) for quotes in many.values() for q in quotes
        ) == sorted((q.deal.id, q.product_id, q.net) for q in trade_rules._best_quotes(old_many))
    with org_scope(usd_org):
        assert trade_rules.load_quotes(usd_org, usd_top.pk, set(every)) == trade_rules._best_quotes(
            _quotes_joined(usd_org.pk, "USD", Q(opportunity__account_group_id=usd_top.pk), every)
        )
