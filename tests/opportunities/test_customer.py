from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
from django.http import Http404

from accounts import services
from accounts.models import Account, DiscountTier, TeamRole
from crm.money import MissingExchangeRateError
from crm.services import exchange_rate_set
from opportunities import customer
from opportunities.models import ConflictKind
from tests.accounts.factories import make_account, make_opportunity
from tests.conftest import World
from tests.factories import SalesCompanyFactory, UserFactory
from tests.opportunities.factories import make_situation

pytestmark = pytest.mark.django_db

D = Decimal
TODAY = dt.date(2026, 6, 15)


def rates(world: World) -> None:
    for currency, valid_from, rate in [
        ("SEK", dt.date(2026, 1, 1), "0.09"),
        ("SEK", dt.date(2026, 4, 1), "0.10"),
        ("DKK", dt.date(2026, 1, 1), "0.13"),
        ("USD", dt.date(2026, 1, 1), "0.90"),
    ]:
        exchange_rate_set(
            organization=world.org,
            currency=currency,
            rate=D(rate),
            valid_from=valid_from,
            acting_user=None,
        )


@pytest.fixture
def group(world: World) -> dict[str, Account]:
    top = make_account(organization=world.org, home_company=world.se, name="Volvera Group AB")
    return {
        "top": top,
        "dk": make_account(
            organization=world.org, home_company=world.dk, name="Volvera A/S", parent=top
        ),
        "de": make_account(
            organization=world.org, home_company=world.de, name="Volvera GmbH", parent=top
        ),
    }


# --- Tier math ---------------------------------------------------------------------------------


def tiers(*pairs: tuple[str, str]) -> list[DiscountTier]:
    return [DiscountTier(threshold=D(t), discount_percent=D(p)) for t, p in pairs]


@pytest.mark.parametrize(
    ("volume", "current", "nxt"),
    [
        ("0", None, "100000"),
        ("99999.99", None, "100000"),
        ("100000", "100000", "250000"),  # reaching a threshold exactly counts
        ("249999.99", "100000", "250000"),
        ("250000.00", "250000", "500000"),
        ("1000000", "500000", None),
    ],
)
def test_tier_position_known_answers(volume: str, current: str | None, nxt: str | None) -> None:
    ladder = tiers(("100000", "2"), ("250000", "3.5"), ("500000", "5"))
    cur, nex = customer.tier_position(ladder, D(volume))
    assert (cur.threshold if cur else None) == (D(current) if current else None)
    assert (nex.threshold if nex else None) == (D(nxt) if nxt else None)


def make_agreement(world: World, top: Account, companies=None):
    return services.agreement_create(
        group=top,
        name="Volvera FA 2026",
        valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 12, 31),
        covered_companies=companies or [world.se, world.dk],
        incoterm="DAP",
        payment_terms="60 days net",
        tiers=[(D("0"), D("2")), (D("100000"), D("3.5")), (D("250000"), D("5"))],
        legal_notes={"DE": "German law applies"},
        acting_user=world.director,
    )


