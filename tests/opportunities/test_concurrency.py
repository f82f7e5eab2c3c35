"""Fifty people save the same opportunity from the same stale copy at once: exactly one wins,
the other 49 are refused (409 through the API), nothing is silently overwritten. Threads, each
with its own database connection, against the real PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from opportunities.models import Opportunity, OpportunitySplit, StageChange
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, stage_for

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 50


def _run_together(work: list) -> list:
    barrier = threading.Barrier(len(work))
    results: list = [None] * len(work)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work[i]()
        finally:
            connection.close()  # each thread has its own connection; give it back

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_fifty_stale_updates_one_wins_and_49_get_409(world: World) -> None:
    opp = OpportunityFactory(
        account=make_account(organization=world.org, home_company=world.se), owner=world.rep_se
    )

    def save(i: int):
        def call() -> tuple[int, int]:
            client = APIClient()
            client.force_authenticate(world.rep_se)
            response = client.patch(
                f"/api/v1/opportunities/{opp.pk}/",
                {"version": 1, "next_step": f"step from writer {i}"},
                format="json",
            )
            return response.status_code, i

        return call

    results = _run_together([save(i) for i in range(WRITERS)])
    codes = Counter(code for code, _ in results)
    assert codes == {200: 1, 409: WRITERS - 1}, codes
    (winner,) = [i for code, i in results if code == 200]
    saved = Opportunity.objects.for_org(world.org).get(pk=opp.pk)
    assert (saved.version, saved.next_step) == (2, f"step from writer {winner}")


def test_concurrent_stage_moves_and_split_edits_stay_atomic(world: World) -> None:
    opp = OpportunityFactory(
        account=make_account(organization=world.org, home_company=world.se), owner=world.rep_se
    )
    develop = stage_for(world.se, "Develop")

    def move():
        client = APIClient()
        client.force_authenticate(world.rep_se)
        return client.post(
            f"/api/v1/opportunities/{opp.pk}/move-stage/",
            {"local_stage": develop.pk, "version": 1},
            format="json",
        ).status_code

    def split(pct: int):
        def call():
            client = APIClient()
            client.force_authenticate(world.rep_se)
            return client.put(
                f"/api/v1/opportunities/{opp.pk}/splits/",
                {
                    "version": 1,
                    "splits": [
                        {"user": world.rep_se.pk, "kind": "revenue", "percent": str(pct)},
                        {"user": world.manager_se.pk, "kind": "revenue", "percent": str(100 - pct)},
                    ],
                },
                format="json",
            ).status_code

        return call

    results = _run_together([move] * 10 + [split(p) for p in range(10, 90, 8)])
    # Splits carry the opportunity's version like a stage move: of twenty writers who read
    # version 1, exactly one changes the opportunity; the others get 409.
    assert Counter(results) == {200: 1, 409: 19}, results
    moved = results[:10].count(200)
    # A stage change only if the move won; the splits are one complete set, summing to 100.
    changes = StageChange.objects.for_org(world.org).filter(opportunity=opp, to_local_stage=develop)
    assert changes.count() == moved
    splits = OpportunitySplit.objects.for_org(world.org).filter(opportunity=opp, kind="revenue")
    assert splits.count() == (1 if moved else 2)
    assert sum(s.percent for s in splits) == 100
    assert Opportunity.objects.for_org(world.org).get(pk=opp.pk).version == 2


def test_twenty_split_replacements_with_one_version_one_wins(world: World) -> None:
    opp = OpportunityFactory(
        account=make_account(organization=world.org, home_company=world.se), owner=world.rep_se
    )

    def split(pct: int):
        def call() -> tuple[int, int, dict]:
            client = APIClient()
            client.force_authenticate(world.rep_se)
            response = client.put(
                f"/api/v1/opportunities/{opp.pk}/splits/",
                {
                    "version": 1,
                    "splits": [
                        {"user": world.rep_se.pk, "kind": "revenue", "percent": str(pct)},
                        {"user": world.manager_se.pk, "kind": "revenue", "percent": str(100 - pct)},
                    ],
                },
                format="json",
            )
            return response.status_code, pct, response.json()

        return call

    results = _run_together([split(p) for p in range(10, 90, 4)])
    assert len(results) == 20
    codes = Counter(code for code, _, _ in results)
    assert codes == {200: 1, 409: 19}, codes
    (winner,) = [pct for code, pct, _ in results if code == 200]
    assert all(body["current_version"] == 2 for code, _, body in results if code == 409)
    saved = OpportunitySplit.objects.for_org(world.org).filter(opportunity=opp, user=world.rep_se)
    assert [s.percent for s in saved] == [winner]
    assert Opportunity.objects.for_org(world.org).get(pk=opp.pk).version == 2
