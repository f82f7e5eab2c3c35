"""The list page's rows and capped count as compiled statements (opportunities.list_query,
issue 21): the same rows, in the same order, and the same count as the ORM path
(``forms.list_queryset``) for every role, filter, sort and page; one statement per shape, the
user's and the filters' values bound; another organization's rows never reached."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.db.compiled import statement_sql
from crm.models import User
from crm.pagination import CappedPaginator
from crm.scope import OrganizationScopeError, org_scope
from opportunities import list_query
from opportunities.forms import SORTS, list_queryset
from opportunities.models import Opportunity
from opportunities.rows import ROW_FIELDS
from pipeline.models import GlobalStage
from tests.conftest import World
from tests.opportunities.factories import (
    OpportunityFactory,
    OpportunityLineFactory,
    account_for,
)
from tests.opportunities.test_rep_ranked_visibility import reps_world  # noqa: F401

pytestmark = pytest.mark.django_db

ROLES = ("admin", "director", "regional", "manager_se", "manager_de", "rep_se", "rep_dk")
ROLES += ("marketing", "marketing_se")


def _orm_rows(user: User, filters: dict[str, Any], start: int, stop: int) -> list[Any]:
    qs = list_queryset(user, **filters)
    return list(qs.values_list(*ROW_FIELDS, named=True)[start:stop])


def _orm_count(user: User, filters: dict[str, Any], cap: int) -> int:
    return list_queryset(user, **filters).order_by()[: cap + 1].count()


def _compiled(user: User, filters: dict[str, Any], size: int) -> list_query.CompiledRows:
    shape = list_query._shape(user, filters)
    assert shape is not None, filters
    return list_query.CompiledRows(user, filters, shape, size)


def _filter_sets(world: World) -> list[dict[str, Any]]:
    stage = GlobalStage.objects.for_org(world.org).get(name="Qualify").pk
    product = Opportunity.objects.for_org(world.org).filter(lines__isnull=False).first()
    assert product is not None
    product_id = product.lines.for_org(world.org).get().product_id
    return [
        {},
        {"is_open": True},
        {"is_open": False},
        {"is_open": None},
        {"sales_company": world.se.pk, "is_open": True},
        {"sales_company": world.dk.pk, "is_open": None},
        {"region": world.nordics.pk, "is_open": None},
        {"owner": world.rep_se.pk, "is_open": None},
        {"owner": world.rep_dk.pk, "global_stage": stage},
        {"global_stage": stage, "is_open": None},
        {"product": product_id, "is_open": None},
        {"closing_from": dt.date(2026, 1, 1), "closing_to": dt.date(2026, 3, 31)},
        {"closing_from": dt.date(2026, 4, 1), "closing_to": dt.date(2026, 6, 30), "is_open": None},
        {"sales_company": world.other_company.pk},  # another organization's company: nothing
    ]


@pytest.fixture(autouse=True)
def _fresh_statements(monkeypatch: pytest.MonkeyPatch) -> None:
    # The comparisons below make hundreds of shapes; each test starts below the process's bound.
    monkeypatch.setattr(list_query, "_statements", {})


@pytest.fixture
def listed(reps_world: World) -> World:  # noqa: F811
    """The ranked-visibility world, a product line on one deal, and deals of the other
    organization (its rep owns them)."""
    world = reps_world
    OpportunityLineFactory(opportunity=Opportunity.objects.for_org(world.org).first())
    for _ in range(3):
        OpportunityFactory(account=account_for(world.other_company), owner=world.stranger)
    return world


@pytest.mark.parametrize("sort", sorted(SORTS))
def test_every_page_and_count_equal_the_orm_paths(listed: World, sort: str) -> None:
    world = listed
    for role in ROLES:
        user = getattr(world, role)
        for base in _filter_sets(world):
            filters = {**base, "sort": sort}
            rows = _compiled(user, filters, 5)
            total = _orm_count(user, filters, 1000)
            for cap in (3, 1000):
                assert rows.count(cap) == _orm_count(user, filters, cap), (role, filters, cap)
            for start in range(0, total + 5, 5):
                # Full pages, and the last page cut at the count as Paginator cuts it.
                for stop in {start + 5, min(start + 5, total)}:
                    if stop < start:
                        continue
                    got = rows[start:stop]
                    assert got == _orm_rows(user, filters, start, stop), (role, filters, start)
                    assert [r.account__name for r in got] == [
                        r.account__name for r in _orm_rows(user, filters, start, stop)
                    ]


def test_the_rep_sees_splits_teams_and_grants_and_nothing_of_the_other_org(listed: World) -> None:
    world = listed
    rows = _compiled(world.rep_se, {"is_open": None}, 50)
    ids = [r.id for r in rows[0:50]]
    assert len(ids) == 24 and rows.count() == 24  # owned, split, team and shared deals
    theirs = set(Opportunity.objects.for_org(world.other_org).values_list("pk", flat=True))
    assert theirs and not theirs & set(ids)
    stranger = _compiled(world.stranger, {"is_open": None}, 50)
    assert {r.id for r in stranger[0:50]} == theirs
    assert stranger.count() == 3


def test_one_statement_per_shape_the_values_bound(listed: World) -> None:
    world = listed
    a = list_query._shape(world.rep_se, {"is_open": True, "sort": "newest"})
    b = list_query._shape(world.rep_dk, {"is_open": True, "sort": "newest"})
    c = list_query._shape(world.stranger, {"is_open": True, "sort": "newest"})
    assert a == b == c
    assert list_query._shape(world.manager_se, {"is_open": True}) != a
    assert list_query._shape(world.rep_se, {"is_open": None}) != a
    assert list_query._shape(world.rep_se, {"owner": world.rep_se.pk}) != list_query._shape(
        world.rep_se, {}
    )
    # A search's LIKE pattern cannot be bound: the ORM path.
    assert list_query._shape(world.rep_se, {"search": "pump"}) is None
    assert list_query._shape(world.rep_se, {"search": "  "}) is not None
    world.rep_se.is_active = False
    assert list_query._shape(world.rep_se, {}) is None


def test_the_organization_in_scope_must_be_the_users(listed: World) -> None:
    world = listed
    rows = _compiled(world.stranger, {}, 5)
    with org_scope(world.org), pytest.raises(OrganizationScopeError):
        rows.count()


def test_two_organizations_taking_turns_on_one_connection(listed: World) -> None:
    """One process, one connection, the same prepared statements: each user gets only their
    own organization's rows, turn after turn."""
    world = listed
    client = Client()
    url = reverse("opportunities:list") + "?status=all"
    mine = {
        world.rep_se.pk: _orm_rows(world.rep_se, {"is_open": None}, 0, 50),
        world.stranger.pk: _orm_rows(world.stranger, {"is_open": None}, 0, 50),
    }
    assert len(mine[world.rep_se.pk]) == 24 and len(mine[world.stranger.pk]) == 3
    for user in (world.rep_se, world.stranger, world.rep_se, world.stranger):
        client.force_login(user)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        page = response.context["page"]
        assert list(page.object_list) == mine[user.pk]
        assert page.paginator.count == len(mine[user.pk])
        # (A statement may carry a prefix of its own, pghistory's context.)
        executed = [
            q["sql"][q["sql"].index("EXECUTE cq_") :]
            for q in queries.captured_queries
            if "EXECUTE cq_" in q["sql"]
        ]
        # The page's rows and its count ran as compiled statements.
        assert len(executed) >= 2
        assert any("COUNT(*)" in statement_sql(sql) for sql in executed)
        other = world.other_org if user.organization_id == world.org.pk else world.org
        html = response.content.decode()
        for pk in Opportunity.objects.for_org(other).values_list("pk", flat=True):
            assert f'href="{reverse("opportunities:detail", args=[pk])}"' not in html
        for row in page.object_list:
            assert f'href="{reverse("opportunities:detail", args=[row.id])}"' in html