def test_agreement_volume_and_tiers_known_answer(world: World, group: dict[str, Account]) -> None:
    rates(world)
    make_agreement(world, group["top"])
    top, dk, de = group["top"], group["dk"], group["de"]
    # Counted: won, booked by a covered company (SE, DK), on any account of the group, closed
    # inside the window, each at its closing day's rate.
    make_opportunity(
        account=top,
        company=world.se,
        owner=world.rep_se,
        amount="500000",
        currency="SEK",
        state="won",
        closed_on=dt.date(2026, 2, 10),
    )  # 45 000.00
    make_opportunity(
        account=top,
        company=world.se,
        owner=world.rep_se,
        amount="333333.33",
        currency="SEK",
        state="won",
        closed_on=dt.date(2026, 5, 2),
    )  # 33 333.33
    make_opportunity(
        account=dk,
        company=world.dk,
        owner=world.rep_dk,
        amount="100000",
        currency="DKK",
        state="won",
        closed_on=dt.date(2026, 3, 3),
    )  # 13 000.00
    make_opportunity(
        account=de,
        company=world.se,
        owner=world.rep_se,
        amount="12345.67",
        currency="EUR",
        state="won",
        closed_on=dt.date(2026, 4, 4),
    )  # 12 345.67
    # Not counted: booked by DE (not covered), open, lost, before the window, after on_date,
    # another group.
    make_opportunity(
        account=de,
        company=world.de,
        owner=world.rep_de,
        amount="99999",
        state="won",
        closed_on=dt.date(2026, 4, 4),
    )
    make_opportunity(account=top, company=world.se, owner=world.rep_se, amount="88888")
    make_opportunity(
        account=top,
        company=world.se,
        owner=world.rep_se,
        amount="77777",
        state="lost",
        closed_on=dt.date(2026, 4, 4),
    )
    make_opportunity(
        account=top,
        company=world.se,
        owner=world.rep_se,
        amount="66666",
        state="won",
        closed_on=dt.date(2025, 12, 31),
    )
    make_opportunity(
        account=top,
        company=world.se,
        owner=world.rep_se,
        amount="55555",
        state="won",
        closed_on=dt.date(2026, 7, 1),
    )
    stranger_group = make_account(organization=world.org, home_company=world.se)
    make_opportunity(
        account=stranger_group,
        company=world.se,
        owner=world.rep_se,
        amount="44444",
        state="won",
        closed_on=dt.date(2026, 4, 4),
    )

    terms = customer.agreement_for_account(account=dk, on_date=TODAY)
    assert terms is not None
    assert terms.won_volume == D("103679.00")  # 45000 + 33333.33 + 13000 + 12345.67
    assert terms.current_tier.threshold == D("100000")
    assert terms.discount_percent == D("3.5")
    assert terms.next_tier.threshold == D("250000")
    assert terms.gap_to_next == D("146321.00")
    assert terms.covered_company_ids == {world.se.pk, world.dk.pk}
    assert terms.agreement.incoterm == "DAP"

    # Earlier in the year, less volume: the base tier and a bigger gap.
    early = customer.agreement_for_account(account=dk, on_date=dt.date(2026, 2, 28))
    assert early.won_volume == D("45000.00")
    assert (early.discount_percent, early.gap_to_next) == (D("2"), D("55000.00"))


def test_which_agreement_applies(world: World, group: dict[str, Account]) -> None:
    make_agreement(world, group["top"])
    # The DE subsidiary's home company is not covered...
    assert customer.agreement_for_account(account=group["de"], on_date=TODAY) is None
    # ...unless the deal is booked by a covered company.
    terms = customer.agreement_for_account(
        account=group["de"], on_date=TODAY, booking_company=world.dk
    )
    assert terms is not None and terms.won_volume == D("0.00")
    assert terms.current_tier.discount_percent == D("2")
    # Outside the validity window nothing applies; another group never.
    assert customer.agreement_for_account(account=group["dk"], on_date=dt.date(2027, 1, 1)) is None
    other = make_account(organization=world.org, home_company=world.se)
    assert customer.agreement_for_account(account=other, on_date=TODAY) is None


def test_missing_rate_is_an_error_not_one(world: World, group: dict[str, Account]) -> None:
    make_agreement(world, group["top"])
    make_opportunity(
        account=group["top"],
        company=world.se,
        owner=world.rep_se,
        amount="1000",
        currency="SEK",
        state="won",
        closed_on=dt.date(2026, 3, 1),
    )
    with pytest.raises(MissingExchangeRateError) as err:
        customer.agreement_for_account(account=group["top"], on_date=TODAY)
    assert err.value.currency == "SEK"
    assert err.value.on_date == dt.date(2026, 3, 1)


# --- Plan progress -----------------------------------------------------------------------------


