"""The trade rules (issue 19): parallel import, double agreements and price gaps between
countries. Each is a situation that informs (a save never fails for it), opens and closes with
the deals, and can be switched off per organization."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from accounts.models import Account, AgreementCompany, FrameworkAgreement
from crm.db.compiled import statement_sql
from crm.models import ExchangeRate
from opportunities import services
from opportunities.conflicts import conflict_warnings, detect_for_opportunity, redetect_group
from opportunities.models import (
    Conflict,
    ConflictKind,
    ConflictParticipant,
    ConflictStatus,
    Opportunity,
    Resolution,
)
from opportunities.situations import Deal
from opportunities.trade_rules import Quote, price_gaps
from tests.accounts.factories import AccountFactory
from tests.conftest import World
from tests.factories import SalesCompanyFactory, UserFactory
from tests.opportunities.factories import (
    OpportunityFactory,
    OpportunityLineFactory,
    ProductFactory,
    stage_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(world: World) -> dict[str, Account]:
    """A Swedish group with a Danish and a German subsidiary; SEK and DKK rates since 2000."""
    top = AccountFactory(
        organization=world.org, home_company=world.se, name="Orbis AB", country="SE"
    )
    dk = AccountFactory(
        organization=world.org, home_company=world.dk, parent=top, name="Orbis ApS", country="DK"
    )
    de = AccountFactory(
        organization=world.org, home_company=world.de, parent=top, name="Orbis GmbH", country="DE"
    )
    for currency, rate in (("SEK", "0.10000000"), ("DKK", "0.13400000")):
        ExchangeRate.objects.create(
            organization=world.org, currency=currency, rate=rate, valid_from=dt.date(2000, 1, 1)
        )
    return {"top": top, "dk": dk, "de": de}


def open_of(world: World, kind: str) -> list[Conflict]:
    return list(Conflict.objects.for_org(world.org).filter(kind=kind, status=ConflictStatus.OPEN))


def companies_in(conflict: Conflict) -> set[int]:
    return set(
        ConflictParticipant.objects.for_org(conflict.organization_id)
        .filter(conflict=conflict, left_at__isnull=True)
        .values_list("sales_company_id", flat=True)
    )


def detect(opp: Opportunity) -> list[str]:
    return sorted(c.kind for c in detect_for_opportunity(opportunity=opp))


def set_org(world: World, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(world.org, name, value)
    world.org.save()


# --- Parallel import ---------------------------------------------------------------------------


def test_delivery_to_a_country_whose_company_serves_the_group_is_a_parallel_import(
    world: World, group: dict[str, Account]
) -> None:
    opp = OpportunityFactory(account=group["top"], owner=world.rep_se, delivery_country="DE")
    assert ConflictKind.PARALLEL_IMPORT in detect(opp)
    (found,) = open_of(world, ConflictKind.PARALLEL_IMPORT)
    assert found.opportunity_id == opp.pk and found.other_account_id == group["de"].pk
    assert found.params == {"country": "DE"}
    # Both companies are told: the booking one and the one serving the delivery country.
    assert companies_in(found) == {world.se.pk, world.de.pk}
    (warning,) = conflict_warnings(user=world.director, conflicts=[found])
    assert "Nordvik SE" in warning.text and world.de.name in warning.text and "DE" in warning.text
    with translation.override("de"):
        (german,) = conflict_warnings(user=world.director, conflicts=[found])
    assert german.kind_label and "DE" in german.text


@pytest.mark.parametrize("country", [None, "SE", "NO"])
def test_no_parallel_import_at_home_or_where_no_company_serves_the_group(
    world: World, group: dict[str, Account], country: str | None
) -> None:
    """Same country (or none given: the booking company's), or a country without an account of
    the group served from there (NO): no finding, and no query for the first two."""
    opp = OpportunityFactory(account=group["top"], owner=world.rep_se, delivery_country=country)
    with CaptureQueriesContext(connection) as ctx:
        assert ConflictKind.PARALLEL_IMPORT not in detect(opp)
    served_lookups = [
        q for q in ctx.captured_queries if '"crm_salescompany"."country" = ' in q["sql"]
    ]
    assert bool(served_lookups) is (country == "NO")


def test_parallel_import_switched_off(world: World, group: dict[str, Account]) -> None:
    set_org(world, trade_parallel_import=False)
    opp = OpportunityFactory(account=group["top"], owner=world.rep_se, delivery_country="DE")
    assert ConflictKind.PARALLEL_IMPORT not in detect(opp)


def test_parallel_import_ends_when_delivered_home_and_when_the_deal_is_won(
    world: World, group: dict[str, Account]
) -> None:
    opp = services.opportunity_create(
        acting_user=world.rep_se,
        account=group["top"],
        name="Pumps for Hamburg",
        local_stage=stage_for(world.se, "Qualify"),
        delivery_country="de",
    )
    assert opp.delivery_country == "DE"
    (found,) = open_of(world, ConflictKind.PARALLEL_IMPORT)
    services.opportunity_update(
        opportunity=opp, acting_user=world.rep_se, expected_version=opp.version,
        delivery_country="SE",
    )  # fmt: skip
    found.refresh_from_db()
    assert (found.status, found.resolution) == (
        ConflictStatus.RESOLVED,
        Resolution.NO_LONGER_APPLIES,
    )
    services.opportunity_update(
        opportunity=opp, acting_user=world.rep_se, expected_version=opp.version,
        delivery_country="DK",
    )  # fmt: skip
    (again,) = open_of(world, ConflictKind.PARALLEL_IMPORT)
    assert again.other_account_id == group["dk"].pk
    services.opportunity_move_stage(
        opportunity=opp, local_stage=stage_for(world.se, "Won"), acting_user=None
    )
    again.refresh_from_db()
    assert again.resolution == Resolution.DEAL_CLOSED


def test_a_save_never_fails_for_a_trade_finding(world: World, group: dict[str, Account]) -> None:
    """Passive sales may be legal: the finding informs, the deal is saved."""
    opp = services.opportunity_create(
        acting_user=world.rep_dk,
        account=group["dk"],
        name="Export",
        local_stage=stage_for(world.dk, "Qualify"),
        delivery_country="SE",
    )
    assert Opportunity.objects.for_org(world.org).filter(pk=opp.pk).exists()
    assert open_of(world, ConflictKind.PARALLEL_IMPORT)


# --- Double agreement --------------------------------------------------------------------------


def agreement(world: World, top: Account, name: str, start: dt.date, companies: list) -> Any:
    row = FrameworkAgreement.objects.create(
        organization=world.org,
        account=top,
        name=name,
        valid_from=start,
        valid_to=dt.date.today() + dt.timedelta(days=300),
        incoterm="DAP",
        payment_terms="30 days net",
    )
    for company in companies:
        AgreementCompany.objects.create(
            organization=world.org, agreement=row, sales_company=company
        )
    return row


def test_two_agreements_covering_the_customer_are_made_explicit(
    world: World, group: dict[str, Account]
) -> None:
    today = dt.date.today()
    older = agreement(
        world, group["top"], "Orbis frame", today - dt.timedelta(days=90), [world.se, world.dk]
    )
    newer = agreement(
        world, group["top"], "Trade association deal", today - dt.timedelta(days=10), [world.dk]
    )
    opp = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    OpportunityLineFactory(opportunity=opp)
    assert ConflictKind.DOUBLE_AGREEMENT in detect(opp)
    (found,) = open_of(world, ConflictKind.DOUBLE_AGREEMENT)
    # The newest applies (what covering_agreement picks), the other is named.
    assert found.agreement_id == newer.pk
    assert found.params == {"applies": "Trade association deal", "others": ["Orbis frame"]}
    (warning,) = conflict_warnings(user=world.rep_dk, conflicts=[found])
    assert warning.text == (
        "Trade association deal applies to this quote; Orbis frame also covers this customer."
    )
    assert older.pk != newer.pk
    # One agreement left (the other ended): the situation ends by itself.
    FrameworkAgreement.objects.for_org(world.org).filter(pk=older.pk).update(
        valid_to=today - dt.timedelta(days=1)
    )
    assert ConflictKind.DOUBLE_AGREEMENT not in detect(opp)
    found.refresh_from_db()
    assert found.resolution == Resolution.NO_LONGER_APPLIES


def test_one_agreement_no_lines_or_switched_off_is_no_double_agreement(
    world: World, group: dict[str, Account]
) -> None:
    today = dt.date.today()
    agreement(
        world, group["top"], "Orbis frame", today - dt.timedelta(days=90), [world.se, world.dk]
    )
    opp = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    OpportunityLineFactory(opportunity=opp)
    assert ConflictKind.DOUBLE_AGREEMENT not in detect(opp)  # one agreement only
    agreement(world, group["top"], "Second", today - dt.timedelta(days=5), [world.dk])
    bare = OpportunityFactory(account=group["dk"], owner=world.rep_dk)
    assert ConflictKind.DOUBLE_AGREEMENT not in detect(bare)  # nothing quoted
    set_org(world, trade_double_agreement=False)
    assert ConflictKind.DOUBLE_AGREEMENT not in detect(opp)


# --- Price gap ---------------------------------------------------------------------------------


def quote(
    world: World, account: Account, owner: Any, product: Any, price: str, **kw: Any
) -> Opportunity:
    opp = OpportunityFactory(account=account, owner=owner)
    OpportunityLineFactory(opportunity=opp, product=product, unit_price=Decimal(price), **kw)
    detect_for_opportunity(opportunity=opp)
    return opp


@pytest.mark.parametrize(
    ("de_price", "discount", "gap"),
    [
        ("1150.00", "0", False),  # SEK 10,000 x 0.1 = EUR 1,000: exactly 15 % is not more
        ("1150.01", "0", True),  # just over
        ("1200.00", "4", True),  # net 1,152 after the discount
        ("1200.00", "5", False),  # net 1,140
    ],
)
def test_price_gap_just_under_and_over_the_threshold(
    world: World, group: dict[str, Account], de_price: str, discount: str, gap: bool
) -> None:
    pump = ProductFactory(organization=world.org, name="Drive X")
    se = quote(world, group["top"], world.rep_se, pump, "10000.00")
    de = quote(world, group["de"], world.rep_de, pump, de_price, discount_percent=Decimal(discount))
    found = open_of(world, ConflictKind.PRICE_GAP)
    assert bool(found) is gap
    if gap:
        (situation,) = found
        assert situation.product_id == pump.pk and situation.account_id == group["top"].pk
        assert companies_in(situation) == {world.se.pk, world.de.pk}
        members = set(
            ConflictParticipant.objects.for_org(world.org)
            .filter(conflict=situation, left_at__isnull=True)
            .values_list("opportunity_id", flat=True)
        )
        assert members == {se.pk, de.pk}
        (warning,) = conflict_warnings(user=world.director, conflicts=[situation])
        assert "Drive X" in warning.text and "15" in warning.text
        assert de_price not in warning.text and "1000" not in warning.text


def test_price_gap_within_one_country_or_switched_off_or_a_wider_threshold(
    world: World, group: dict[str, Account]
) -> None:
    pump = ProductFactory(organization=world.org)
    quote(world, group["top"], world.rep_se, pump, "10000.00")
    quote(world, group["top"], world.manager_se, pump, "13000.00")  # same country: no gap
    assert open_of(world, ConflictKind.PRICE_GAP) == []
    set_org(world, trade_price_gap_percent=Decimal(30))
    quote(world, group["de"], world.rep_de, pump, "1250.00")  # 25 % over SEK 10,000
    assert open_of(world, ConflictKind.PRICE_GAP) == []
    set_org(world, trade_price_gap_percent=Decimal(15), trade_price_gap=False)
    quote(world, group["de"], world.rep_de, pump, "1250.00")
    assert open_of(world, ConflictKind.PRICE_GAP) == []


def test_a_lost_deal_leaves_the_price_gap_which_then_closes(
    world: World, group: dict[str, Account]
) -> None:
    pump = ProductFactory(organization=world.org)
    quote(world, group["top"], world.rep_se, pump, "10000.00")
    de = quote(world, group["de"], world.rep_de, pump, "1300.00")
    (situation,) = open_of(world, ConflictKind.PRICE_GAP)
    # A third country joins the same situation instead of adding a row.
    dk = quote(world, group["dk"], world.rep_dk, pump, "7462.69")  # DKK x 0.134 = EUR 1,000
    assert [s.pk for s in open_of(world, ConflictKind.PRICE_GAP)] == [situation.pk]
    assert world.dk.pk in companies_in(situation)
    services.opportunity_move_stage(
        opportunity=de, local_stage=stage_for(world.de, "Lost"), acting_user=None,
        lost_reason="Price",
    )  # fmt: skip
    situation.refresh_from_db()
    assert situation.resolution == Resolution.DEAL_CLOSED
    assert dk.pk


def test_price_gaps_rule_is_pure() -> None:
    deal = lambda i: Deal(id=i, account_id=1, company_id=i, owner_id=i)  # noqa: E731
    quotes = [
        Quote(deal(1), "SE", 7, Decimal("100")),
        Quote(deal(2), "DE", 7, Decimal("116")),
        Quote(deal(3), "DE", 7, Decimal("110")),
        Quote(deal(4), "DK", 8, Decimal("0")),
        Quote(deal(5), "SE", 8, Decimal("1")),
    ]
    found = price_gaps(quotes, Decimal(15))
    assert {q.deal.id for q in found[7]} == {1, 2}  # 110 is within 15 % of 100
    assert {q.deal.id for q in found[8]} == {4, 5}  # a free line against a priced one


def test_a_save_without_lines_or_foreign_delivery_adds_no_trade_query(
    world: World, group: dict[str, Account]
) -> None:
    opp = OpportunityFactory(account=group["top"], owner=world.rep_se)
    detect_for_opportunity(opportunity=opp)
    set_org(world, trade_parallel_import=False, trade_double_agreement=False, trade_price_gap=False)
    with CaptureQueriesContext(connection) as off:
        detect_for_opportunity(opportunity=opp)
    set_org(world, trade_parallel_import=True, trade_double_agreement=True, trade_price_gap=True)
    with CaptureQueriesContext(connection) as on:
        detect_for_opportunity(opportunity=opp)
    assert len(on.captured_queries) == len(off.captured_queries)


def test_an_acknowledged_finding_stays_decided_for_the_same_deal(
    world: World, group: dict[str, Account]
) -> None:
    from opportunities.resolution import conflict_resolve

    opp = OpportunityFactory(account=group["top"], owner=world.rep_se, delivery_country="DE")
    detect(opp)
    (found,) = open_of(world, ConflictKind.PARALLEL_IMPORT)
    conflict_resolve(
        conflict_id=found.pk, acting_user=world.director, resolution=Resolution.ACKNOWLEDGED
    )
    assert ConflictKind.PARALLEL_IMPORT not in detect(opp)
    # Delivered elsewhere, where another company serves the group: news again.
    Opportunity.objects.for_org(world.org).filter(pk=opp.pk).update(delivery_country="DK")
    assert ConflictKind.PARALLEL_IMPORT in detect(opp)


# --- The group re-check ------------------------------------------------------------------------


def test_linking_an_account_into_the_group_rechecks_the_trade_rules(
    world: World, group: dict[str, Account]
) -> None:
    """A Norwegian account joins the group after a Swedish deal delivered to Norway and two
    quotes of the same drive were saved: the re-check opens the parallel import (Norway now
    serves the group) and the price gap (the Norwegian account's deal is now in the group)."""
    no_company = SalesCompanyFactory(
        organization=world.org, region=world.nordics, code="NO", country="NO"
    )
    oslo = AccountFactory(
        organization=world.org, home_company=no_company, name="Orbis AS", country="NO"
    )
    drive = ProductFactory(organization=world.org, name="Drive N")
    abroad = OpportunityFactory(account=group["top"], owner=world.rep_se, delivery_country="NO")
    assert ConflictKind.PARALLEL_IMPORT not in detect(abroad)
    quote(world, group["top"], world.rep_se, drive, "10000.00")
    rep_no = UserFactory(organization=world.org, sales_company=no_company)
    quote(world, oslo, rep_no, drive, "1500.00")
    assert open_of(world, ConflictKind.PRICE_GAP) == []

    oslo.parent, oslo.group = group["top"], group["top"]
    oslo.save(update_fields=["parent", "group"])
    checked, news = redetect_group(world.org.pk, group["top"].pk, account_ids=[oslo.pk])
    assert checked == 3
    (parallel,) = open_of(world, ConflictKind.PARALLEL_IMPORT)
    assert parallel.opportunity_id == abroad.pk and parallel.other_account_id == oslo.pk
    (gap,) = open_of(world, ConflictKind.PRICE_GAP)
    assert gap.product_id == drive.pk and companies_in(gap) == {world.se.pk, no_company.pk}
    assert {parallel.pk, gap.pk} <= set(news)
    # Idempotent: a second run opens nothing and tells nothing new.
    assert redetect_group(world.org.pk, group["top"].pk)[1] == []
    assert len(open_of(world, ConflictKind.PARALLEL_IMPORT)) == 1


def test_a_price_gap_that_opens_is_announced_like_every_situation(
    world: World, group: dict[str, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Price gaps go through the situations' one rule, which emits conflict.opened (webhooks)."""
    emitted: list[tuple[str, int]] = []
    monkeypatch.setattr(
        "opportunities.situations.emit",
        lambda org_id, event, obj, **kw: emitted.append((event, obj.pk)),
    )
    # Conflicts opened together are announced by id (``emit_many``).
    monkeypatch.setattr(
        "opportunities.situations.emit_many",
        lambda org_id, event, model, ids, **kw: emitted.extend((event, pk) for pk in ids),
    )
    pump = ProductFactory(organization=world.org)
    quote(world, group["top"], world.rep_se, pump, "10000.00")
    quote(world, group["de"], world.rep_de, pump, "1500.00")
    (gap,) = open_of(world, ConflictKind.PRICE_GAP)
    assert ("conflict.opened", gap.pk) in emitted


def test_a_quote_reads_its_covering_agreements_once_per_save(
    world: World, group: dict[str, Account]
) -> None:
    """The agreement rule and the double-agreement rule share one read of the agreements."""
    agreement(world, group["top"], "Frame A", dt.date(2020, 1, 1), [world.se])
    opp = OpportunityFactory(account=group["top"], owner=world.rep_se)
    OpportunityLineFactory(opportunity=opp, unit_price=Decimal("100.00"))
    with CaptureQueriesContext(connection) as ctx:
        detect_for_opportunity(opportunity=opp)
    run = [statement_sql(q["sql"]) for q in ctx.captured_queries]
    reads = [
        sql
        for sql in run
        if sql.lstrip().startswith("SELECT") and 'FROM "accounts_frameworkagreement"' in sql
    ]
    assert len(reads) == 1, [sql[:200] for sql in reads]
