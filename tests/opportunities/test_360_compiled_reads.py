"""The 360°'s reads compiled once per shape (``customer._read``, issue 21): the group and the
account asked for, the page of accounts, the timeline, the team, the plan, the agreements and
the conflicts give the same instances and rows as the ORM path (the same builders, built per
request), for every role, the top and a subsidiary, asked for by id and by instance, every sort,
a country, pages past the end; another organization's user and a missing id get 404; the parts'
statements go out in one round trip; and past ``MAX_STATEMENTS`` the ORM path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.http import Http404
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from crm.scope import org_scope
from opportunities import customer
from tests.conftest import World
from tests.opportunities.test_customer import TODAY, build_group, rates

pytestmark = pytest.mark.django_db

ROLES = ("admin", "director", "regional", "manager_se", "manager_de", "rep_se", "rep_dk")
ROLES += ("rep_de", "marketing", "marketing_se")


def _facts(obj: Model, depth: int = 0) -> dict[str, Any]:
    """Every loaded field of an instance, its annotations and its ``select_related`` instances
    (as loaded), so that two instances compare by what they hold, not by their pk alone."""
    facts: dict[str, Any] = {
        name: value
        for name, value in vars(obj).items()
        if name not in ("_state", "_prefetched_objects_cache")
    }
    facts["_model"] = type(obj).__name__
    facts["_db"] = obj._state.db
    facts["_adding"] = obj._state.adding
    for name, related in obj._state.fields_cache.items():
        facts[f"related:{name}"] = (
            related if related is None or depth > 2 else _facts(related, depth + 1)
        )
    return facts


def _view_facts(view: customer.Account360) -> dict[str, Any]:
    subs = view.subsidiaries
    return {
        "group": _facts(view.group),
        "requested": _facts(view.requested) if view.requested is not None else None,
        "group_visible": view.group_visible,
        "per_country": view.accounts_per_country,
        "subsidiaries": (
            None
            if subs is None
            else (subs.rows, subs.number, subs.count, subs.sort, subs.country, subs.with_value)
        ),
        "fields": None if subs is None or not subs.rows else subs.rows[0]._fields,
        "timeline": (
            None
            if view.timeline is None
            else (
                [_facts(a) for a in view.timeline.items],
                view.timeline.number,
                view.timeline.has_next,
            )
        ),
        "team": [_facts(m) for m in view.team],
        "plan": (
            None
            if view.plan is None
            else (_facts(view.plan.plan), view.plan.won_ytd, view.plan.open_actions)
        ),
        "agreements": [
            (
                _facts(a),
                [_facts(t) for t in a.tiers.all()],
                [_facts(c) for c in a.covered_companies.all()],
            )
            for a in view.agreements
        ],
        "conflicts": [_facts(c) for c in view.open_conflicts],
        "figures": view.figures_by_country,
    }


@pytest.fixture
def orm_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The ORM path: no statement may be kept."""
    monkeypatch.setattr(customer, "MAX_STATEMENTS", 0)
    monkeypatch.setattr(customer, "_STATEMENTS", {})
    yield


def _both(monkeypatch: pytest.MonkeyPatch, user: Any, **kw: Any) -> tuple[Any, Any]:
    """(compiled, ORM) facts of the same 360°, or the exception type each raised."""

    def run() -> Any:
        try:
            with org_scope(user.organization_id):
                return _view_facts(customer.account_360(user=user, today=TODAY, **kw))
        except Http404 as error:
            return type(error)

    compiled = run()
    with monkeypatch.context() as patch:
        patch.setattr(customer, "MAX_STATEMENTS", 0)
        patch.setattr(customer, "_STATEMENTS", {})
        orm = run()
    return compiled, orm