def test_plan_progress_known_answer(world: World, group: dict[str, Account]) -> None:
    rates(world)
    plan = services.account_plan_create(
        group=group["top"],
        year=2026,
        revenue_target=D("200000"),
        owner=world.rep_se,
        acting_user=None,
    )
    services.plan_action_add(
        plan=plan,
        title="overdue",
        owner=world.rep_se,
        due_date=dt.date(2026, 6, 1),
        acting_user=None,
    )
    services.plan_action_add(
        plan=plan, title="open", owner=world.rep_se, due_date=dt.date(2026, 9, 1), acting_user=None
    )
    done = services.plan_action_add(
        plan=plan, title="done", owner=world.rep_se, due_date=dt.date(2026, 1, 1), acting_user=None
    )
    services.plan_action_update(action=done, status="done", acting_user=None)
    make_opportunity(
        account=group["dk"],
        company=world.dk,
        owner=world.rep_dk,
        amount="100000",
        currency="DKK",
        state="won",
        closed_on=dt.date(2026, 3, 3),
    )  # 13 000
    make_opportunity(
        account=group["top"],
        company=world.se,
        owner=world.rep_se,
        amount="37000",
        state="won",
        closed_on=dt.date(2026, 6, 14),
    )
    make_opportunity(
        account=group["top"],
        company=world.se,
        owner=world.rep_se,
        amount="1",
        state="won",
        closed_on=dt.date(2025, 6, 14),
    )  # last year
    progress = customer.plan_progress(user=world.director, plan=plan, today=TODAY)
    assert progress.won_ytd == D("50000.00")
    assert progress.percent == D("25.0")
    assert (progress.open_actions, progress.overdue_actions) == (2, 1)
    with pytest.raises(Http404):
        customer.plan_progress(user=world.rep_dk, plan=plan, today=TODAY)


# --- 360° --------------------------------------------------------------------------------------


def build_group(world: World, size: int) -> Account:
    """A group with ``size`` subsidiaries spread over SE/DK/DE/US, with deals and activities."""
    us = SalesCompanyFactory(
        organization=world.org, region=world.dach, code=f"US{size}", country="US", currency="USD"
    )
    top = make_account(organization=world.org, home_company=world.se, name=f"Group {size}")
    companies = [world.se, world.dk, world.de, us]
    owners = {
        world.se.pk: world.rep_se,
        world.dk.pk: world.rep_dk,
        world.de.pk: world.rep_de,
        us.pk: UserFactory(organization=world.org, sales_company=us),
    }
    currency = {world.se.pk: "SEK", world.dk.pk: "DKK", world.de.pk: "EUR", us.pk: "USD"}
    for i in range(size):
        company = companies[i % 4]
        sub = make_account(
            organization=world.org,
            home_company=company,
            parent=top,
            name=f"Sub {size}-{i}",
            country=company.country,
        )
        owner = owners[company.pk]
        make_opportunity(
            account=sub, company=company, owner=owner, amount="1000", currency=currency[company.pk]
        )
        make_opportunity(
            account=sub,
            company=company,
            owner=owner,
            amount="2000",
            currency=currency[company.pk],
            state="won",
            closed_on=dt.date(2026, 5, 5),
        )
        services.activity_log(
            account=sub, kind="call", subject=f"call {i}", owner=owner, acting_user=None
        )
        services.contact_create(account=sub, full_name=f"Contact {i}", acting_user=None)
    services.team_member_add(
        group=top, user=world.rep_se, role=TeamRole.GLOBAL_ACCOUNT_MANAGER, acting_user=None
    )
    services.team_member_add(
        group=top, user=world.rep_dk, role=TeamRole.KEY_ACCOUNT_MANAGER, acting_user=None
    )
    plan = services.account_plan_create(
        group=top, year=2026, revenue_target=D("100000"), owner=world.rep_se, acting_user=None
    )
    services.plan_action_add(
        plan=plan, title="x", owner=world.rep_se, due_date=dt.date(2026, 1, 1), acting_user=None
    )
    make_agreement(world, top)
    first_sub = Account.objects.for_org(world.org).filter(parent=top).order_by("pk").first()
    opp = first_sub.opportunities.model.objects.for_org(world.org).filter(account=first_sub).first()
    make_situation(
        organization=world.org,
        kind=ConflictKind.GROUP_OTHER_COMPANY,
        account=top,
        deals=[opp],
    )
    return top


