"""The deviation alert pages and API: who sees which alerts (the director all, the regional
manager his region, a country manager his company, sellers and marketing nothing, another
organization 404), filters, sort, pages, acknowledging with confirmation, the settings page's
bad input, and constant query counts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from crm.models import SalesCompany, User
from crm.roles import Role
from reporting.models import (
    AlertStatus,
    Comparison,
    DeviationAlert,
    DeviationThreshold,
    Measure,
    ThresholdUnit,
)
from tests.conftest import World
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

WEEK = dt.date(2026, 5, 11)
LIST = "/reports/alerts/"


def _alert(
    w: World, company: SalesCompany, measure: str = Measure.WIN_RATE, week: dt.date = WEEK
) -> DeviationAlert:
    return DeviationAlert.objects.create(
        organization=w.org,
        sales_company=company,
        measure=measure,
        week=week,
        comparison=Comparison.ORG_AVERAGE,
        value=Decimal("40.00"),
        reference=Decimal("60.00"),
        unit=ThresholdUnit.POINTS,
        threshold=Decimal(10),
    )


@pytest.fixture
def alerts(world: World) -> dict[str, DeviationAlert]:
    return {
        "se": _alert(world, world.se),
        "dk": _alert(world, world.dk, Measure.DATA_QUALITY),
        "de": _alert(world, world.de, Measure.COVERAGE),
    }


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _listed(client: Client, **params: Any) -> set[int]:
    response = client.get(LIST, params)
    assert response.status_code == 200
    return {a.pk for a in response.context["page"].object_list}


def test_each_role_sees_its_alerts(world: World, alerts: dict[str, DeviationAlert]) -> None:
    ids = {k: a.pk for k, a in alerts.items()}
    assert _listed(_client(world.director)) == set(ids.values())
    assert _listed(_client(world.admin)) == set(ids.values())
    assert _listed(_client(world.regional)) == {ids["se"], ids["dk"]}  # the Nordics
    assert _listed(_client(world.manager_se)) == {ids["se"]}
    assert _listed(_client(world.manager_de)) == {ids["de"]}


@pytest.mark.parametrize("name", ["rep_se", "marketing", "marketing_se"])
def test_sellers_and_marketing_get_404(
    name: str, world: World, alerts: dict[str, DeviationAlert]
) -> None:
    client = _client(getattr(world, name))
    assert client.get(LIST).status_code == 404
    assert client.get(f"/reports/alerts/{alerts['se'].pk}/acknowledge/").status_code == 404


def test_another_organization_and_another_company_get_404(
    world: World, alerts: dict[str, DeviationAlert]
) -> None:
    outsider = UserFactory(organization=world.other_org, role=Role.GLOBAL_DIRECTOR)
    url = f"/reports/alerts/{alerts['se'].pk}/acknowledge/"
    for user in (outsider, world.manager_de):
        client = _client(user)
        assert client.get(url).status_code == 404
        assert client.post(url).status_code == 404
        assert alerts["se"].pk not in _listed(client)
    alerts["se"].refresh_from_db()
    assert alerts["se"].status == AlertStatus.OPEN


def test_acknowledge_asks_first_then_records_who(
    world: World, alerts: dict[str, DeviationAlert]
) -> None:
    client = _client(world.manager_se)
    url = f"/reports/alerts/{alerts['se'].pk}/acknowledge/"
    confirm = client.get(url, {"query": "status=open"})
    assert confirm.status_code == 200
    assert b'data-testid="confirm-form"' in confirm.content
    alerts["se"].refresh_from_db()
    assert alerts["se"].status == AlertStatus.OPEN  # asking changed nothing
    done = client.post(url, {"query": "status=open"})
    assert done.status_code == 302 and done["Location"] == f"{LIST}?status=open"
    alerts["se"].refresh_from_db()
    assert alerts["se"].status == AlertStatus.ACKNOWLEDGED
    assert alerts["se"].acknowledged_by == world.manager_se
    assert _listed(client, status="open") == set()


def test_csrf_is_required_to_acknowledge(world: World, alerts: dict[str, DeviationAlert]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.director)
    response = client.post(f"/reports/alerts/{alerts['se'].pk}/acknowledge/")
    assert response.status_code == 403


def test_filters_sort_and_pages(world: World, alerts: dict[str, DeviationAlert]) -> None:
    client = _client(world.director)
    assert _listed(client, measure="data_quality") == {alerts["dk"].pk}
    assert _listed(client, company=world.de.pk) == {alerts["de"].pk}
    alerts["de"].status = AlertStatus.ACKNOWLEDGED
    alerts["de"].save()
    assert _listed(client, status="acknowledged") == {alerts["de"].pk}
    by_company = client.get(LIST, {"sort": "company"}).context["page"].object_list
    assert [a.sales_company.code for a in by_company] == ["DE", "DK", "SE"]
    # Bad input is a form error, not a 500: the list shows everything.
    bad = client.get(LIST, {"company": "x", "sort": "'; drop", "page": "999"})
    assert bad.status_code == 200 and bad.context["form"].errors
    # 30 Swedish alerts over 30 weeks: two pages of 25, newest first.
    for i in range(30):
        _alert(world, world.se, Measure.STAGE_AGEING, WEEK - dt.timedelta(weeks=i + 1))
    first = client.get(LIST, {"measure": "stage_ageing"}).context["page"]
    assert (len(first.object_list), first.paginator.num_pages) == (25, 2)
    assert first.object_list[0].week == WEEK - dt.timedelta(weeks=1)
    second = client.get(LIST, {"measure": "stage_ageing", "page": 2}).context["page"]
    assert len(second.object_list) == 5


def test_the_empty_state(world: World) -> None:
    response = _client(world.manager_se).get(LIST)
    assert response.status_code == 200
    assert b'data-testid="empty"' in response.content


def test_each_alert_links_to_what_explains_it(
    world: World, alerts: dict[str, DeviationAlert]
) -> None:
    content = _client(world.director).get(LIST).content.decode()
    assert f'href="/reports/?company={world.de.pk}"' in content  # coverage: the dashboard
    assert f'href="/opportunities/data-quality/?company={world.dk.pk}"' in content
    assert f"/opportunities/?company={world.se.pk}&amp;status=closed" in content  # win rate


def test_list_queries_are_constant(
    world: World, alerts: dict[str, DeviationAlert], django_assert_max_num_queries: Any
) -> None:
    client = _client(world.director)
    client.get(LIST)  # warm the session and caches
    with django_assert_max_num_queries(12) as few:
        client.get(LIST)
    for i in range(20):
        _alert(world, world.dk, Measure.STAGE_AGEING, WEEK - dt.timedelta(weeks=i + 1))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(LIST)


# --- Settings -------------------------------------------------------------------------------


def _settings_post(**overrides: str) -> dict[str, str]:
    data = {}
    for measure in Measure.values:
        data[f"{measure}_enabled"] = "on"
        data[f"{measure}_unit"] = ThresholdUnit.POINTS
        data[f"{measure}_threshold"] = "10"
    data.update(overrides)
    return data


def test_the_director_sets_the_thresholds(world: World) -> None:
    client = _client(world.director)
    assert client.get("/setup/deviation-alerts/").status_code == 200
    data = _settings_post(coverage_threshold="30", coverage_unit="percent")
    del data["data_quality_enabled"]  # unchecked: off
    assert client.post("/setup/deviation-alerts/", data).status_code == 302
    rows = {r.measure: r for r in DeviationThreshold.objects.for_org(world.org)}
    assert (rows["coverage"].unit, rows["coverage"].threshold) == ("percent", Decimal(30))
    assert rows["data_quality"].enabled is False


@pytest.mark.parametrize("value", ["-1", "abc", "1e400", "100001"])
def test_bad_thresholds_are_field_errors(world: World, value: str) -> None:
    response = _client(world.admin).post(
        "/setup/deviation-alerts/", _settings_post(win_rate_threshold=value)
    )
    assert response.status_code == 400
    assert response.context["form"].errors["win_rate_threshold"]
    assert not DeviationThreshold.objects.for_org(world.org).exists()


@pytest.mark.parametrize("name", ["manager_se", "regional", "rep_se", "marketing"])
def test_settings_are_global_managements(name: str, world: World) -> None:
    client = _client(getattr(world, name))
    assert client.get("/setup/deviation-alerts/").status_code == 404
    assert client.post("/setup/deviation-alerts/", _settings_post()).status_code == 404


# --- API ------------------------------------------------------------------------------------


def _api(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_lists_what_the_role_sees(world: World, alerts: dict[str, DeviationAlert]) -> None:
    def ids(user: User, **params: Any) -> set[int]:
        response = _api(user).get("/api/v1/deviation-alerts/", params)
        assert response.status_code == 200
        return {row["id"] for row in response.json()["results"]}

    assert ids(world.director) == {a.pk for a in alerts.values()}
    assert ids(world.regional) == {alerts["se"].pk, alerts["dk"].pk}
    assert ids(world.manager_se) == {alerts["se"].pk}
    assert ids(world.rep_se) == set()
    assert ids(world.director, measure="coverage") == {alerts["de"].pk}
    row = _api(world.director).get(f"/api/v1/deviation-alerts/{alerts['se'].pk}/").json()
    assert row["url"] == f"/opportunities/?company={world.se.pk}&status=closed&sort=-close"
    assert (row["value"], row["reference"], row["sales_company_code"]) == ("40.00", "60.00", "SE")


def test_api_acknowledge_and_isolation(world: World, alerts: dict[str, DeviationAlert]) -> None:
    url = f"/api/v1/deviation-alerts/{alerts['se'].pk}/acknowledge/"
    outsider = UserFactory(organization=world.other_org, role=Role.GLOBAL_DIRECTOR)
    for user in (outsider, world.manager_de, world.rep_se):
        assert _api(user).post(url).status_code == 404
    response = _api(world.manager_se).post(url)
    assert response.status_code == 200 and response.json()["status"] == "acknowledged"
    alerts["se"].refresh_from_db()
    assert alerts["se"].acknowledged_by == world.manager_se
    assert _api(world.director).get("/api/v1/deviation-alerts/", {"week": "x"}).status_code == 400
