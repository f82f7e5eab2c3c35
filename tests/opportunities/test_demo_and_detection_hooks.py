"""The services call conflict detection exactly when they should; the demo is complete."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count, F

from crm.models import Organization
from opportunities.models import Conflict, ConflictKind, Opportunity, StageChange
from opportunities.services import (
    opportunity_create,
    opportunity_set_lines,
    opportunity_update,
)
from pipeline.models import GlobalStage, LocalStage
from tests.conftest import World
from tests.opportunities.factories import ProductFactory, account_for, process_for

pytestmark = pytest.mark.django_db


def test_detection_runs_on_create_and_on_account_or_product_changes(
    world: World, monkeypatch
) -> None:
    import opportunities.services

    calls: list[int] = []
    monkeypatch.setattr(
        opportunities.services,
        "check_deal",
        lambda *, opportunity, **kw: calls.append(opportunity.pk) or [],
    )
    process_for(world.se)
    a, b = account_for(world.se), account_for(world.se)
    p1 = ProductFactory(organization=world.org, currency="SEK")
    p2 = ProductFactory(organization=world.org, currency="SEK")
    opp = opportunity_create(acting_user=world.rep_se, account=a, name="D")
    assert calls == [opp.pk]
    opp = opportunity_update(
        opportunity=opp, acting_user=world.rep_se, expected_version=1, name="E"
    )
    assert len(calls) == 1  # a rename changes nothing a conflict depends on
    opp = opportunity_update(
        opportunity=opp, acting_user=world.rep_se, expected_version=2, account=b
    )
    assert len(calls) == 2
    line = {"product": p1, "quantity": 1}
    opp = opportunity_set_lines(opportunity=opp, acting_user=world.rep_se, lines=[line])
    assert len(calls) == 3
    opp = opportunity_set_lines(
        opportunity=opp, acting_user=world.rep_se, lines=[{**line, "quantity": 5}]
    )
    assert len(calls) == 3  # same products, other quantity
    opportunity_set_lines(
        opportunity=opp, acting_user=world.rep_se, lines=[{**line, "product": p2}]
    )
    assert len(calls) == 4


def test_demo_has_every_stage_currency_history_and_conflict_kind() -> None:
    call_command("seed_demo", stdout=StringIO())
    org = Organization.objects.get(slug="nordvik")
    opps = Opportunity.objects.for_org(org)
    stages = set(GlobalStage.objects.for_org(org).values_list("name", flat=True))
    assert set(opps.values_list("global_stage__name", flat=True)) == stages
    assert {"SEK", "DKK", "NOK", "EUR", "GBP", "USD", "CNY"} <= set(
        opps.values_list("currency", flat=True)
    )
    assert not opps.exclude(global_stage_id=F("local_stage__global_stage_id")).exists()
    se_names = LocalStage.objects.for_org(org).filter(process__sales_company__code="SE")
    assert "Förhandla" in set(se_names.values_list("name", flat=True))
    de_names = LocalStage.objects.for_org(org).filter(process__sales_company__code="DE")
    assert "Verhandlung" in set(de_names.values_list("name", flat=True))
    # Every deal has its history, the closed ones ending in their closing stage.
    history = (
        StageChange.objects.for_org(org).values("opportunity").annotate(n=Count("id")).order_by()
    )
    assert len(history) == opps.count()
    assert not opps.filter(global_stage__is_won=True, closed_at__isnull=True).exists()
    assert not opps.filter(global_stage__is_lost=True, lost_reason="").exists()
    kinds = set(Conflict.objects.for_org(org).values_list("kind", flat=True))
    # Every kind but the acknowledgement, which the demo organization does not ask for.
    assert kinds == set(ConflictKind.values) - {ConflictKind.TEAM_ACK}
    before = opps.count(), StageChange.objects.for_org(org).count()
    call_command("seed_demo", stdout=StringIO())
    assert (opps.count(), StageChange.objects.for_org(org).count()) == before