def test_the_page_with_a_search_takes_the_orm_path_and_finds_the_same(listed: World) -> None:
    world = listed
    deal = Opportunity.objects.visible_to(world.rep_se).first()
    assert deal is not None
    client = Client()
    client.force_login(world.rep_se)
    response = client.get(reverse("opportunities:list"), {"q": deal.name, "status": "all"})
    ids = [r.id for r in response.context["page"].object_list]
    assert deal.pk in ids
    assert ids == [
        r.id for r in _orm_rows(world.rep_se, {"search": deal.name, "is_open": None}, 0, 50)
    ]


def test_a_cap_below_the_count_says_more_than_the_cap(
    listed: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = listed
    client = Client()
    client.force_login(world.rep_se)
    monkeypatch.setattr(CappedPaginator, "cap", 10)
    page = client.get(reverse("opportunities:list"), {"status": "all"}).context["page"]
    assert page.paginator.count == 11 and page.paginator.capped


def test_past_the_bound_of_shapes_the_orm_path(
    listed: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = listed
    monkeypatch.setattr(list_query, "_statements", {})
    monkeypatch.setattr(list_query, "MAX_SHAPES", 0)
    rows = _compiled(world.rep_se, {"is_open": None}, 5)
    assert rows.count() == 24
    assert rows[5:10] == _orm_rows(world.rep_se, {"is_open": None}, 5, 10)
    assert list_query._statements == {}
