"""Overlay and smarketing on the dashboard, the campaign page and the API: known answers,
walls (another organization, another sales company: 404; other roles: 403), bad input (400),
constant query counts. The data is test_smarketing's and test_overlay's (Q2 2026)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from reporting.models import TargetKind
from reporting.periods import fiscal_quarter
from tests.factories import UserFactory
from tests.opportunities.factories import CampaignFactory, LeadFactory
from tests.reporting import test_overlay, test_smarketing
from tests.reporting.conftest import Q2, Dataset, _target

pytestmark = pytest.mark.django_db

# The known-answer datasets of the KPI tests, as fixtures of this module too.
overlay = test_overlay.overlay
marketing = test_smarketing.marketing


def _api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_year_figures_through_the_api(marketing: dict) -> None:
    """FY2026 (today is in it): every lead of the fixture, L6 included (created 2026-03-10)."""
    w = marketing["world"]
    body = _api(w.director).get("/api/v1/smarketing/", {"period": "year"}).json()
    t = body["total"]
    assert (t["created"], t["qualified"], t["converted"]) == (7, 5, 4)
    assert t["conversion_rate"] == "57.1"
    assert (t["hand_over_median_days"], t["hand_over_avg_days"]) == ("3.0", "3.5")
    assert (t["conversion_median_days"], t["conversion_avg_days"]) == ("9.5", "9.0")
    assert (t["sourced_pipeline"], t["sourced_won"]) == ("13400.00", "4000.00")
    assert body["corporate_currency"] == "EUR"
    # Every event of the year so far; the targets are quarterly: none for the year.
    assert (body["events_attended"], body["events_target"]) == (5, None)
    campaigns = {c["name"]: c for c in body["by_campaign"]}
    assert campaigns["Messe"]["created"] == 3
    se = _api(w.manager_se).get("/api/v1/smarketing/", {"period": "year"}).json()
    assert se["total"]["created"] == 4
    assert [c["key"] for c in se["by_company"]] == [w.se.pk]


def test_the_campaign_endpoint(marketing: dict) -> None:
    w, c2 = marketing["world"], marketing["c2"]
    url = f"/api/v1/smarketing/campaigns/{c2.pk}/"
    body = _api(w.director).get(url).json()
    assert body["campaign"] == {"id": c2.pk, "name": "Messe"}
    assert (body["total"]["created"], body["total"]["converted"]) == (3, 2)
    assert body["total"]["sourced_pipeline"] == "5400.00"
    assert _api(w.marketing).get(url).status_code == 200
    assert _api(w.rep_se).get(url).status_code == 403
    assert _api(w.stranger).get(url).status_code == 403  # a seller elsewhere: his role first
    # Another organization's director: the campaign is missing for him.
    outsider = UserFactory(organization=w.other_org, role="global_director")
    assert _api(outsider).get(url).status_code == 404
    assert _api(w.director).get("/api/v1/smarketing/campaigns/999999999/").status_code == 404
    assert _api(w.director).get("/api/v1/smarketing/campaigns/abc/").status_code == 404


def test_api_walls_and_bad_input(marketing: dict) -> None:
    w = marketing["world"]
    assert _api(w.rep_se).get("/api/v1/smarketing/").status_code == 403
    assert _api(w.marketing).get("/api/v1/overlay-attainment/").status_code == 403
    manager = _api(w.manager_se)
    assert manager.get("/api/v1/smarketing/", {"company": w.dk.pk}).status_code == 404
    assert manager.get("/api/v1/overlay-attainment/", {"region": w.dach.pk}).status_code == 404
    assert (
        _api(w.director).get("/api/v1/smarketing/", {"company": w.other_company.pk}).status_code
        == 404
    )
    bad = _api(w.director).get("/api/v1/smarketing/", {"company": "x", "period": "week"})
    assert bad.status_code == 400
    assert set(bad.json()) == {"company", "period"}
    assert _api(w.director).get("/api/v1/smarketing/").status_code == 200
    assert APIClient().get("/api/v1/smarketing/").status_code in (401, 403)


def test_overlay_api_year(overlay: Dataset) -> None:
    w = overlay.world
    _target(w, TargetKind.OVERLAY, Q2, "1", user=w.rep_de)  # a quarter target: not the year's
    body = _api(w.director).get("/api/v1/overlay-attainment/", {"period": "year"}).json()
    rows = {(r["party"], r["key"]): r for r in body["rows"]}
    # FY2026: o1's 25 % (2,000), o2's 10 % (675) and o3's 50 % of 10,000 EUR (5,000, in Q1).
    assert rows[("user", w.rep_dk.pk)]["actual"] == "5000.00"
    assert rows[("user", w.rep_se.pk)]["actual"] == "675.00"
    assert rows[("company", w.de.pk)]["actual"] == "2000.00"
    assert rows[("user", w.rep_de.pk)]["target"] is None
    assert body["total_credit"] == "7675.00"
    # A manager's view is what the visibility policy shows him (as for revenue splits):
    # rep_se's only overlay is on a Danish deal, rep_de's on a Swedish one, and o3's overlay is
    # a Danish seller's: neither the SE nor the DE manager has a row for the year.
    for manager in (w.manager_se, w.manager_de):
        mine = _api(manager).get("/api/v1/overlay-attainment/", {"period": "year"}).json()
        assert mine["rows"] == []


def test_the_dashboard_shows_overlay_and_smarketing(client, overlay: Dataset) -> None:
    w = overlay.world
    client.force_login(w.director)
    html = client.get("/reports/").content.decode()
    assert 'data-testid="overlay-attainment"' in html
    assert 'data-testid="smarketing-kpis"' in html
    company = client.get(f"/reports/?company={w.se.pk}").content.decode()
    assert w.rep_se.full_name in company.split('data-testid="overlay-attainment"')[1]


def test_the_campaign_page_loads_its_figures(client, marketing: dict) -> None:
    w, c1 = marketing["world"], marketing["c1"]
    client.force_login(w.director)
    page = client.get(reverse("leads:campaign_detail", args=[c1.pk])).content.decode()
    url = reverse("reporting:campaign_figures", args=[c1.pk])
    assert f'hx-get="{url}"' in page
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment
    assert 'data-testid="campaign-conversion">66.7%' in fragment
    assert 'data-testid="campaign-pipeline">8,000' in fragment
    assert 'data-testid="campaign-won">4,000' in fragment
    assert "<html" in client.get(url).content.decode()
    for user, status in [(w.rep_se, 403), (w.stranger, 403), (w.marketing, 200)]:
        client.force_login(user)
        assert client.get(url).status_code == status
    client.force_login(UserFactory(organization=w.other_org, role="global_director"))
    assert client.get(url).status_code == 404
    # A manager elsewhere sees the campaign but none of its Swedish leads or deals.
    client.force_login(w.manager_de)
    mine = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="campaign-pipeline">0' in mine


def test_query_counts_do_not_grow(marketing: dict) -> None:
    w = marketing["world"]
    client = _api(w.director)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/api/v1/smarketing/", {"period": "year"}).status_code == 200
            url = f"/api/v1/smarketing/campaigns/{marketing['c1'].pk}/"
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    before = count()
    for i in range(5):
        campaign = CampaignFactory(organization=w.org, owner=w.marketing, name=f"More {i}")
        for company in (w.se, w.dk, w.de):
            LeadFactory(organization=w.org, sales_company=company, campaign=campaign)
    assert count() == before


def test_the_targets_page_offers_and_shows_overlay_targets(client, overlay: Dataset) -> None:
    w = overlay.world
    client.force_login(w.director)
    page = client.get(reverse("reporting:targets")).content.decode()
    assert '<option value="overlay"' in page
    # The dataset's overlay targets are of Q2 2026, not of this year's periods: set one now.
    quarter = fiscal_quarter(w.org, timezone.localdate())
    response = client.post(
        reverse("reporting:targets"),
        {
            "who": f"user:{w.rep_dk.pk}",
            "period": f"quarter:{quarter.start.isoformat()}",
            "kind": "overlay",
            "value": "2500",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "2,500.00 EUR" in response.content.decode()
    bad = client.post(
        reverse("reporting:targets"),
        {"who": f"user:{w.rep_dk.pk}", "period": "quarter:x", "kind": "overlay", "value": "-1"},
    )
    assert bad.status_code == 400