def test_every_read_equals_the_orm_paths(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    rates(world)
    top = build_group(world, 6)
    subsidiary = Account.objects.for_org(world.org).filter(parent=top).order_by("pk").last()
    assert subsidiary is not None
    seen = 0
    for role in ROLES:
        user = getattr(world, role)
        for group in (top.pk, top, subsidiary.pk, subsidiary):
            compiled, orm = _both(monkeypatch, user, group=group, subsidiaries_with_contacts=True)
            assert compiled == orm, (role, group)
            seen += isinstance(compiled, dict)
    # Enough of them saw the group to make the comparison mean something: the org-wide roles,
    # the Swedish and Danish managers and reps (home companies, team members), the regional one.
    assert seen >= 24
    with org_scope(world.org):
        view = customer.account_360(user=world.director, group=top, today=TODAY)
    assert view.plan is not None and view.plan.overdue_actions == 1
    assert view.agreements and list(view.agreements[0].tiers.all())
    assert len(view.open_conflicts) == 1 and view.open_conflicts[0].sales_company is not None
    assert view.team and view.timeline is not None and view.timeline.items


@pytest.mark.parametrize("sort", ["value", "name", "-name", "country", "nonsense"])
def test_the_pages_of_accounts_equal_the_orm_paths(
    world: World, monkeypatch: pytest.MonkeyPatch, sort: str
) -> None:
    rates(world)
    top = build_group(world, 9)
    for role in ("director", "manager_se", "rep_dk", "marketing"):
        user = getattr(world, role)
        for country in (None, "SE", "DK", "XX"):
            for page in (1, 2, 3, 99, "x"):
                compiled, orm = _both(
                    monkeypatch,
                    user,
                    group=top.pk,
                    sections=frozenset({"accounts"}),
                    subsidiaries_page=page,
                    subsidiaries_per_page=3,
                    subsidiaries_sort=sort,
                    subsidiaries_country=country,
                )
                assert compiled == orm, (role, country, page)
    # The timeline's pages too (the page number is in the statement's shape).
    for page in (1, 2, 3):
        compiled, orm = _both(
            monkeypatch,
            world.director,
            group=top.pk,
            sections=frozenset({"timeline"}),
            activity_page=page,
            activity_limit=2,
        )
        assert compiled == orm
        assert compiled["timeline"][0] or page == 3


def test_other_organizations_and_missing_ids_are_404(world: World) -> None:
    rates(world)
    top = build_group(world, 3)
    theirs = Account.objects.for_org(world.other_org).create(
        organization=world.other_org, name="Theirs", home_company=world.other_company
    )
    with org_scope(world.org):
        assert customer.account_360(user=world.director, group=top.pk, today=TODAY).group == top
        for pk in (theirs.pk, 10**9):
            with pytest.raises(Http404):
                customer.account_360(user=world.director, group=pk, today=TODAY)
    # From the other organization, our group is not found (whatever statement its user runs).
    with org_scope(world.other_org), pytest.raises(Http404):
        customer.account_360(user=world.stranger, group=top.pk, today=TODAY)


def test_the_parts_go_out_in_one_round_trip(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    rates(world)
    top = build_group(world, 4)
    pipelines = []
    real = type(connection.connection).pipeline if connection.connection else None
    with org_scope(world.org):
        customer.account_360(user=world.director, group=top.pk, today=TODAY)  # compile
        connection.ensure_connection()
        real = type(connection.connection).pipeline

        def counted(self: Any, *args: Any, **kw: Any) -> Any:
            pipelines.append(1)
            return real(self, *args, **kw)

        monkeypatch.setattr(type(connection.connection), "pipeline", counted)
        with CaptureQueriesContext(connection) as ctx:
            customer.account_360(user=world.director, group=top.pk, today=TODAY)
    assert len(pipelines) == 1
    # The query count is the same as ever: the pair, then the counts, the page, the figures,
    # the timeline, the team, the plan, the agreements + tiers + companies, the conflicts.
    assert len(ctx.captured_queries) == 11


def test_past_the_bound_the_orm_path(world: World, orm_path: None) -> None:
    rates(world)
    top = build_group(world, 3)
    with org_scope(world.org):
        view = customer.account_360(user=world.director, group=top.pk, today=TODAY)
    assert customer._STATEMENTS == {}
    assert view.group == top and view.team and view.subsidiaries is not None
    assert len(view.subsidiaries.rows) == 4


def test_an_inactive_user_sees_nothing(world: World) -> None:
    top = build_group(world, 3)
    world.rep_se.is_active = False
    with org_scope(world.org), pytest.raises(Http404):
        customer.account_360(user=world.rep_se, group=top.pk, today=TODAY)