@pytest.mark.parametrize("size", [3, 30])
def test_360_constant_queries(world: World, django_assert_max_num_queries, size: int) -> None:
    rates(world)
    top = build_group(world, size)
    # 12 whatever the size: group + organization + value (one join), accounts per country,
    # a page of accounts, figures, activities, team, plan, won YTD, agreements + tiers +
    # covered companies, conflicts.
    with django_assert_max_num_queries(12):
        view = customer.account_360(user=world.director, group=top, today=TODAY)
        # Touch everything a page renders, so lazy loads would be counted too.
        assert view.subsidiaries is not None
        [(r.name, r.home_company__code, r.value__lifetime_value) for r in view.subsidiaries.rows]
        [(a.owner.full_name, a.account.name, a.sales_company.code) for a in view.latest_activities]
        [(m.user.full_name, m.sales_company.code) for m in view.team]
        for agreement in view.agreements:
            list(agreement.tiers.all()), list(agreement.covered_companies.all())
        [(c.sales_company.code, c.account.name) for c in view.open_conflicts]
    # Every account is counted (per country, in SQL); one page of them is listed.
    assert view.account_count == size + 1
    countries = Account.objects.for_org(world.org).filter(group_id=top.pk)
    assert view.accounts_per_country == dict(Counter(countries.values_list("country", flat=True)))
    assert len(view.subsidiaries.rows) == min(size + 1, customer.TOP_SUBSIDIARIES)
    assert view.subsidiaries.has_next is (size + 1 > customer.TOP_SUBSIDIARIES)
    assert sum(f.open_count for f in view.figures_by_country.values()) == size
    assert view.plan is not None and view.plan.overdue_actions == 1
    assert len(view.open_conflicts) == 1


def test_360_pages_through_every_account_once(world: World) -> None:
    rates(world)
    top = build_group(world, 30)
    for sort in ("value", "name", "country"):
        seen: list[int] = []
        page = 1
        while True:
            view = customer.account_360(
                user=world.director,
                group=top,
                today=TODAY,
                sections=frozenset({"accounts"}),
                subsidiaries_page=page,
                subsidiaries_per_page=7,
                subsidiaries_sort=sort,
            )
            assert view.subsidiaries is not None and view.subsidiaries.sort == sort
            seen += [r.id for r in view.subsidiaries.rows]
            if not view.subsidiaries.has_next:
                break
            page += 1
        assert page == 5  # 31 accounts, 7 a page
        all_ids = set(
            Account.objects.for_org(world.org).filter(group_id=top.pk).values_list("pk", flat=True)
        )
        assert len(seen) == len(set(seen)) == 31 and set(seen) == all_ids, sort
    # A page past the end is the last page; a country filter lists that country only.
    last = customer.account_360(
        user=world.director, group=top, sections=frozenset({"accounts"}), subsidiaries_page=99
    )
    assert last.subsidiaries is not None and last.subsidiaries.number == 3  # 31 at 15 a page
    dk = customer.account_360(
        user=world.director,
        group=top,
        sections=frozenset({"accounts"}),
        subsidiaries_country="DK",
        subsidiaries_per_page=50,
    )
    assert dk.subsidiaries is not None
    assert {r.country for r in dk.subsidiaries.rows} == {"DK"}
    assert dk.subsidiaries.count == len(dk.subsidiaries.rows) == dk.accounts_per_country["DK"]


def test_only_those_who_see_values_get_the_value_order(world: World) -> None:
    rates(world)
    top = build_group(world, 8)
    # A country manager may not rank the group by value (the order would tell which account
    # is worth more): the name order, and no value columns.
    view = customer.account_360(user=world.manager_se, group=top, sections=frozenset({"accounts"}))
    assert view.subsidiaries is not None
    assert view.subsidiaries.sort == "name" and not view.subsidiaries.with_value
    assert not hasattr(view.subsidiaries.rows[0], "value__lifetime_value")
    names = [r.name for r in view.subsidiaries.rows]
    assert names == sorted(names)
    director = customer.account_360(
        user=world.director, group=top, sections=frozenset({"accounts"})
    )
    assert director.subsidiaries is not None
    assert director.subsidiaries.sort == "value" and director.subsidiaries.with_value


