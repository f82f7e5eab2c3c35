"""Global stages, local processes and the mapping invariant (global_stage == mapping)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.http import Http404

from opportunities.models import Opportunity
from opportunities.services import (
    local_stage_remap,
    opportunity_create,
    opportunity_move_stage,
    opportunity_set_lines,
    opportunity_update,
)
from pipeline.models import GlobalStage, LocalStage
from pipeline.services import (
    global_stages_ensure_default,
    sales_process_create,
)
from tests.conftest import World
from tests.opportunities.factories import ProductFactory, account_for, stage_for

pytestmark = pytest.mark.django_db


def _globals(world: World) -> dict[str, GlobalStage]:
    return {gs.name: gs for gs in global_stages_ensure_default(organization=world.org)}


def _swedish(g: dict[str, GlobalStage]) -> list[tuple[str, int, GlobalStage]]:
    return [
        ("Kvalificera", 10, g["Qualify"]),
        ("Utveckla", 20, g["Develop"]),
        ("Offerera", 30, g["Propose"]),
        ("Förhandla", 40, g["Negotiate"]),
        ("Vunnen", 50, g["Won"]),
        ("Förlorad", 60, g["Lost"]),
    ]


def _stages(process):
    return LocalStage.objects.for_org(process.organization_id).filter(process=process)


def _stage(process, name: str) -> LocalStage:
    return _stages(process).get(name=name)


def _mismatches(org_id: int) -> int:
    return (
        Opportunity.objects.for_org(org_id)
        .exclude(global_stage_id=F("local_stage__global_stage_id"))
        .count()
    )


def test_default_global_stages_and_idempotence(world: World) -> None:
    first = global_stages_ensure_default(organization=world.org)
    again = global_stages_ensure_default(organization=world.org)
    assert [g.pk for g in first] == [g.pk for g in again]
    assert [(g.name, g.probability, g.forecast_category, g.is_won, g.is_lost) for g in first] == [
        ("Qualify", 10, "pipeline", False, False),
        ("Develop", 25, "pipeline", False, False),
        ("Propose", 50, "best_case", False, False),
        ("Negotiate", 75, "commit", False, False),
        ("Won", 100, "closed", True, False),
        ("Lost", 0, "closed", False, True),
    ]
    # Each organization has its own set.
    global_stages_ensure_default(organization=world.other_org)
    assert GlobalStage.objects.for_org(world.other_org).count() == 6


def test_only_the_global_admin_configures(world: World) -> None:
    for user in (world.director, world.manager_se, world.rep_se, world.marketing):
        with pytest.raises(PermissionDenied):
            global_stages_ensure_default(organization=world.org, acting_user=user)
    g = _globals(world)
    for user in (world.director, world.regional, world.manager_se):
        with pytest.raises(PermissionDenied):
            sales_process_create(
                sales_company=world.se, name="x", stages=_swedish(g), acting_user=user
            )
    # Another organization's company answers like a missing one, not "not allowed".
    with pytest.raises(Http404):
        sales_process_create(
            sales_company=world.se, name="x", stages=_swedish(g), acting_user=world.stranger
        )
    process = sales_process_create(
        sales_company=world.se, name="Säljprocess", stages=_swedish(g), acting_user=world.admin
    )
    with pytest.raises(PermissionDenied):
        local_stage_remap(
            local_stage=_stage(process, "Utveckla"),
            global_stage=g["Qualify"],
            acting_user=world.manager_se,
        )


def test_local_process_with_several_local_stages_per_global_stage(world: World) -> None:
    g = _globals(world)
    stages = [*_swedish(g), ("Förhandla 2", 70, g["Negotiate"])]
    # 'Förhandla 2' after 'Vunnen' (order 70 > 50) while mapped to an earlier global stage.
    with pytest.raises(ValidationError, match="Förhandla 2"):
        sales_process_create(sales_company=world.se, name="SE", stages=stages, acting_user=None)
    stages = [*_swedish(g), ("Förhandla 2", 40, g["Negotiate"])]
    with pytest.raises(ValidationError, match="same order"):
        sales_process_create(sales_company=world.se, name="SE", stages=stages, acting_user=None)
    stages = [("Ny", 1, g["Qualify"]), ("Kvalificerad", 5, g["Qualify"]), *_swedish(g)[1:]]
    process = sales_process_create(
        sales_company=world.se, name="SE", stages=stages, acting_user=None
    )
    assert list(_stages(process).values_list("name", "global_stage__name")) == [
        ("Ny", "Qualify"),
        ("Kvalificerad", "Qualify"),
        ("Utveckla", "Develop"),
        ("Offerera", "Propose"),
        ("Förhandla", "Negotiate"),
        ("Vunnen", "Won"),
        ("Förlorad", "Lost"),
    ]
    with pytest.raises(ValidationError, match="already has"):
        sales_process_create(
            sales_company=world.se, name="again", stages=_swedish(g), acting_user=None
        )


@pytest.mark.parametrize("missing", ["Won", "Lost"])
def test_won_and_lost_must_be_mapped(world: World, missing: str) -> None:
    g = _globals(world)
    stages = [s for s in _swedish(g) if s[2].name != missing]
    with pytest.raises(ValidationError, match=f"{missing.lower()} global stage"):
        sales_process_create(sales_company=world.se, name="SE", stages=stages, acting_user=None)
    assert not LocalStage.objects.for_org(world.org).exists()


def test_a_process_cannot_use_another_organizations_stages(world: World) -> None:
    other = {gs.name: gs for gs in global_stages_ensure_default(organization=world.other_org)}
    from django.http import Http404

    with pytest.raises(Http404):
        sales_process_create(
            sales_company=world.se, name="SE", stages=_swedish(other), acting_user=None
        )


def test_remap_moves_every_opportunity_in_one_update(
    world: World, django_assert_num_queries
) -> None:
    g = _globals(world)
    process = sales_process_create(
        sales_company=world.se, name="SE", stages=_swedish(g), acting_user=None
    )
    kval = _stage(process, "Kvalificera")
    utv = _stage(process, "Utveckla")
    account = account_for(world.se)
    opps = [
        opportunity_create(acting_user=world.rep_se, account=account, name=f"Deal {i}")
        for i in range(5)
    ]
    other = opportunity_create(
        acting_user=world.rep_se, account=account, name="Elsewhere", local_stage=utv
    )
    assert {o.global_stage_id for o in opps} == {g["Qualify"].pk}
    # Lock + siblings + exists + update of the stage + ONE update of the opportunities.
    with django_assert_num_queries(7) as ctx:
        moved = local_stage_remap(local_stage=kval, global_stage=g["Develop"], acting_user=None)
    assert moved == 5
    updates = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE")]
    assert len([u for u in updates if "opportunities_opportunity" in u]) == 1
    for o in opps:
        o.refresh_from_db()
        assert o.global_stage_id == g["Develop"].pk
    other.refresh_from_db()
    assert other.global_stage_id == g["Develop"].pk  # untouched: it was there already
    assert _mismatches(world.org.pk) == 0


def test_remap_keeps_the_process_consistent(world: World) -> None:
    g = _globals(world)
    process = sales_process_create(
        sales_company=world.se, name="SE", stages=_swedish(g), acting_user=None
    )
    # Kvalificera (order 1) onto Propose would put it after Utveckla (Develop, order 2).
    with pytest.raises(ValidationError, match="earlier"):
        local_stage_remap(
            local_stage=_stage(process, "Kvalificera"),
            global_stage=g["Propose"],
            acting_user=None,
        )
    # Removing the only won mapping is refused.
    with pytest.raises(ValidationError, match="won"):
        local_stage_remap(
            local_stage=_stage(process, "Vunnen"), global_stage=g["Lost"], acting_user=None
        )
    assert _stage(process, "Kvalificera").global_stage == g["Qualify"]


def test_remap_cannot_close_deals_behind_the_sellers_back(world: World) -> None:
    g = _globals(world)
    stages = [
        *_swedish(g)[:4],
        ("Muntligt ja", 45, g["Negotiate"]),
        *[(n, o, s) for n, o, s in _swedish(g)[4:]],
    ]
    process = sales_process_create(
        sales_company=world.se, name="SE", stages=stages, acting_user=None
    )
    ja = _stage(process, "Muntligt ja")
    # Empty stage: mapping it to Won is a configuration choice and allowed.
    assert local_stage_remap(local_stage=ja, global_stage=g["Won"], acting_user=None) == 0
    local_stage_remap(local_stage=ja, global_stage=g["Negotiate"], acting_user=None)
    opportunity_create(
        acting_user=world.rep_se, account=account_for(world.se), name="D", local_stage=ja
    )
    with pytest.raises(ValidationError, match="Move the opportunities first"):
        local_stage_remap(local_stage=ja, global_stage=g["Won"], acting_user=None)
    assert Opportunity.objects.for_org(world.org).get().global_stage == g["Negotiate"]


def test_global_stage_never_disagrees_with_the_mapping(world: World) -> None:
    """Drive every service that touches stages and check the invariant after each one."""
    g = _globals(world)
    process = sales_process_create(
        sales_company=world.se, name="SE", stages=_swedish(g), acting_user=None
    )
    stage = {s.name: s for s in _stages(process)}
    account = account_for(world.se)
    opp = opportunity_create(acting_user=world.rep_se, account=account, name="Deal")
    assert _mismatches(world.org.pk) == 0
    opp = opportunity_update(
        opportunity=opp, acting_user=world.rep_se, expected_version=opp.version, name="Deal 2"
    )
    assert _mismatches(world.org.pk) == 0
    opp = opportunity_set_lines(
        opportunity=opp,
        acting_user=world.rep_se,
        lines=[{"product": ProductFactory(organization=world.org, currency="SEK"), "quantity": 2}],
    )
    assert _mismatches(world.org.pk) == 0
    for name in ("Utveckla", "Förhandla", "Offerera"):
        opp = opportunity_move_stage(
            opportunity=opp, local_stage=stage[name], acting_user=world.rep_se
        )
        assert _mismatches(world.org.pk) == 0
    local_stage_remap(local_stage=stage["Offerera"], global_stage=g["Develop"], acting_user=None)
    assert _mismatches(world.org.pk) == 0
    opp.refresh_from_db()
    assert opp.global_stage == g["Develop"]
    opp = opportunity_move_stage(
        opportunity=opp, local_stage=stage["Vunnen"], acting_user=world.rep_se
    )
    assert _mismatches(world.org.pk) == 0
    assert opp.global_stage == g["Won"]
    assert stage_for(world.dk, "Won").global_stage == g["Won"]  # factories keep it too
    assert Decimal(opp.amount) > 0


def test_global_stage_update_keeps_won_lost_consistent(world: World) -> None:
    from pipeline.services import global_stage_update

    g = _globals(world)
    propose = global_stage_update(
        stage=g["Propose"], acting_user=world.admin, name=" Offer ", probability=60,
        forecast_category="commit",
    )  # fmt: skip
    propose.refresh_from_db()
    assert (propose.name, propose.probability, propose.forecast_category) == ("Offer", 60, "commit")
    # Won is closed at 100 %, lost closed at 0 %, and an open stage is never closed: the
    # forecast counts the closed category as won.
    for stage, fields, field in [
        (g["Won"], {"probability": 90}, "probability"),
        (g["Lost"], {"probability": 10}, "probability"),
        (g["Won"], {"forecast_category": "commit"}, "forecast_category"),
        (g["Develop"], {"forecast_category": "closed"}, "forecast_category"),
        (g["Develop"], {"probability": 101}, "probability"),
        (g["Develop"], {"name": "Won"}, "name"),
        (g["Develop"], {"name": ""}, "name"),
    ]:
        with pytest.raises(ValidationError) as exc:
            global_stage_update(stage=stage, acting_user=world.admin, **fields)
        assert field in exc.value.message_dict, (stage, fields)
    rows = GlobalStage.objects.for_org(world.org).order_by("order")
    assert list(rows.values_list("name", "probability", "forecast_category")) == [
        ("Qualify", 10, "pipeline"),
        ("Develop", 25, "pipeline"),
        ("Offer", 60, "commit"),
        ("Negotiate", 75, "commit"),
        ("Won", 100, "closed"),
        ("Lost", 0, "closed"),
    ]
    # Order and the outcome are not editable here (they would reorder the funnel or win deals).
    with pytest.raises(TypeError):
        global_stage_update(stage=g["Develop"], acting_user=world.admin, is_won=True)


def test_only_the_global_admin_updates_a_global_stage(world: World) -> None:
    from pipeline.services import global_stage_update

    g = _globals(world)
    for user in (world.director, world.manager_se, world.rep_se, world.marketing):
        with pytest.raises(PermissionDenied):
            global_stage_update(stage=g["Develop"], acting_user=user, probability=30)
    with pytest.raises(Http404):
        global_stage_update(stage=g["Develop"], acting_user=world.stranger, probability=30)
    g["Develop"].refresh_from_db()
    assert g["Develop"].probability == 25
