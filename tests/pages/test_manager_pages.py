"""Managers' pages: conflicts inbox and resolution, team overview, data quality."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from crm.models import User
from crm.roles import Role
from opportunities.conflicts import detect_for_opportunity
from opportunities.models import (
    Conflict,
    ConflictKind,
    ConflictStatus,
    Opportunity,
    OpportunitySplit,
)
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.factories import UserFactory
from tests.opportunities.factories import OpportunityFactory
from tests.pages.conftest import Deals, many_opportunities

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_dk(world: World) -> User:
    return UserFactory(organization=world.org, role=Role.COUNTRY_MANAGER, sales_company=world.dk)


@pytest.fixture
def conflict(world: World, deals: Deals) -> Conflict:
    sub = make_account(
        organization=world.org, home_company=world.dk, name="Volvera DK", parent=deals.account
    )
    danish = OpportunityFactory(account=sub, owner=world.rep_dk, name="Danish retrofit")
    detect_for_opportunity(opportunity=danish, acting_user=None)
    return Conflict.objects.for_org(world.org).get(
        participants__opportunity=danish, status=ConflictStatus.OPEN
    )


def test_inbox_for_managers_involved_only(
    client: Client, world: World, conflict: Conflict, manager_dk: User
) -> None:
    url = reverse("opportunities:conflicts")
    client.force_login(manager_dk)
    response = client.get(url)
    assert conflict.pk in response.context["resolvable"]
    assert "Danish retrofit" in response.content.decode()
    client.force_login(world.manager_de)
    assert "Danish retrofit" not in client.get(url).content.decode()
    client.force_login(world.stranger)
    assert "Danish retrofit" not in client.get(url).content.decode()
    detail = reverse("opportunities:conflict", args=[conflict.pk])
    client.force_login(world.manager_de)
    assert client.get(detail).status_code == 404
    client.force_login(world.stranger)
    assert client.get(detail).status_code == 404


def test_rep_sees_but_may_not_resolve(client: Client, world: World, conflict: Conflict) -> None:
    detail = reverse("opportunities:conflict", args=[conflict.pk])
    client.force_login(world.rep_dk)
    response = client.get(detail)
    assert response.status_code == 200 and response.context["allowed"] is False
    assert client.post(detail, {"resolution": "acknowledged"}).status_code == 403
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.OPEN


def test_manager_keeps_both_with_a_split(
    client: Client, world: World, conflict: Conflict, manager_dk: User
) -> None:
    detail = reverse("opportunities:conflict", args=[conflict.pk])
    client.force_login(manager_dk)
    response = client.get(detail)
    assert response.context["suggested"] is not None
    danish = Opportunity.objects.for_org(world.org).get(name="Danish retrofit")
    response = client.post(
        detail,
        {"resolution": "keep_both_split", "split_percent": "30", "opportunity": danish.pk},
    )
    assert response.status_code == 302
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.RESOLVED and conflict.resolved_by == manager_dk
    splits = dict(
        OpportunitySplit.objects.for_org(world.org)
        .filter(opportunity_id=danish.pk, kind="revenue")
        .values_list("user_id", "percent")
    )
    assert splits == {world.rep_dk.pk: Decimal("70.00"), world.rep_se.pk: Decimal("30.00")}


def test_assign_owner_suggests_the_rules_of_engagement(
    client: Client, world: World, conflict: Conflict, manager_dk: User
) -> None:
    detail = reverse("opportunities:conflict", args=[conflict.pk])
    client.force_login(manager_dk)
    owner = client.get(detail).context["suggested_owner"]
    assert owner is not None
    client.post(detail, {"resolution": "assign_owner", "owner": owner.pk})
    # The one deal not booked by the owner's company moves to the owner.
    opp = Opportunity.objects.for_org(world.org).get(name="Danish retrofit")
    assert opp.owner == owner


def test_merge_needs_confirmation(client: Client, world: World, deals: Deals) -> None:
    twin = make_account(
        organization=world.org, home_company=world.se, name="Volvera AB", country="SE"
    )
    opp = OpportunityFactory(account=twin, owner=world.rep_se, name="Twin deal")
    detect_for_opportunity(opportunity=opp, acting_user=None)
    dup = Conflict.objects.for_org(world.org).get(kind="duplicate_account", status="open")
    detail = reverse("opportunities:conflict", args=[dup.pk])
    client.force_login(world.manager_se)
    response = client.post(detail, {"resolution": "merge", "keep_account": deals.account.pk})
    assert (
        response.status_code == 200 and 'data-testid="confirm-merge"' in response.content.decode()
    )
    assert Opportunity.objects.for_org(world.org).get(pk=opp.pk).account_id == twin.pk
    response = client.post(
        detail, {"resolution": "merge", "keep_account": deals.account.pk, "confirm": "True"}
    )
    assert response.status_code == 302
    assert Opportunity.objects.for_org(world.org).get(pk=opp.pk).account_id == deals.account.pk


@pytest.mark.parametrize("rows", [5, 40])
def test_inbox_constant_queries(
    client: Client, world: World, deals: Deals, rows: int, django_assert_max_num_queries: object
) -> None:
    # One situation per group: a Swedish group with a Danish subsidiary, each worked by both.
    for i in range(rows):
        top = make_account(organization=world.org, home_company=world.se, name=f"Group {i}")
        sub = make_account(
            organization=world.org, home_company=world.dk, name=f"Sub {i}", parent=top
        )
        OpportunityFactory(account=top, owner=world.rep_se)
        detect_for_opportunity(
            opportunity=OpportunityFactory(account=sub, owner=world.rep_dk), acting_user=None
        )
    client.force_login(world.manager_se)
    with django_assert_max_num_queries(14):
        response = client.get(reverse("opportunities:conflicts"))
    assert len(response.context["warnings"]) >= rows


def test_team_overview(client: Client, world: World, deals: Deals) -> None:
    url = reverse("opportunities:team")
    client.force_login(world.manager_se)
    response = client.get(url)
    assert response.status_code == 200
    figures = {p.pk: f for p, f in response.context["rows"]}
    # 125 000 SEK at 0.087 = 10 875 EUR.
    assert figures[world.rep_se.pk]["count"] == 1
    assert figures[world.rep_se.pk]["amount"] == Decimal("10875.00")
    assert world.rep_de.pk not in figures
    client.force_login(world.rep_se)
    assert client.get(url).status_code == 403
    client.force_login(world.stranger)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("rows", [5, 40])
def test_team_constant_queries(
    client: Client, world: World, deals: Deals, rows: int, django_assert_max_num_queries: object
) -> None:
    for _ in range(rows):
        UserFactory(organization=world.org, role=Role.SALES_REP, sales_company=world.se)
    many_opportunities(world, 3)
    client.force_login(world.manager_se)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("opportunities:team"))
    assert len(response.context["rows"]) >= rows


def test_data_quality_lists_what_to_fix(client: Client, world: World, deals: Deals) -> None:
    incomplete = OpportunityFactory(
        account=deals.account, owner=world.rep_se, name="Half done", amount=None,
        expected_close_date=dt.date(2000, 1, 1), next_step="",
    )  # fmt: skip
    make_account(
        organization=world.org, home_company=world.se, name="No Reg AB", registration_number=""
    )
    url = reverse("opportunities:data_quality")
    client.force_login(world.manager_se)
    response = client.get(url)
    html = response.content.decode()
    assert (
        incomplete.name in html and "inget belopp" in html and "slutdatum passerat" in html
    )  # sv: no amount, close date passed
    assert "No Reg AB" in html
    client.force_login(world.manager_de)
    assert incomplete.name not in client.get(url).content.decode()
    client.force_login(world.rep_se)
    assert client.get(url).status_code == 403
    client.force_login(world.stranger)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("rows", [5, 40])
def test_data_quality_constant_queries(
    client: Client, world: World, deals: Deals, rows: int, django_assert_max_num_queries: object
) -> None:
    many_opportunities(world, rows)
    client.force_login(world.manager_se)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("opportunities:data_quality"))
    assert len(response.context["opps"].object_list) == rows + 1


def test_inbox_filters_and_counts_per_kind(
    client: Client, world: World, conflict: Conflict, manager_dk: User
) -> None:
    """Issue 17 (the inbox a manager can work): filter by kind, company and own deals, oldest
    first, with the count of each kind under the other filters."""
    url = reverse("opportunities:conflicts")
    client.force_login(world.director)
    everything = client.get(url)
    assert conflict in [w.conflict for w in everything.context["warnings"]]
    counts = {k: n for k, _, n in everything.context["kind_counts"]}
    assert counts[ConflictKind.GROUP_OTHER_COMPANY] >= 1
    assert sum(counts.values()) == everything.context["page"].paginator.count
    # Another kind: the conflict is not listed, the counts stay those of every kind.
    other = client.get(url, {"kind": ConflictKind.AGREEMENT})
    assert conflict not in [w.conflict for w in other.context["warnings"]]
    assert {k: n for k, _, n in other.context["kind_counts"]} == counts
    # A company on either side; one on neither side lists nothing of it.
    by_dk = client.get(url, {"company": world.dk.pk})
    assert conflict in [w.conflict for w in by_dk.context["warnings"]]
    by_de = client.get(url, {"company": world.de.pk})
    assert conflict not in [w.conflict for w in by_de.context["warnings"]]
    # Only my deals: the Danish rep owns one side, the director neither.
    assert client.get(url, {"mine": "on"}).context["warnings"] == []
    client.force_login(world.rep_dk)
    mine = client.get(url, {"mine": "on", "order": "oldest"})
    assert [w.conflict for w in mine.context["warnings"]] == [conflict]
    # A company the user may not pick, or nonsense, filters nothing and is no error.
    client.force_login(manager_dk)
    odd = client.get(url, {"company": world.other_company.pk, "kind": "nonsense"})
    assert odd.status_code == 200
    assert conflict in [w.conflict for w in odd.context["warnings"]]


def test_bulk_acknowledge_asks_first_then_resolves_only_what_is_yours(
    client: Client, world: World, conflict: Conflict, manager_dk: User
) -> None:
    # A situation the Danish manager is no party to (Sweden and Germany only).
    other_top = make_account(organization=world.org, home_company=world.se, name="Kalevala AB")
    other_sub = make_account(
        organization=world.org, home_company=world.de, name="Kalevala GmbH", parent=other_top
    )
    OpportunityFactory(account=other_top, owner=world.rep_se)
    foreign = detect_for_opportunity(
        opportunity=OpportunityFactory(account=other_sub, owner=world.rep_de), acting_user=None
    )[0]
    url = reverse("opportunities:conflicts_acknowledge")
    client.force_login(manager_dk)
    # Someone else's situation is not a choice: nothing happens, the inbox says why.
    response = client.post(url, {"conflicts": [foreign.pk]}, follow=True)
    from django.utils import translation
    from django.utils.translation import gettext

    with translation.override(manager_dk.effective_language):
        refused = gettext("A ticked conflict is not (or no longer) in your inbox.")
    assert refused in response.content.decode()
    foreign.refresh_from_db()
    assert foreign.status == ConflictStatus.OPEN
    # The first POST only asks; nothing is resolved yet.
    response = client.post(url, {"conflicts": [conflict.pk]})
    assert response.status_code == 200 and 'data-testid="confirm-list"' in response.content.decode()
    conflict.refresh_from_db()
    assert conflict.status == ConflictStatus.OPEN
    response = client.post(url, {"conflicts": [conflict.pk], "confirm": "True", "note": "Agreed"})
    assert response.status_code == 302
    conflict.refresh_from_db()
    assert (conflict.status, conflict.resolution, conflict.resolved_by) == (
        ConflictStatus.RESOLVED,
        "acknowledged",
        manager_dk,
    )


def test_inbox_filters_by_group_and_age_and_sorts_by_value(
    client: Client, world: World, conflict: Conflict, manager_dk: User
) -> None:
    url = reverse("opportunities:conflicts")
    client.force_login(manager_dk)
    assert client.get(url, {"group": "Volvera"}).context["warnings"]
    assert not client.get(url, {"group": "Nobody by that name"}).context["warnings"]
    assert not client.get(url, {"age": "overdue"}).context["warnings"]  # found just now
    Conflict.objects.for_org(world.org).filter(pk=conflict.pk).update(
        created_at=conflict.created_at - dt.timedelta(days=world.org.conflict_target_days + 1)
    )
    response = client.get(url, {"age": "overdue", "order": "value", "by_group": "on"})
    assert [w.conflict.pk for w in response.context["warnings"]] == [conflict.pk]
    assert conflict.pk in response.context["overdue_ids"]
    assert 'data-testid="overdue"' in response.content.decode()
