"""One data-quality rule: the page, the dashboard's KPI and the export count the same records.

Known dataset (dates relative to today, the page's report date), all booked by the Swedish
company: a clean deal; one stale (its only activity is 40 days old); one whose old activity was
completed two days ago (not stale: created *or completed* counts, which the page once ignored);
one without a close date; one whose close date has passed; a won deal with gaps (closed deals
are not checked). Accounts: one complete, one without a registration number.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from accounts.models import Activity, ActivityKind
from opportunities.models import Opportunity
from reporting import exports, kpis
from reporting.kpis import Scope
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, account_for

pytestmark = pytest.mark.django_db


def _activity(w: World, opp: Opportunity, created: dt.datetime, done: dt.datetime | None) -> None:
    Activity.objects.create(
        organization=w.org, kind=ActivityKind.CALL, subject="Call", owner=w.rep_se,
        sales_company=w.se, account=opp.account, opportunity=opp, created_at=created,
        done_at=done,
    )  # fmt: skip


def test_the_page_the_kpi_and_the_export_count_the_same_records(
    client: Client, world: World
) -> None:
    w = world
    now, today = timezone.now(), timezone.localdate()
    complete = account_for(w.se, "Komplett AB", registration_number="556000-0001")
    gap = account_for(w.se, "Luckan AB")  # no registration number
    future = today + dt.timedelta(days=20)

    def deal(account: object, **fields: object) -> Opportunity:
        defaults = {"expected_close_date": future, "next_step": "Call"}
        return OpportunityFactory(account=account, owner=w.rep_se, **{**defaults, **fields})

    clean = deal(complete)
    stale = deal(complete)
    completed_lately = deal(complete)
    no_close = deal(gap, expected_close_date=None)
    past = deal(gap, expected_close_date=today - dt.timedelta(days=1))
    deal(gap, stage="Won", amount=None, next_step="")
    _activity(w, clean, now, None)
    _activity(w, stale, now - dt.timedelta(days=40), None)
    _activity(w, completed_lately, now - dt.timedelta(days=40), now - dt.timedelta(days=2))
    _activity(w, past, now, None)

    client.force_login(w.manager_se)
    page = client.get(reverse("opportunities:data_quality")).context
    page_opps = {o.pk for o in page["opps"].paginator.object_list}
    page_accounts = {a.pk for a in page["accounts"].paginator.object_list}

    scope = Scope(sales_company_id=w.se.pk)
    kpi = kpis.data_quality(user=w.manager_se, scope=scope, as_of=today)
    rows = list(exports._data_quality(w.manager_se, scope, today).rows)
    export_opps = {r[1] for r in rows if r[0] == "Opportunity"}
    export_accounts = {r[1] for r in rows if r[0] == "Account"}

    expected_opps = {stale.pk, no_close.pk, past.pk}  # no_close is stale too (no activity)
    assert page_opps == export_opps == {r["id"] for r in kpi.opportunities_to_fix}
    assert page_opps == expected_opps
    assert kpi.total.opportunities == 5 and kpi.total.opportunities_with_issues == 3
    assert kpi.total.issues["stale"] == 2 and kpi.total.issues["no_close_date"] == 1
    assert page_accounts == export_accounts == {r["id"] for r in kpi.accounts_to_fix} == {gap.pk}
    assert kpi.total.accounts_with_issues == 1
    # The page shows each deal's reasons by the same flags (in the manager's language).
    assert {o.pk for o in page["opps"].paginator.object_list if o.stale} == {stale.pk, no_close.pk}
    html = client.get(reverse("opportunities:data_quality")).content.decode()
    with translation.override(w.manager_se.effective_language):
        stale_text = gettext("no activity in %(stale_days)s days") % {"stale_days": 30}
    assert html.count(stale_text) == 2
