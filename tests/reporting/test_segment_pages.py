"""Customer value and segments as users meet them: the segments report page, its file and
JSON, the account API's value fields, the segment rules set-up page and API, the 360° and the
account list. Numbers from the dataset of value_fixtures.py (computed in
test_customer_value.py's docstring). Outsiders: another company's rep, marketing, another
organization."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal as D

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook
from rest_framework.test import APIClient

from accounts.models import Account, Segment, SegmentRule
from crm.models import User
from reporting import customer_value as cv
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.reporting.value_fixtures import AS_OF, build_accounts

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(world: World) -> dict[str, Account]:
    made = build_accounts(world)
    SegmentRule.objects.create(
        organization=world.org, order=1, segment=Segment.A, min_lifetime_value=D("26300")
    )
    cv.refresh_account_values(organization=world.org, as_of=AS_OF)
    return made


def _api(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_segments_page_and_scope(client: Client, world: World, accounts: dict) -> None:
    url = reverse("reporting:segments")
    client.force_login(world.director)
    response = client.get(url)
    assert response.status_code == 200
    rows = {(r.segment, r.country): r for r in response.context["report"].rows}
    assert rows[("A", "SE")].lifetime_value == D("26300.00")
    assert rows[("C", "DK")].lifetime_value == D("17500.00")
    assert "NOK 2026-03-01" in response.content.decode()
    # The director narrows to a company: its accounts only.
    se = client.get(url, {"company": world.se.pk}).context["report"]
    assert {r.country for r in se.rows} == {"SE"}
    # Values sum every company's deals: whoever does not see every deal (a rep, a manager,
    # marketing) is refused, whatever scope he asks for (need-to-know).
    for user in (world.rep_se, world.manager_se, world.marketing):
        client.force_login(user)
        assert client.get(url).status_code == 403
        assert client.get(url, {"company": world.se.pk}).status_code == 403
    client.force_login(world.director)
    assert client.get(url, {"company": world.other_company.pk}).status_code == 404
    client.force_login(world.stranger)
    assert client.get(url, {"company": world.se.pk}).status_code == 403


def test_segments_download_xlsx_and_csv(client: Client, world: World, accounts: dict) -> None:
    client.force_login(world.director)
    url = reverse("reporting:segments")
    response = client.get(url, {"format": "xlsx"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))  # type: ignore[attr-defined]
    sheet = book["Segments"]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][:4] == ["Segment", "Country", "Accounts", "Lifetime value"]
    assert ["A - strategic", "SE", 1, D("26300.00")] == [
        *values[1][:3],
        D(str(values[1][3])).quantize(D("0.01")),
    ]
    response = client.get(url, {"format": "csv"})
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))  # type: ignore[attr-defined]
    text = archive.read(archive.namelist()[0]).decode("utf-8-sig")
    assert "26300.00" in text


def test_segment_report_api(world: World, accounts: dict) -> None:
    data = _api(world.director).get("/api/v1/reports/segments/").json()
    totals = {t["segment"]: t for t in data["totals"]}
    assert totals["A"]["lifetime_value"] == "26300.00"
    assert (data["as_of"], data["currency"]) == ("2026-05-15", "EUR")
    assert data["missing_rates"] == ["NOK 2026-03-01"]
    se = _api(world.director).get("/api/v1/reports/segments/", {"company": world.se.pk}).json()
    assert {r["country"] for r in se["rows"]} == {"SE"}
    for user in (world.rep_se, world.manager_se, world.marketing):
        assert _api(user).get("/api/v1/reports/segments/").status_code == 403
    # Another organization's rep: refused by his role before any look-up.
    stranger = _api(world.stranger)
    assert stranger.get("/api/v1/reports/segments/", {"company": world.se.pk}).status_code == 403


def test_account_api_value_fields_are_read_only(world: World, accounts: dict) -> None:
    top = accounts["top"]
    # A rep sees the account in full but not every deal summed into its value: none.
    assert _api(world.rep_se).get(f"/api/v1/accounts/{top.pk}/").json()["value"] is None
    api = _api(world.director)
    body = api.get(f"/api/v1/accounts/{top.pk}/").json()
    assert body["value"]["lifetime_value"] == "26300.00"
    assert body["value"]["revenue_12m"] == "5300.00"
    assert body["value"]["group"]["lifetime_value"] == "43800.00"
    assert body["segment"] == "A" and body["segment_reason"] == "rule"
    # The value cannot be written; the potential can (by who may change the account: the SE
    # manager), and bad input is a 400 naming it.
    api = _api(world.manager_se)
    response = api.patch(
        f"/api/v1/accounts/{top.pk}/",
        {"potential": "150000.00", "potential_source": "Trade fair estimate", "value": None},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["potential"] == "150000.00"
    assert response.json()["value"] is None  # the manager does not see every deal
    director_view = _api(world.director).get(f"/api/v1/accounts/{top.pk}/").json()
    assert director_view["value"]["lifetime_value"] == "26300.00"
    bad = api.patch(f"/api/v1/accounts/{top.pk}/", {"potential": "-1"}, format="json")
    assert bad.status_code == 400 and "potential" in bad.json()
    # The DK subsidiary is not the SE rep's: 404, like another organization's account.
    api = _api(world.rep_se)
    assert api.get(f"/api/v1/accounts/{accounts['sub'].pk}/").status_code == 404
    assert _api(world.stranger).get(f"/api/v1/accounts/{top.pk}/").status_code == 404
    # Marketing reads the account, not its value.
    assert _api(world.marketing).get(f"/api/v1/accounts/{top.pk}/").json()["value"] is None


def test_account_api_manual_segment_and_back_to_rules(world: World, accounts: dict) -> None:
    top = accounts["top"]
    api = _api(world.director)
    body = api.patch(f"/api/v1/accounts/{top.pk}/", {"segment": "B"}, format="json").json()
    assert (body["segment"], body["segment_override"], body["segment_reason"]) == (
        "B",
        "B",
        "manual",
    )
    cv.refresh_account_values(organization=world.org, as_of=AS_OF)
    assert Account.objects.for_org(world.org).get(pk=top.pk).segment == "B"
    api.patch(f"/api/v1/accounts/{top.pk}/", {"segment_by_rules": True}, format="json")
    cv.refresh_account_values(organization=world.org, as_of=AS_OF)
    assert Account.objects.for_org(world.org).get(pk=top.pk).segment == "A"


def test_segment_rules_api_is_the_admins(world: World) -> None:
    admin = _api(world.admin)
    created = admin.post(
        "/api/v1/segment-rules/",
        {"order": 5, "segment": "B", "min_potential": "250000"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    rule_id = created.json()["id"]
    assert admin.get("/api/v1/segment-rules/").json()["results"][0]["min_potential"] == (
        "250000.00"
    )
    bad = admin.post("/api/v1/segment-rules/", {"order": 1, "segment": "Z"}, format="json")
    assert bad.status_code == 400 and "segment" in bad.json()
    assert (
        _api(world.director)
        .post("/api/v1/segment-rules/", {"order": 1, "segment": "A"}, format="json")
        .status_code
        == 403
    )
    assert _api(world.director).delete(f"/api/v1/segment-rules/{rule_id}/").status_code == 403
    assert _api(world.stranger).delete(f"/api/v1/segment-rules/{rule_id}/").status_code == 404
    assert admin.delete(f"/api/v1/segment-rules/{rule_id}/").status_code == 204


def test_segment_rules_setup_page(client: Client, world: World) -> None:
    url = reverse("setup:segment_rules")
    client.force_login(world.admin)
    assert client.get(url).status_code == 200
    response = client.post(url, {"order": "1", "segment": "A", "min_lifetime_value": "500000"})
    assert response.status_code == 302
    rule = SegmentRule.objects.for_org(world.org).get()
    assert (rule.segment, rule.min_lifetime_value) == ("A", D("500000.00"))
    bad = client.post(url, {"order": "x", "segment": "A", "min_lifetime_value": "-5"})
    assert bad.status_code == 400 and bad.context["form"].errors.keys() == {
        "order",
        "min_lifetime_value",
    }
    # Another organization's admin: the rule is not there (404); a director may not edit.
    other_admin = User.objects.for_org(world.other_org).create(
        organization=world.other_org, email="admin@other.example", role="global_admin"
    )
    client.force_login(other_admin)
    delete = reverse("setup:segment_rule_delete", args=[rule.pk])
    assert client.post(delete).status_code == 404
    client.force_login(world.director)
    assert client.get(url).status_code == 403
    client.force_login(world.admin)
    assert client.post(delete).status_code == 302
    assert not SegmentRule.objects.for_org(world.org).exists()


def test_360_shows_values_to_those_who_see_every_deal(
    client: Client, world: World, accounts: dict
) -> None:
    client.force_login(world.director)
    html = client.get(reverse("accounts:detail", args=[accounts["sub"].pk])).content.decode()
    assert 'data-testid="value-account"' in html and 'data-testid="value-group"' in html
    assert "17,500.00" in html and "43,800.00" in html
    # The DK rep sees the subsidiary in full, but its value sums deals he may not see (the
    # Swedish ones): no value at all, neither the account's nor the group's.
    client.force_login(world.rep_dk)
    html = client.get(reverse("accounts:detail", args=[accounts["sub"].pk])).content.decode()
    assert 'data-testid="value-account"' not in html
    assert 'data-testid="value-group"' not in html and "43,800.00" not in html
    assert "17,500.00" not in html
    client.force_login(world.marketing)
    html = client.get(reverse("accounts:detail", args=[accounts["top"].pk])).content.decode()
    assert 'data-testid="customer-value"' not in html


def test_account_list_filters_and_sorts_by_value(
    client: Client, world: World, accounts: dict
) -> None:
    client.force_login(world.director)
    page = client.get(reverse("accounts:list"), {"sort": "value"}).context["page"]
    # 26,300 > 17,500 > 0; Fjord's value is unknown: last.
    assert [a.name for a in page.object_list] == [
        "Volta Holding AB",
        "Volta Danmark A/S",
        "Lone GmbH",
        "Fjord Handel AB",
    ]
    page = client.get(reverse("accounts:list"), {"segment": "A"}).context["page"]
    assert [a.name for a in page.object_list] == ["Volta Holding AB"]
    assert client.get(reverse("accounts:list"), {"sort": "nonsense"}).status_code == 200


@pytest.mark.parametrize("rows", [3, 30])
def test_account_list_by_value_constant_queries(
    client: Client, world: World, rows: int, django_assert_max_num_queries: object
) -> None:
    for i in range(rows):
        make_account(organization=world.org, home_company=world.se, name=f"Bulk {i} AB")
    cv.refresh_account_values(organization=world.org, as_of=AS_OF)
    client.force_login(world.manager_se)
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        response = client.get(reverse("accounts:list"), {"sort": "value"})
    assert len(response.context["page"].object_list) == rows


def test_account_form_edits_potential(client: Client, world: World, accounts: dict) -> None:
    top = accounts["top"]
    client.force_login(world.director)
    url = reverse("accounts:edit", args=[top.pk])
    form = client.get(url).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update(potential="2000000", potential_source="Analyst report 2026", parent="")
    assert client.post(url, data).status_code == 302
    top.refresh_from_db()
    assert (top.potential, top.potential_source) == (D("2000000.00"), "Analyst report 2026")
    data["potential"] = "-3"
    response = client.post(url, data)
    assert response.status_code == 400 and "potential" in response.context["form"].errors
