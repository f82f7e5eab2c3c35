"""The dashboard: who may see which scope, drill-down links, charts inlined, constant queries."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reporting.models import PipelineSnapshot
from reporting.services import pipeline_snapshot_take
from tests.factories import RegionFactory, SalesCompanyFactory, UserFactory
from tests.opportunities.factories import OpportunityFactory, account_for
from tests.reporting.conftest import Dataset

pytestmark = pytest.mark.django_db
URL = reverse("reporting:dashboard")


def _h1(html: str) -> str:
    """The page heading (its wording is translated for Swedish test users; the scope name is
    what these tests check)."""
    return re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S).group(1)


def _get(client, user, query: str = ""):
    client.force_login(user)
    return client.get(URL + query)


def test_the_director_sees_the_organization_with_charts_and_tables(client, dataset: Dataset):
    w = dataset.world
    pipeline_snapshot_take(organization=w.org, on_date=timezone.localdate())
    response = _get(client, w.director)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nordvik" in _h1(html)
    # Seven inline SVG charts with labels, and no script but base.html's htmx.
    assert html.count('<svg role="img" aria-label=') == 7
    assert html.count("<script") == 1 and "kozea.github.io" not in html
    for heading in ("Pipeline by stage", "Forecast vs target", "Pipeline trend", "Data quality",
                    "Open conflicts", "Records to fix"):  # fmt: skip
        assert f">{heading}</h2>" in html
    # Drill-down: the director's page lists regions and links into each.
    assert f'href="?region={w.nordics.pk}"' in html and f'href="?region={w.dach.pk}"' in html


def test_drill_down_region_company_rep(client, dataset: Dataset):
    w = dataset.world
    region = _get(client, w.director, f"?region={w.nordics.pk}").content.decode()
    assert "Nordics" in _h1(region)
    assert f'href="?company={w.se.pk}"' in region and f'href="?company={w.dk.pk}"' in region
    assert f'href="?company={w.de.pk}"' not in region
    company = _get(client, w.director, f"?company={w.se.pk}").content.decode()
    assert f'href="/opportunities/?owner={w.rep_se.pk}"' in company
    assert f'href="/opportunities/?company={w.se.pk}"' in company


def test_each_manager_gets_their_own_scope_and_nothing_more(client, dataset: Dataset):
    w = dataset.world
    assert "Nordics" in _h1(_get(client, w.regional).content.decode())
    assert _get(client, w.regional, f"?company={w.dk.pk}").status_code == 200
    assert _get(client, w.regional, f"?region={w.dach.pk}").status_code == 404
    assert _get(client, w.regional, f"?company={w.de.pk}").status_code == 404
    assert w.se.name in _h1(_get(client, w.manager_se).content.decode())
    assert _get(client, w.manager_se, f"?company={w.dk.pk}").status_code == 404
    assert _get(client, w.manager_se, f"?region={w.nordics.pk}").status_code == 404
    assert _get(client, w.director, f"?company={w.other_company.pk}").status_code == 404


def test_reps_marketing_and_strangers_get_403(client, dataset: Dataset):
    w = dataset.world
    for user in (w.rep_se, w.marketing, w.marketing_se, w.stranger):
        assert _get(client, user).status_code == 403
    client.logout()
    assert client.get(URL).status_code == 302


def test_the_nav_link_shows_for_managers_only(client, dataset: Dataset):
    w = dataset.world
    assert URL in _get(client, w.manager_se).content.decode()
    client.force_login(w.rep_se)
    assert f'href="{URL}"' not in client.get(reverse("home")).content.decode()


def _grow(dataset: Dataset, n: int) -> None:
    """More of everything a dashboard iterates: regions, companies, reps, deals, snapshots."""
    w = dataset.world
    today = timezone.localdate()
    for i in range(n):
        region = RegionFactory(organization=w.org, name=f"Region {i}")
        company = SalesCompanyFactory(
            organization=w.org, region=region, code=f"X{i}", currency="EUR", country="FR"
        )
        rep = UserFactory(organization=w.org, role="sales_rep", sales_company=company)
        account = account_for(company)
        for stage in ("Qualify", "Propose", "Negotiate", "Won", "Lost"):
            opp = OpportunityFactory(account=account, owner=rep, stage=stage, amount=D(1000))
            if stage in ("Won", "Lost"):
                type(opp).objects.for_org(w.org).filter(pk=opp.pk).update(closed_at=timezone.now())
    for week in range(4):
        pipeline_snapshot_take(organization=w.org, on_date=today - dt.timedelta(weeks=week))


@pytest.mark.parametrize("who", ["director", "regional", "manager_se"])
def test_the_dashboard_runs_a_constant_number_of_queries(
    client, dataset: Dataset, django_assert_max_num_queries, who: str
):
    w = dataset.world
    user = getattr(w, who)
    client.force_login(user)
    assert client.get(URL).status_code == 200  # stores the figures
    # A write makes them stale: both measured views recompute them (tasks run in-process).
    pipeline_snapshot_take(organization=w.org, on_date=timezone.localdate())
    with CaptureQueriesContext(connection) as small:
        assert client.get(URL).status_code == 200
    _grow(dataset, 6)
    assert PipelineSnapshot.objects.for_org(w.org).values("taken_on").distinct().count() == 4
    with django_assert_max_num_queries(len(small)):
        response = client.get(URL)
    assert response.status_code == 200
    print(f"{who}: {len(small)} queries")


def test_attainment_shows_people_on_their_company_dashboard_only(client, dataset: Dataset):
    """Above a company the people would be hundreds of rows: the table keeps the companies and
    says where the people are; the company's dashboard lists its people (split credit)."""
    from unittest import mock

    from tests.reporting.conftest import AS_OF

    w = dataset.world
    with mock.patch("reporting.views.timezone.localdate", return_value=AS_OF):
        org = _get(client, w.director).content.decode()
        company = _get(client, w.director, f"?company={w.se.pk}").content.decode()
    table = re.search(r'data-testid="attainment".*?</table>', org, re.S).group(0)
    assert w.se.name in table and w.dk.name in table and w.de.name in table
    assert w.rep_se.full_name not in table and w.rep_dk.full_name not in table
    assert 'data-testid="people-elsewhere"' in org  # rep_se and rep_dk: targets and credit
    mine = re.search(r'data-testid="attainment".*?</table>', company, re.S).group(0)
    assert w.rep_se.full_name in mine and w.se.name in mine
    assert 'data-testid="people-elsewhere"' not in company