def test_360_known_figures_and_what_a_rep_may_not_see(world: World) -> None:
    rates(world)
    top = build_group(world, 4)  # one subsidiary each in SE, DK, DE, US
    view = customer.account_360(user=world.director, group=top, today=TODAY)
    assert set(view.subsidiaries_by_country) == {"SE", "DK", "DE", "US"}
    se, dk, de, us = (view.figures_by_country[c] for c in ("SE", "DK", "DE", "US"))
    # Open at today's rate, won at the closing day's (SEK 0.10 from April; DKK 0.13; USD 0.90).
    assert (se.open_amount, se.won_amount) == (D("100.00"), D("200.00"))
    assert (dk.open_amount, dk.won_amount) == (D("130.00"), D("260.00"))
    assert (de.open_amount, de.won_amount) == (D("1000.00"), D("2000.00"))
    assert (us.open_amount, us.won_amount) == (D("900.00"), D("1800.00"))
    assert view.plan.won_ytd == D("4260.00")
    assert len(view.latest_activities) == 4

    # The DK rep is on the team: the whole group, but only deals by the visibility policy.
    dk_view = customer.account_360(user=world.rep_dk, group=top, today=TODAY)
    assert set(dk_view.subsidiaries_by_country) == {"SE", "DK", "DE", "US"}
    assert len(dk_view.latest_activities) == 4
    # The DE rep is not: only the DE subsidiary of the group, and no group page at all.
    with pytest.raises(Http404):
        customer.account_360(user=world.rep_de, group=top, today=TODAY)
    with pytest.raises(Http404):
        customer.account_360(user=world.stranger, group=top, today=TODAY)
    # The SE manager (home company; a member of SE is on the team) sees all; but a SE
    # colleague who is not on the team sees the top account and SE figures only.
    se_colleague = UserFactory(organization=world.org, sales_company=world.se)
    narrow = customer.account_360(user=se_colleague, group=top, today=TODAY)
    assert set(narrow.subsidiaries_by_country) == {"SE"}
    assert narrow.figures_by_country == {}  # owns no deal, not on the team
    assert narrow.team and narrow.plan is not None and narrow.open_conflicts == []


def test_360_by_pk_is_the_requested_accounts_group_with_the_same_404s(world: World) -> None:
    rates(world)
    top = build_group(world, 4)
    sub_de = Account.objects.for_org(world.org).get(parent=top, country="DE")
    by_pk = customer.account_360(user=world.director, group=sub_de.pk, today=TODAY)
    assert by_pk.group == top and by_pk.requested == sub_de
    assert (
        by_pk.figures_by_country
        == customer.account_360(user=world.director, group=top, today=TODAY).figures_by_country
    )
    # The SE colleague sees the top (home company SE) but not the DE subsidiary: asking for
    # the subsidiary is a 404, not its group's page.
    se_colleague = UserFactory(organization=world.org, sales_company=world.se)
    assert customer.account_360(user=se_colleague, group=top.pk, today=TODAY).requested == top
    with pytest.raises(Http404):
        customer.account_360(user=se_colleague, group=sub_de.pk, today=TODAY)
    with pytest.raises(Http404):
        customer.account_360(user=world.stranger, group=sub_de.pk, today=TODAY)
    with pytest.raises(Http404):
        customer.account_360(user=world.director, group=10**9, today=TODAY)


def test_agreement_terms_from_the_360_match_the_system_read(world: World) -> None:
    rates(world)
    top = build_group(world, 4)
    view = customer.account_360(user=world.director, group=top, today=TODAY)
    found = []
    for booking in (None, world.se, world.dk, world.de):
        terms = customer.agreement_terms_in_360(view, on_date=TODAY, booking_company=booking)
        assert terms == customer.agreement_for_account(
            account=top, on_date=TODAY, booking_company=booking
        )
        found.append(terms)
    assert any(t is not None and t.tiers for t in found)  # the agreement applies somewhere


def test_360_missing_rate_is_an_error(world: World) -> None:
    top = make_account(organization=world.org, home_company=world.se)
    make_opportunity(account=top, company=world.se, owner=world.rep_se, amount="10", currency="SEK")
    with pytest.raises(MissingExchangeRateError) as err:
        customer.account_360(user=world.director, group=top, today=TODAY)
    assert (err.value.currency, err.value.on_date) == ("SEK", TODAY)
