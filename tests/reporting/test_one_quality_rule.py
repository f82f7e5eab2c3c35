"""One data-quality rule: the page, the dashboard's KPI and the export count the same records.

Known dataset (dates relative to today, the page's report date), all booked by the Swedish
company, deals created 60 days ago unless said: a clean deal; one stale (its only activity
happened 40 days ago); one whose activity was entered 40 days ago but happened two days ago
(not stale: when it happened counts, not when it was typed in); one without a close date; one
whose close date has passed; one created five days ago without any activity (too young to be
stale); one without an activity of its own whose account had a meeting three days ago (not
stale: the account's activities count); a won deal with gaps (closed deals are not checked).
Accounts: complete ones, and one without a registration number.
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


def _activity(
    w: World, opp: Opportunity, happened: dt.datetime, entered: dt.datetime | None = None
) -> None:
    Activity.objects.create(
        organization=w.org, kind=ActivityKind.CALL, subject="Call", owner=w.rep_se,
        sales_company=w.se, account=opp.account, opportunity=opp, created_at=entered or happened,
        happened_at=happened, done_at=happened,
    )  # fmt: skip


def test_the_page_the_kpi_and_the_export_count_the_same_records(
    client: Client, world: World
) -> None:
    w = world
    now, today = timezone.now(), timezone.localdate()
    complete = account_for(w.se, "Komplett AB", registration_number="556000-0001")
    quiet = account_for(w.se, "Tyst AB", registration_number="556000-0002")
    busy = account_for(w.se, "Livlig AB", registration_number="556000-0003")
    gap = account_for(w.se, "Luckan AB")  # no registration number
    future = today + dt.timedelta(days=20)

    def deal(account: object, *, age_days: int = 60, **fields: object) -> Opportunity:
        defaults = {"expected_close_date": future, "next_step": "Call"}
        opp = OpportunityFactory(account=account, owner=w.rep_se, **{**defaults, **fields})
        Opportunity.objects.for_org(w.org).filter(pk=opp.pk).update(
            created_at=now - dt.timedelta(days=age_days)
        )
        return opp

    clean = deal(complete)
    stale = deal(quiet)
    completed_lately = deal(busy)
    no_close = deal(gap, expected_close_date=None)
    past = deal(complete, expected_close_date=today - dt.timedelta(days=1))
    deal(quiet, age_days=5)  # young: no activity yet, not stale
    account_fresh = deal(busy)
    deal(gap, stage="Won", amount=None, next_step="")
    _activity(w, clean, now)
    _activity(w, stale, now - dt.timedelta(days=40))
    _activity(w, completed_lately, now - dt.timedelta(days=2), entered=now - dt.timedelta(days=40))
    _activity(w, past, now)
    # A meeting at the account, on no deal: it keeps account_fresh (and the account) fresh.
    Activity.objects.create(
        organization=w.org, kind=ActivityKind.MEETING, subject="Visit", owner=w.rep_se,
        sales_company=w.se, account=busy, happened_at=now - dt.timedelta(days=3),
        created_at=now - dt.timedelta(days=3),
    )  # fmt: skip
    assert not Activity.objects.for_org(w.org).filter(opportunity=account_fresh).exists()

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
    assert kpi.total.opportunities == 7 and kpi.total.opportunities_with_issues == 3
    assert kpi.total.issues["stale"] == 2 and kpi.total.issues["no_close_date"] == 1
    assert page_accounts == export_accounts == {r["id"] for r in kpi.accounts_to_fix} == {gap.pk}
    assert kpi.total.accounts_with_issues == 1
    # The page shows each deal's reasons by the same flags (in the manager's language).
    assert {o.pk for o in page["opps"].paginator.object_list if o.stale} == {stale.pk, no_close.pk}
    html = client.get(reverse("opportunities:data_quality")).content.decode()
    with translation.override(w.manager_se.effective_language):
        stale_text = gettext("no activity in %(stale_days)s days") % {"stale_days": 30}
    assert html.count(stale_text) == 2
