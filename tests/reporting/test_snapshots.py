"""Pipeline snapshots: known rows, idempotent re-takes, history rebuild, command, beat, demo."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.conf import settings
from django.core.management import call_command

from opportunities.models import Opportunity
from reporting import kpis, tasks
from reporting.demo import SNAPSHOT_WEEKS, seed_demo
from reporting.models import PipelineSnapshot, Target
from reporting.services import pipeline_snapshot_take
from tests.opportunities.factories import stage_for
from tests.reporting.conftest import AS_OF, Dataset, at

pytestmark = pytest.mark.django_db


def _rows(dataset: Dataset, day: dt.date) -> set[tuple]:
    return set(
        PipelineSnapshot.objects.for_org(dataset.world.org)
        .filter(taken_on=day)
        .values_list(
            "sales_company__code", "global_stage__name", "forecast_category", "count", "amount"
        )
    )


def test_snapshot_of_the_report_date(dataset: Dataset) -> None:
    assert pipeline_snapshot_take(organization=dataset.world.org, on_date=AS_OF) == 4
    # Open on 05-15: o5 200,000 SEK x 0.08; o6 40,000 DKK x 0.135; o7 (no amount); o8 EUR.
    assert _rows(dataset, AS_OF) == {
        ("SE", "Negotiate", "commit", 1, D("16000.00")),
        ("DK", "Propose", "best_case", 1, D("5400.00")),
        ("DE", "Qualify", "pipeline", 1, D("0.00")),
        ("DE", "Negotiate", "commit", 1, D("20000.00")),
    }


def test_retaking_the_same_day_replaces_it(dataset: Dataset) -> None:
    org = dataset.world.org
    pipeline_snapshot_take(organization=org, on_date=AS_OF)
    Opportunity.objects.for_org(org).filter(pk=dataset.opps["o8"].pk).update(amount=D(30000))
    pipeline_snapshot_take(organization=org, on_date=AS_OF)
    assert PipelineSnapshot.objects.for_org(org).filter(taken_on=AS_OF).count() == 4
    assert ("DE", "Negotiate", "commit", 1, D("30000.00")) in _rows(dataset, AS_OF)


def test_a_past_date_is_rebuilt_from_the_stage_history(dataset: Dataset) -> None:
    day = dt.date(2026, 4, 15)
    pipeline_snapshot_take(organization=dataset.world.org, on_date=day)
    # On 04-15: o1 already won (04-11), o4 still open in Qualify (lost on 04-20), o5 and o6 in
    # Develop, o8 in Qualify, o7 (no history) in its current Qualify; o2 has no history and is
    # won now, so it is left out. Rates of 04-15: SEK 0.08, DKK 0.13.
    assert _rows(dataset, day) == {
        ("SE", "Qualify", "pipeline", 1, D("2400.00")),
        ("SE", "Develop", "pipeline", 1, D("16000.00")),
        ("DK", "Develop", "pipeline", 1, D("5200.00")),
        ("DE", "Qualify", "pipeline", 2, D("20000.00")),
    }


def test_forecast_accuracy_and_trend(dataset: Dataset) -> None:
    w = dataset.world
    pipeline_snapshot_take(organization=w.org, on_date=AS_OF)
    # After the snapshot o5 is won on 06-20 (200,000 SEK x 0.08 = 16,000).
    won = stage_for(w.se, "Won")
    Opportunity.objects.for_org(w.org).filter(pk=dataset.opps["o5"].pk).update(
        local_stage=won, global_stage=won.global_stage, closed_at=at("2026-06-20")
    )
    acc = kpis.forecast_accuracy(user=w.director, taken_on=AS_OF)
    # Committed at the snapshot: o5 16,000 + o8 20,000 = 36,000; won since: 16,000 = 44.4%.
    assert (acc.committed, acc.won_after, acc.accuracy) == (D("36000.00"), D("16000.00"), D("44.4"))
    assert acc.until == dt.date(2026, 7, 1)
    trend = kpis.pipeline_trend(user=w.director, since=dt.date(2026, 1, 1))
    assert trend == [
        (AS_OF, {"commit": D("36000.00"), "best_case": D("5400.00"), "pipeline": D("0.00")})
    ]
    # Managers see their companies' snapshots; reps none.
    assert kpis.pipeline_trend(user=w.manager_se, since=dt.date(2026, 1, 1)) == [
        (AS_OF, {"commit": D("16000.00")})
    ]
    assert kpis.pipeline_trend(user=w.rep_se, since=dt.date(2026, 1, 1)) == []


def test_the_command_snapshots_every_organization(dataset: Dataset, capsys) -> None:
    call_command("take_pipeline_snapshot", "--date", "2026-05-15")
    out = capsys.readouterr().out
    assert "Nordvik: 4 snapshot rows for 2026-05-15." in out
    assert "Tellus: 0 snapshot rows" in out
    assert PipelineSnapshot.objects.unscoped().filter(taken_on=AS_OF).count() == 4


def test_the_weekly_beat_entry_runs_the_fan_out_task(dataset: Dataset) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["reporting-weekly-pipeline-snapshot"]
    assert entry["task"] == tasks.take_pipeline_snapshots.name
    assert entry["schedule"].day_of_week == {1}  # Monday
    # Eager in tests: one snapshot task per organization.
    assert tasks.take_pipeline_snapshots.delay().get() == 2


def test_demo_targets_and_snapshots_are_idempotent(dataset: Dataset) -> None:
    org = dataset.world.org
    with_existing = Target.objects.for_org(org).count()
    seed_demo(org)
    targets = Target.objects.for_org(org).count()
    snapshots = PipelineSnapshot.objects.for_org(org).count()
    # 3 companies x 3 kinds x (year + 4 quarters); 3 reps x 3 kinds x 5 - a few already set.
    assert targets >= 3 * 3 * 5 + 3 * 3 * 5
    assert targets > with_existing
    assert PipelineSnapshot.objects.for_org(org).values("taken_on").distinct().count() == (
        SNAPSHOT_WEEKS + 1
    )
    seed_demo(org)
    assert Target.objects.for_org(org).count() == targets
    assert PipelineSnapshot.objects.for_org(org).count() == snapshots