def test_stored_figures_read_in_each_readers_language_with_links_to_fix(client, dataset: Dataset):
    """The figures are computed once and shared; their words, numbers and dates are the
    reader's: an English director stores them, a German one reads them in German."""
    from django.utils import translation
    from django.utils.formats import date_format

    from crm.models import User

    w = dataset.world
    User.objects.for_org(w.org).filter(pk=w.director.pk).update(language="en")
    english = _get(client, w.director).content.decode()
    assert "Open pipeline by stage (" in english
    User.objects.for_org(w.org).filter(pk=w.director.pk).update(language="de")
    german = _get(client, w.director).content.decode()
    with translation.override("de"):
        title = translation.gettext("Open pipeline by stage (%(currency)s)") % {
            "currency": w.org.corporate_currency
        }
        day = date_format(timezone.localdate(), "SHORT_DATE_FORMAT")
        region = str(translation.gettext("Region"))
    assert title != f"Open pipeline by stage ({w.org.corporate_currency})"
    assert f'aria-label="{title}"' in german and "Open pipeline by stage" not in german
    assert day in german and f">{region}</th>" in german
    # Records to fix are links to the record.
    fix = re.search(r'data-testid="to-fix".*?</table>', german, re.S).group(0)
    assert re.search(r'<a href="/(opportunities|accounts)/\d+/">', fix)


def test_no_none_on_any_dashboard(client, dataset: Dataset) -> None:
    """A figure that does not exist (no target set) reads as a dash, never as "None"."""
    w = dataset.world
    for query in ("", f"?region={w.nordics.pk}", f"?company={w.se.pk}", f"?company={w.dk.pk}"):
        html = _get(client, w.director, query).content.decode()
        assert not re.search(r">\s*None\s*<", html), query
