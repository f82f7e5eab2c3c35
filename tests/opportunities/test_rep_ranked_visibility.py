"""A rep's pages rank each visibility source's first rows before the join (crm.db.sources,
issue 21): the same rows in the same order as the plain OR of the sources, for every slice,
ordering and filter a page or the API asks for."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AccountTeamMember, TeamRole
from opportunities.forms import SORTS
from opportunities.models import Opportunity
from opportunities.policies import opportunity_q
from opportunities.selectors import open_q
from tests.accounts.factories import AccountFactory
from tests.conftest import World
from tests.opportunities.factories import (
    OpportunityFactory,
    OpportunityGrantFactory,
    OpportunitySplitFactory,
    account_for,
)

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def reps_world(world: World) -> World:
    """rep_se owns deals, holds splits on colleagues' and other companies' deals, is on the
    team of a Danish group (deals on its top and subsidiaries, booked in DK), and has a grant;
    deals of the same companies the rep does not see sit between them. Creation times collide
    (ties broken by id) and amounts and close dates repeat."""
    rep, colleague, dane = world.rep_se, world.manager_se, world.rep_dk
    top = AccountFactory(organization=world.org, home_company=world.dk, country="DK")
    subs = [
        AccountFactory(organization=world.org, home_company=world.dk, parent=top, country="DK")
        for _ in range(3)
    ]
    AccountTeamMember.objects.create(
        organization=world.org,
        account=top,
        user=rep,
        sales_company=world.se,
        role=TeamRole.KEY_ACCOUNT_MANAGER,
    )
    other_group = AccountFactory(organization=world.org, home_company=world.dk, country="DK")
    se_account, dk_account = account_for(world.se), account_for(world.dk)
    made: list[Opportunity] = []

    def deal(account: Any, owner: Any, i: int, **kw: Any) -> Opportunity:
        o = OpportunityFactory(
            account=account,
            owner=owner,
            amount=kw.pop("amount", 1000 * (i % 4)),
            expected_close_date=dt.date(2026, 1 + i % 6, 1),
            **kw,
        )
        made.append(o)
        return o

    for i in range(9):
        deal(se_account, rep, i, stage="Won" if i % 4 == 3 else "Qualify")
        deal(se_account, colleague, i)
        deal(subs[i % 3], dane, i, stage="Negotiate" if i % 2 else "Qualify")
        deal(other_group, dane, i)
    for i in range(4):
        OpportunitySplitFactory(opportunity=deal(dk_account, dane, i), user=rep)
    OpportunitySplitFactory(opportunity=deal(top, dane, 1), user=rep)  # team and split
    OpportunityGrantFactory(content_object=deal(dk_account, dane, 2), user=rep)
    # Creation times with ties (three deals per minute), not in id order.
    for n, o in enumerate(made):
        Opportunity.objects.for_org(world.org).filter(pk=o.pk).update(
            created_at=T0 + dt.timedelta(minutes=(n * 7) % 23 // 3)
        )
    return world


def _plain(world: World, *filters: Q) -> Any:
    """The rep's deals through the plain OR of the sources (the policy before)."""
    q = opportunity_q(world.rep_se)
    assert q is not None
    qs = Opportunity.objects.for_org(world.org).filter(q)
    for f in filters:
        qs = qs.filter(f)
    return qs


def _ranked(world: World, *filters: Q) -> Any:
    qs = Opportunity.objects.visible_to(world.rep_se).select_related("account", "global_stage")
    for f in filters:
        qs = qs.filter(f)
    return qs


def ids(qs: Any) -> list[int]:
    return [o.pk for o in qs]


@pytest.mark.parametrize("sort", sorted(SORTS))
def test_every_page_of_every_order_is_the_plain_ors(reps_world: World, sort: str) -> None:
    ordering = SORTS[sort]
    everything = ids(_plain(reps_world).order_by(*ordering))
    assert len(everything) == 24  # owned, split, team and shared deals
    assert len(set(everything)) == len(everything)
    for start, stop in [(0, 1), (0, 5), (3, 8), (10, 21), (0, 200), (len(everything) - 2, 999)]:
        assert (
            ids(_ranked(reps_world).order_by(*ordering)[start:stop]) == (everything[start:stop])
        ), (sort, start, stop)


def test_filters_of_the_page_apply_inside_each_source(reps_world: World) -> None:
    """A filter of the page (open deals, a company, a close quarter, an amount, a search on
    the account's name) narrows each source before its first rows are taken: otherwise rows
    of the filter that rank after k other rows of a source would be lost."""
    world = reps_world
    filters = [
        [open_q()],
        [~open_q()],
        [Q(sales_company=world.dk)],
        [Q(expected_close_date__gte=dt.date(2026, 3, 1)), Q(amount__gt=1000)],
        [Q(account__name__icontains="a"), open_q()],
        [Q(created_at__lt=T0 + dt.timedelta(minutes=4))],
    ]
    for f in filters:
        expected = ids(_plain(world, *f).order_by("-created_at", "-id"))
        assert expected, f
        for stop in (1, 3, 7, 100):
            assert (
                ids(_ranked(world, *f).order_by("-created_at", "-id")[:stop]) == (expected[:stop])
            ), (f, stop)


def test_a_capped_count_counts_what_the_or_counts(reps_world: World) -> None:
    total = _plain(reps_world).count()
    for cap in (1, 5, total - 1, total, total + 1, 1001):
        assert _ranked(reps_world).order_by()[:cap].count() == min(cap, total)
    assert _ranked(reps_world).count() == total  # unsliced: the plain OR


def test_the_page_ranks_per_source_and_the_detail_stays_a_plain_condition(
    reps_world: World,
) -> None:
    """The rewrite is taken where it pays (an ordered slice) and only there: an unsliced read
    (a filter by id, a count, the CSV's iteration) and the page's capped count keep the plain
    OR (unordered, no source can stop early)."""
    with CaptureQueriesContext(connection) as ctx:
        list(_ranked(reps_world).order_by("-created_at", "-id")[:25])
        list(_ranked(reps_world).filter(pk=1))
        _ranked(reps_world).count()
        _ranked(reps_world).order_by()[:1001].count()
    page, lookup, count, capped = (q["sql"] for q in ctx.captured_queries)
    assert "CROSS JOIN LATERAL" in page and " UNION " in page
    for plain in (lookup, count, capped):
        assert "LATERAL" not in plain and "UNION" not in plain


def test_others_deals_stay_out_and_a_stranger_sees_none(reps_world: World) -> None:
    world = reps_world
    page = set(ids(_ranked(world).order_by("-created_at", "-id")[:1000]))
    assert page == set(_plain(world).values_list("id", flat=True))
    invisible = Opportunity.objects.for_org(world.org).exclude(pk__in=page)
    assert invisible.exists()  # the colleague's and the other group's deals
    stranger = Opportunity.objects.visible_to(world.stranger).order_by("-created_at", "-id")
    assert list(stranger[:50]) == []


def test_a_new_deal_on_the_team_group_heads_the_page(reps_world: World) -> None:
    world = reps_world
    sub = AccountFactory(
        organization=world.org,
        home_company=world.dk,
        parent=AccountTeamMember.objects.for_org(world.org).get(user=world.rep_se).account,
        country="DK",
    )
    newest = OpportunityFactory(account=sub, owner=world.rep_dk)
    Opportunity.objects.for_org(world.org).filter(pk=newest.pk).update(created_at=timezone.now())
    assert ids(_ranked(world).order_by("-created_at", "-id")[:1]) == [newest.pk]
