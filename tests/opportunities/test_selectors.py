"""Opportunity reads: visibility per role, constant query counts, the board, corporate money."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.http import Http404

from accounts.models import AccountTeamMember, TeamRole
from accounts.sharing import object_share
from crm.money import MissingExchangeRateError
from crm.services import exchange_rate_set
from opportunities.models import Opportunity
from opportunities.selectors import (
    access_opportunity_by_id,
    board_columns,
    opportunity_amount_corporate,
    opportunity_list,
    total_corporate,
)
from opportunities.services import opportunity_move_stage
from tests.conftest import World
from tests.factories import UserFactory
from tests.opportunities.factories import (
    OpportunityFactory,
    OpportunitySplitFactory,
    account_for,
    process_for,
    stage_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def deals(world: World) -> dict[str, Opportunity]:
    """One deal per way of seeing it, so every role's expected set is different."""
    for company in (world.se, world.dk, world.de):
        process_for(company)
    se_acc = account_for(world.se, "Scania AB")
    dk_acc = account_for(world.dk, "Maersk A/S")
    de_acc = account_for(world.de, "Siemens AG")
    se_colleague = UserFactory(organization=world.org, sales_company=world.se)
    out = {
        "se_own": OpportunityFactory(account=se_acc, owner=world.rep_se),
        "se_colleague": OpportunityFactory(account=se_acc, owner=se_colleague),
        "dk": OpportunityFactory(account=dk_acc, owner=world.rep_dk),
        "de": OpportunityFactory(account=de_acc, owner=world.rep_de),
        "de_split": OpportunityFactory(account=de_acc, owner=world.rep_de, name="split"),
        "de_shared": OpportunityFactory(account=de_acc, owner=world.rep_de, name="shared"),
    }
    OpportunitySplitFactory(opportunity=out["de_split"], user=world.rep_se)
    object_share(obj=out["de_shared"], grantee=world.rep_se, permission="view", acting_user=None)
    object_share(obj=out["de_shared"], grantee=world.marketing, permission="view", acting_user=None)
    # A DK subsidiary of a group whose global team includes the DE rep.
    group_top = account_for(world.dk, "Carlsberg A/S")
    out["dk_team"] = OpportunityFactory(account=group_top, owner=world.rep_dk, name="team")
    AccountTeamMember.objects.create(
        organization=world.org,
        account=group_top,
        user=world.rep_de,
        sales_company=world.de,
        role=TeamRole.KEY_ACCOUNT_MANAGER,
    )
    return out


def test_visibility_per_role(world: World, deals: dict[str, Opportunity]) -> None:
    every = set(deals)
    expected = {
        "admin": every,
        "director": every,
        "regional": {"se_own", "se_colleague", "dk", "dk_team"},  # Nordics companies
        "manager_se": {"se_own", "se_colleague"},
        "manager_de": {"de", "de_split", "de_shared", "dk_team"},  # + group with a DE member
        "rep_se": {"se_own", "de_split", "de_shared"},  # owned, split to, shared
        "rep_dk": {"dk", "dk_team"},
        "rep_de": {"de", "de_split", "de_shared", "dk_team"},  # owned + team group
        "marketing": {"de_shared"},  # deals are the sellers'; only an explicit share
        "marketing_se": set(),
        "stranger": set(),
    }
    names = {o.pk: key for key, o in deals.items()}
    for role, user in world.users().items():
        seen = {names[pk] for pk in opportunity_list(user=user).values_list("pk", flat=True)}
        assert seen == expected[role], role


def test_get_answers_404_for_invisible_foreign_and_missing(
    world: World, deals: dict[str, Opportunity]
) -> None:
    assert access_opportunity_by_id(world.rep_se, deals["se_own"].pk) == deals["se_own"]
    for user in (world.rep_dk, world.marketing_se, world.stranger):
        with pytest.raises(Http404):
            access_opportunity_by_id(user, deals["se_own"].pk)
    with pytest.raises(Http404):
        access_opportunity_by_id(world.admin, 10**9)


def test_list_is_a_constant_number_of_queries(world: World, django_assert_max_num_queries) -> None:
    process_for(world.se)
    account = account_for(world.se)

    def render() -> list[tuple[str, ...]]:
        return [
            (o.account.name, o.owner.full_name, o.sales_company.code, o.local_stage.name)
            for o in opportunity_list(user=world.manager_se)
        ]

    OpportunityFactory.create_batch(3, account=account, owner=world.rep_se)
    with django_assert_max_num_queries(1):
        assert len(render()) == 3
    OpportunityFactory.create_batch(27, account=account, owner=world.rep_se)
    with django_assert_max_num_queries(1):
        assert len(render()) == 30


