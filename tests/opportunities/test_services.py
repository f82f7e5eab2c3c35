"""Opportunity services: create, optimistic locking, lines, stage moves, splits, permissions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from accounts.models import Account
from accounts.sharing import object_share
from opportunities.errors import StaleVersionError
from opportunities.models import Opportunity, OpportunityLine, OpportunitySplit, StageChange
from opportunities.services import (
    LineInput,
    opportunity_create,
    opportunity_move_stage,
    opportunity_set_lines,
    opportunity_set_splits,
    opportunity_update,
)
from tests.conftest import World
from tests.factories import UserFactory
from tests.opportunities.factories import ProductFactory, account_for, process_for, stage_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def se_account(world: World) -> Account:
    for company in (world.se, world.dk, world.de):
        process_for(company)
    return account_for(world.se, "Volvo Lastvagnar AB")


def _opp(world: World, account: Account, **kw) -> Opportunity:
    return opportunity_create(
        acting_user=kw.pop("acting_user", world.rep_se),
        account=account,
        name=kw.pop("name", "Deal"),
        **kw,
    )


def _splits(opp: Opportunity) -> list[tuple[int, str, Decimal]]:
    return sorted(
        OpportunitySplit.objects.for_org(opp.organization_id)
        .filter(opportunity=opp)
        .values_list("user_id", "kind", "percent")
    )


# --- create ------------------------------------------------------------------------------------


def test_create_defaults_from_the_owner_and_company(world: World, se_account: Account) -> None:
    opp = _opp(world, se_account, amount=Decimal("1500.00"))
    assert opp.owner == world.rep_se
    assert opp.sales_company == world.se
    assert opp.currency == "SEK"
    assert opp.local_stage == stage_for(world.se, "Qualify")  # first stage of the SE process
    assert opp.global_stage == opp.local_stage.global_stage
    assert opp.version == 1
    assert _splits(opp) == [(world.rep_se.pk, "revenue", Decimal("100.00"))]
    history = list(StageChange.objects.for_org(world.org).filter(opportunity=opp))
    assert [(h.from_local_stage_id, h.to_local_stage_id, h.changed_by_id) for h in history] == [
        (None, opp.local_stage_id, world.rep_se.pk)
    ]


def test_create_refuses_a_stage_of_another_company_and_a_closed_stage(
    world: World, se_account: Account
) -> None:
    with pytest.raises(ValidationError, match="not a stage of"):
        _opp(world, se_account, local_stage=stage_for(world.dk, "Develop"))
    with pytest.raises(ValidationError, match="starts open"):
        _opp(world, se_account, local_stage=stage_for(world.se, "Won"))
    assert not Opportunity.objects.for_org(world.org).exists()


def test_create_permissions(world: World, se_account: Account) -> None:
    # A rep books for themselves in their own company, not for a colleague.
    with pytest.raises(PermissionDenied):
        _opp(world, se_account, owner=UserFactory(organization=world.org, sales_company=world.se))
    # The SE manager may book for the rep; the DE manager may not book in SE.
    assert (
        _opp(world, se_account, acting_user=world.manager_se, owner=world.rep_se).owner
        == world.rep_se
    )
    # The DE manager and a DK rep cannot even see the SE account.
    with pytest.raises(Http404):
        _opp(world, se_account, acting_user=world.manager_de, owner=world.rep_se)
    # Marketing reads accounts but does not book deals.
    with pytest.raises(PermissionDenied):
        _opp(world, se_account, acting_user=world.marketing, owner=world.rep_se)
    with pytest.raises(Http404):
        _opp(world, se_account, acting_user=world.rep_dk)
    with pytest.raises(Http404):
        _opp(world, se_account, acting_user=world.stranger)


def test_amount_and_currency_come_from_lines(world: World, se_account: Account) -> None:
    pump = ProductFactory(organization=world.org, currency="SEK", list_price=Decimal("1000"))
    valve = ProductFactory(organization=world.org, currency="EUR", list_price=Decimal("50"))
    opp = _opp(
        world,
        se_account,
        amount=Decimal(1),  # ignored: lines decide
        lines=[
            LineInput(product=pump, quantity=Decimal(3), discount_percent=Decimal("12.5")),
            {"product": valve, "quantity": Decimal(2), "unit_price": Decimal("555.55")},
        ],
    )
    # 3 * 1000 * 0.875 + 2 * 555.55
    assert opp.amount == Decimal("3736.10")
    assert opp.currency == "SEK"
    # Without a rate the foreign list price cannot be converted: refused, naming the currency.
    with pytest.raises(ValidationError, match="priced in EUR"):
        opportunity_set_lines(
            opportunity=opp, acting_user=world.rep_se, lines=[{"product": valve, "quantity": 1}]
        )
    opp = opportunity_set_lines(
        opportunity=opp,
        acting_user=world.rep_se,
        lines=[{"product": pump, "quantity": Decimal("0.5")}],
        expected_version=1,
    )
    assert (opp.amount, opp.version) == (Decimal("500.00"), 2)
    assert OpportunityLine.objects.for_org(world.org).filter(opportunity=opp).count() == 1
    with pytest.raises(ValidationError, match="from the product lines"):
        opportunity_update(
            opportunity=opp, acting_user=world.rep_se, expected_version=2, amount=Decimal(9)
        )


# --- optimistic locking ------------------------------------------------------------------------


def test_stale_copy_is_refused_never_overwritten(world: World, se_account: Account) -> None:
    opp = _opp(world, se_account)
    mine = Opportunity.objects.for_org(world.org).get(pk=opp.pk)
    theirs = Opportunity.objects.for_org(world.org).get(pk=opp.pk)
    opportunity_update(
        opportunity=theirs,
        acting_user=world.manager_se,
        expected_version=theirs.version,
        next_step="Call the CFO",
    )
    with pytest.raises(StaleVersionError) as exc:
        opportunity_update(
            opportunity=mine,
            acting_user=world.rep_se,
            expected_version=mine.version,
            next_step="Send offer",
        )
    assert exc.value.current_version == 2
    assert "version 1" in str(exc.value) and "version 2" in str(exc.value)
    assert "reload" in str(exc.value)
    fresh = Opportunity.objects.for_org(world.org).get(pk=opp.pk)
    assert (fresh.next_step, fresh.version) == ("Call the CFO", 2)
    # Reloaded, the same change goes through.
    done = opportunity_update(
        opportunity=fresh, acting_user=world.rep_se, expected_version=2, next_step="Send offer"
    )
    assert (done.next_step, done.version) == ("Send offer", 3)


def test_update_is_one_conditional_update(
    world: World, se_account: Account, django_assert_max_num_queries
) -> None:
    opp = _opp(world, se_account)
    with django_assert_max_num_queries(15) as ctx:
        opportunity_update(
            opportunity=opp, acting_user=world.rep_se, expected_version=1, name="Renamed"
        )
    updates = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    # Conditional on the version the caller read, and bumping it in the same statement.
    assert '"version" = 1' in updates[0] and '"version" + 1' in updates[0]


def test_stale_stage_move_is_refused(world: World, se_account: Account) -> None:
    opp = _opp(world, se_account)
    opportunity_update(opportunity=opp, acting_user=world.rep_se, expected_version=1, name="X")
    with pytest.raises(StaleVersionError):
        opportunity_move_stage(
            opportunity=opp,
            local_stage=stage_for(world.se, "Develop"),
            acting_user=world.rep_se,
            expected_version=1,
        )
    assert Opportunity.objects.for_org(world.org).get(pk=opp.pk).global_stage.name == "Qualify"


def test_update_rejects_unknown_fields(world: World, se_account: Account) -> None:
    opp = _opp(world, se_account)
    for field in ("local_stage", "global_stage", "version", "sales_company"):
        with pytest.raises(ValidationError):
            opportunity_update(
                opportunity=opp, acting_user=world.rep_se, expected_version=1, **{field: None}
            )
    assert Opportunity.objects.for_org(world.org).get(pk=opp.pk).version == 1


# --- stage moves ---------------------------------------------------------------------------------


def test_stage_history_closing_and_first_won(world: World, se_account: Account) -> None:
    opp = _opp(world, se_account)
    assert se_account.first_won_at is None
    for name in ("Develop", "Negotiate"):
        opp = opportunity_move_stage(
            opportunity=opp, local_stage=stage_for(world.se, name), acting_user=world.rep_se
        )
        assert opp.closed_at is None
    opp = opportunity_move_stage(
        opportunity=opp,
        local_stage=stage_for(world.se, "Won"),
        acting_user=world.manager_se,
        expected_version=opp.version,
    )
    assert opp.closed_at is not None
    assert opp.global_stage.is_won
    se_account.refresh_from_db()
    first_won = se_account.first_won_at
    assert first_won is not None and se_account.lifecycle == "customer"
    history = list(
        StageChange.objects.for_org(world.org)
        .filter(opportunity=opp)
        .values_list("from_global_stage__name", "to_global_stage__name", "changed_by_id")
    )
    assert history == [
        (None, "Qualify", world.rep_se.pk),
        ("Qualify", "Develop", world.rep_se.pk),
        ("Develop", "Negotiate", world.rep_se.pk),
        ("Negotiate", "Won", world.manager_se.pk),
    ]
    # A second win on the same account keeps the first date.
    second = _opp(world, se_account, name="Second")
    opportunity_move_stage(
        opportunity=second, local_stage=stage_for(world.se, "Won"), acting_user=world.rep_se
    )
    se_account.refresh_from_db()
    assert se_account.first_won_at == first_won


def test_lost_needs_a_reason_and_reopen_clears_closing(world: World, se_account: Account) -> None:
    opp = _opp(world, se_account)
    with pytest.raises(ValidationError, match="why"):
        opportunity_move_stage(
            opportunity=opp, local_stage=stage_for(world.se, "Lost"), acting_user=world.rep_se
        )
    opp = opportunity_move_stage(
        opportunity=opp,
        local_stage=stage_for(world.se, "Lost"),
        acting_user=world.rep_se,
        lost_reason="Price",
    )
    assert (opp.lost_reason, opp.closed_at is not None) == ("Price", True)
    se_account.refresh_from_db()
    assert se_account.first_won_at is None  # losing is not winning
    opp = opportunity_move_stage(
        opportunity=opp, local_stage=stage_for(world.se, "Develop"), acting_user=world.rep_se
    )
    assert (opp.lost_reason, opp.closed_at) == ("", None)


def test_stage_must_belong_to_the_booking_companys_process(
    world: World, se_account: Account
) -> None:
    opp = _opp(world, se_account)
    with pytest.raises(ValidationError, match="not a stage of"):
        opportunity_move_stage(
            opportunity=opp, local_stage=stage_for(world.dk, "Develop"), acting_user=world.rep_se
        )
    assert StageChange.objects.for_org(world.org).filter(opportunity=opp).count() == 1


# --- splits ---


def test_split_validation(world: World, se_account: Account) -> None:
    opp = _opp(world, se_account)
    rev, ovl = "revenue", "overlay"
    bad = [
        [(world.rep_se, None, rev, Decimal(60)), (world.rep_dk, None, rev, Decimal(30))],  # 90
        [(world.rep_se, None, rev, Decimal(60)), (world.rep_dk, None, rev, Decimal(50))],  # 110
        [(world.rep_se, None, rev, Decimal(100)), (world.rep_dk, None, ovl, Decimal(101))],
        [(world.rep_se, None, rev, Decimal(50)), (world.rep_se, None, rev, Decimal(50))],
        [(world.rep_dk, None, ovl, Decimal(50))],  # no revenue at all
        [(world.rep_se, None, rev, Decimal(100)), (world.rep_dk, None, "bonus", Decimal(5))],
    ]
    for splits in bad:
        with pytest.raises(ValidationError):
            opportunity_set_splits(opportunity=opp, splits=splits, acting_user=world.rep_se)
    assert _splits(opp) == [(world.rep_se.pk, "revenue", Decimal("100.00"))]
    # A user of another organization is nobody here: 404, like a missing one.
    with pytest.raises(Http404):
        opportunity_set_splits(
            opportunity=opp,
            splits=[(world.stranger, None, rev, Decimal(100))],
            acting_user=world.rep_se,
        )
    good = [
        (world.rep_se, None, rev, Decimal("66.67")),
        (world.rep_dk, world.dk, rev, Decimal("33.33")),
        (world.rep_de, None, ovl, Decimal(80)),
        (world.manager_se, None, ovl, Decimal(50)),  # overlays need not sum to anything
    ]
    opportunity_set_splits(opportunity=opp, splits=good, acting_user=world.rep_se)
    assert _splits(opp) == sorted(
        [
            (world.rep_se.pk, "revenue", Decimal("66.67")),
            (world.rep_dk.pk, "revenue", Decimal("33.33")),
            (world.rep_de.pk, "overlay", Decimal("80.00")),
            (world.manager_se.pk, "overlay", Decimal("50.00")),
        ]
    )
    dk_split = OpportunitySplit.objects.for_org(world.org).get(opportunity=opp, user=world.rep_dk)
    assert dk_split.sales_company == world.dk


# --- permissions per role ---


def test_who_may_change_an_opportunity(world: World, se_account: Account) -> None:
    opp = _opp(world, se_account)
    colleague = UserFactory(organization=world.org, sales_company=world.se)
    allowed = [world.rep_se, world.manager_se, world.regional, world.director, world.admin]
    for user in allowed:
        opp = opportunity_update(
            opportunity=opp, acting_user=user, expected_version=opp.version, next_step=user.email
        )
        assert opp.next_step == user.email
    # Seen (shared for view) but not changeable -> PermissionDenied; not seen -> 404.
    object_share(obj=opp, grantee=colleague, permission="view", acting_user=world.rep_se)
    with pytest.raises(PermissionDenied):
        opportunity_update(
            opportunity=opp, acting_user=colleague, expected_version=opp.version, name="x"
        )
    for user in (world.rep_dk, world.rep_de, world.manager_de, world.marketing, world.stranger):
        with pytest.raises(Http404):
            opportunity_update(
                opportunity=opp, acting_user=user, expected_version=opp.version, name="x"
            )
        with pytest.raises(Http404):
            opportunity_move_stage(
                opportunity=opp, local_stage=stage_for(world.se, "Develop"), acting_user=user
            )
    # Shared for change: the colleague may now edit.
    object_share(obj=opp, grantee=colleague, permission="change", acting_user=world.rep_se)
    opp = opportunity_update(
        opportunity=opp, acting_user=colleague, expected_version=opp.version, name="Shared"
    )
    assert opp.name == "Shared"
    # A rep handing the deal away is refused (it would no longer be theirs to change).
    with pytest.raises(PermissionDenied):
        opportunity_update(
            opportunity=opp, acting_user=world.rep_se, expected_version=opp.version, owner=colleague
        )
    assert Opportunity.objects.for_org(world.org).get(pk=opp.pk).owner == world.rep_se
    assert dt.date.today()  # keep dt imported for readers of the expected_close_date tests
