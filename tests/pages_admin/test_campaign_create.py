"""New campaigns from the campaign list: marketing and managers, for the companies they cover."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from leads.models import Campaign, CampaignCompany
from tests.conftest import World

pytestmark = pytest.mark.django_db

DATA = {
    "name": "Elmia Subcontractor 2026",
    "kind": "trade_show",
    "starts_on": "2026-11-10",
    "ends_on": "2026-11-13",
    "budget": "250000",
    "currency": "sek",
}


def test_marketing_creates_a_campaign(client: Client, world: World) -> None:
    client.force_login(world.marketing)
    listing = client.get(reverse("leads:campaign_list"))
    assert listing.context["may_create"] is True
    assert reverse("leads:campaign_create") in listing.content.decode()
    response = client.post(
        reverse("leads:campaign_create"),
        {**DATA, "sales_companies": [world.se.pk, world.dk.pk]},
    )
    campaign = Campaign.objects.for_org(world.org).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("leads:campaign_detail", args=[campaign.pk])
    assert (campaign.name, campaign.kind, campaign.currency, campaign.budget, campaign.owner) == (
        DATA["name"],
        "trade_show",
        "SEK",
        Decimal("250000"),
        world.marketing,
    )
    assert (campaign.starts_on, campaign.ends_on) == (dt.date(2026, 11, 10), dt.date(2026, 11, 13))
    companies = CampaignCompany.objects.for_org(world.org).filter(campaign=campaign)
    assert set(companies.values_list("sales_company", flat=True)) == {world.se.pk, world.dk.pk}


def test_a_global_campaign_needs_no_company(client: Client, world: World) -> None:
    client.force_login(world.director)
    response = client.post(reverse("leads:campaign_create"), {**DATA, "budget": ""})
    assert response.status_code == 302
    campaign = Campaign.objects.for_org(world.org).get()
    assert campaign.budget == Decimal(0)
    assert not CampaignCompany.objects.for_org(world.org).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ends_on": "2026-11-01"}, "ends_on"),
        ({"name": ""}, "name"),
        ({"currency": "XYZ"}, "currency"),
        ({"budget": "-5"}, "budget"),
        ({"kind": "party"}, "kind"),
    ],
)
def test_invalid_input_shows_field_errors_and_writes_nothing(
    client: Client, world: World, change: dict[str, str], field: str
) -> None:
    client.force_login(world.marketing)
    response = client.post(reverse("leads:campaign_create"), {**DATA, **change})
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Campaign.objects.for_org(world.org).exists()


def test_a_company_bound_marketer_creates_for_own_company_only(
    client: Client, world: World
) -> None:
    client.force_login(world.marketing_se)
    url = reverse("leads:campaign_create")
    response = client.get(url)
    form = response.context["form"]
    assert list(form.fields["sales_companies"].queryset) == [world.se]
    assert form.initial["sales_companies"] == [world.se.pk]
    # Another company is not a choice, and no company is not allowed for a company-bound user.
    for companies in ([world.dk.pk], []):
        response = client.post(url, {**DATA, "sales_companies": companies})
        assert response.status_code == 200
        assert "sales_companies" in response.context["form"].errors
    assert not Campaign.objects.for_org(world.org).exists()
    assert client.post(url, {**DATA, "sales_companies": [world.se.pk]}).status_code == 302


def test_sellers_may_not_create_campaigns(client: Client, world: World) -> None:
    client.force_login(world.rep_se)
    url = reverse("leads:campaign_create")
    assert client.get(url).status_code == 403
    assert client.post(url, {**DATA, "sales_companies": [world.se.pk]}).status_code == 403
    assert not Campaign.objects.for_org(world.org).exists()