def test_list_filters(world: World, deals: dict[str, Opportunity]) -> None:
    opportunity_move_stage(
        opportunity=deals["se_own"], local_stage=stage_for(world.se, "Won"), acting_user=None
    )
    open_ = opportunity_list(user=world.director, is_open=True)
    assert deals["se_own"] not in open_ and deals["dk"] in open_
    assert list(opportunity_list(user=world.director, is_open=False)) == [deals["se_own"]]
    assert set(opportunity_list(user=world.director, search="maersk")) == {deals["dk"]}
    assert set(opportunity_list(user=world.director, sales_company=world.se)) == {
        deals["se_own"],
        deals["se_colleague"],
    }


def test_board_columns_have_open_stages_visible_deals_and_totals(world: World) -> None:
    process_for(world.se)
    account = account_for(world.se)
    exchange_rate_set(
        organization=world.org,
        currency="SEK",
        rate=Decimal("0.1"),
        valid_from=dt.date(2020, 1, 1),
        acting_user=None,
    )
    mine = OpportunityFactory(account=account, owner=world.rep_se, amount=Decimal("1000"))
    OpportunityFactory(account=account, owner=world.rep_se, amount=Decimal("500"))
    # EUR deal in SEK board: 100 EUR = 1000 SEK at 0.1.
    OpportunityFactory(account=account, owner=world.rep_se, amount=Decimal(100), currency="EUR")
    OpportunityFactory(account=account, owner=world.rep_se, amount=None, stage="Negotiate")
    won = OpportunityFactory(account=account, owner=world.rep_se, stage="Won")
    hidden = OpportunityFactory(
        account=account, owner=UserFactory(organization=world.org, sales_company=world.se)
    )
    columns = board_columns(user=world.rep_se)
    assert [c.stage.name for c in columns] == ["Qualify", "Develop", "Propose", "Negotiate"]
    qualify, _, _, negotiate = columns
    assert mine in qualify.opportunities and hidden not in qualify.opportunities
    assert (qualify.count, qualify.total, qualify.currency) == (3, Decimal("2500.00"), "SEK")
    assert (negotiate.count, negotiate.total) == (1, Decimal("0.00"))
    assert all(won not in c.opportunities for c in columns)
    # The manager sees the colleague's deal too.
    assert board_columns(user=world.manager_se)[0].count == 4


def test_amount_in_corporate_currency_uses_the_rate_of_the_date(world: World) -> None:
    process_for(world.se)
    account = account_for(world.se)
    for valid_from, rate in ((dt.date(2026, 1, 1), "0.08"), (dt.date(2026, 6, 1), "0.10")):
        exchange_rate_set(
            organization=world.org,
            currency="SEK",
            rate=Decimal(rate),
            valid_from=valid_from,
            acting_user=None,
        )
    opp = OpportunityFactory(
        account=account,
        owner=world.rep_se,
        amount=Decimal("1000"),
        expected_close_date=dt.date(2026, 3, 31),
    )
    assert opportunity_amount_corporate(opportunity=opp) == Decimal("80.00")
    opp.expected_close_date = dt.date(2026, 7, 1)
    assert opportunity_amount_corporate(opportunity=opp) == Decimal("100.00")
    # Once closed, the closing date decides, not the expected one.
    opp.closed_at = dt.datetime(2026, 2, 1, 12, tzinfo=dt.UTC)
    assert opportunity_amount_corporate(opportunity=opp) == Decimal("80.00")
    opp.amount = None
    assert opportunity_amount_corporate(opportunity=opp) is None


def test_missing_rate_is_an_error_naming_currency_and_date(world: World) -> None:
    process_for(world.dk)
    opp = OpportunityFactory(
        account=account_for(world.dk),
        owner=world.rep_dk,
        amount=Decimal("1000"),
        expected_close_date=dt.date(2026, 5, 17),
    )
    assert opp.currency == "DKK"
    with pytest.raises(MissingExchangeRateError) as exc:
        opportunity_amount_corporate(opportunity=opp)
    assert "DKK" in str(exc.value) and "2026-05-17" in str(exc.value)
    with pytest.raises(MissingExchangeRateError):
        total_corporate(Opportunity.objects.for_org(world.org), organization=world.org)


def test_total_corporate_groups_in_sql(world: World, django_assert_max_num_queries) -> None:
    process_for(world.se)
    account = account_for(world.se)
    exchange_rate_set(
        organization=world.org,
        currency="SEK",
        rate=Decimal("0.1"),
        valid_from=dt.date(2020, 1, 1),
        acting_user=None,
    )
    close = dt.date(2026, 6, 30)
    OpportunityFactory.create_batch(
        10, account=account, owner=world.rep_se, amount=Decimal(100), expected_close_date=close
    )
    OpportunityFactory(account=account, owner=world.rep_se, amount=Decimal(7), currency="EUR")
    # One grouped query plus one rate lookup per (currency, date) group.
    with django_assert_max_num_queries(2):
        total, count = total_corporate(
            Opportunity.objects.for_org(world.org), organization=world.org
        )
    assert (total, count) == (Decimal("107.00"), 11)
