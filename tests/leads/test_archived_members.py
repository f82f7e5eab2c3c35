"""Archived contacts are no campaign members (issue 18): not on the member list, in the CSV or
the API (list and ``?export=1``), nor in the campaign's member count; an archived contact cannot
be added; restoring it brings its membership back (the row is kept: invited, attended)."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import Contact
from accounts.services import contact_archive, contact_create, contact_restore
from crm.roles import Role
from leads.models import Campaign, CampaignMember
from tests.conftest import World
from tests.factories import UserFactory
from tests.opportunities.factories import CampaignFactory, CampaignMemberFactory, account_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(world: World) -> Campaign:
    campaign = CampaignFactory(organization=world.org, owner=world.marketing, name="Elmia")
    account = account_for(world.se, "Archivo AB")
    for name in ("Stays Here", "Left Company"):
        contact = contact_create(
            account=account,
            full_name=name,
            email=f"{name.split()[0].lower()}@archivo.example",
            marketing_consent=True,
            acting_user=None,
        )
        CampaignMemberFactory(campaign=campaign, contact=contact, attended=True)
    return campaign


def _contact(name: str, world: World) -> Contact:
    return Contact.objects.for_org(world.org).get(full_name=name)


def _api(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _csv_names(client: Client, campaign: Campaign) -> list[str]:
    response = client.get(reverse("leads:campaign_export", args=[campaign.pk]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return sorted(r[1] for r in list(csv.reader(io.StringIO(body)))[1:])


def test_archiving_takes_the_contact_out_everywhere_and_restoring_brings_it_back(
    client: Client, world: World, campaign: Campaign
) -> None:
    client.force_login(world.marketing)
    api = _api(world.marketing)
    members_url = f"/api/v1/campaigns/{campaign.pk}/members/"
    assert _csv_names(client, campaign) == ["Left Company", "Stays Here"]

    gone = _contact("Left Company", world)
    contact_archive(contact=gone, acting_user=world.rep_se)

    assert _csv_names(client, campaign) == ["Stays Here"]
    page = client.get(reverse("leads:campaign_detail", args=[campaign.pk])).content.decode()
    assert "Stays Here" in page and "Left Company" not in page
    assert "(1)" in page  # the member count on the page
    listing = client.get(reverse("leads:campaign_list")).content.decode()
    assert '<td class="num">1</td>' in listing and '<td class="num">2</td>' not in listing
    for params in ({}, {"export": "1"}):
        rows = api.get(members_url, params).json()
        assert [r["contact"] for r in rows] == [_contact("Stays Here", world).pk]
    # The row is kept (who attended is history), only no longer a member anywhere.
    assert CampaignMember.objects.for_org(world.org).filter(contact=gone).exists()

    contact_restore(contact=gone, acting_user=world.rep_se)
    assert _csv_names(client, campaign) == ["Left Company", "Stays Here"]


def test_an_archived_contact_cannot_be_added(
    client: Client, world: World, campaign: Campaign
) -> None:
    other = contact_create(
        account=account_for(world.se, "Late AB"),
        full_name="Archived Already",
        email="a@late.example",
        marketing_consent=True,
        acting_user=None,
    )
    contact_archive(contact=other, acting_user=None)
    api = _api(world.marketing)
    response = api.post(f"/api/v1/campaigns/{campaign.pk}/members/", {"contact": other.pk})
    assert response.status_code == 400
    assert "contact" in response.json()
    client.force_login(world.marketing)
    url = reverse("leads:campaign_detail", args=[campaign.pk])
    page = client.post(url, {"contact": other.pk}, follow=True).content.decode()
    assert "archived" in page
    assert not CampaignMember.objects.for_org(world.org).filter(contact=other).exists()
    # Nor is it offered when marketing searches for people to invite.
    found = client.get(url, {"q": "Archived"}).content.decode()
    assert "Archived Already" not in found


def test_other_organization_gets_404(world: World, campaign: Campaign) -> None:
    # Marketing of another organization: the campaign is missing, page and API alike.
    outsider = UserFactory(
        organization=world.other_org, role=Role.MARKETING, sales_company=world.other_company
    )
    client = Client()
    client.force_login(outsider)
    assert client.get(reverse("leads:campaign_export", args=[campaign.pk])).status_code == 404
    api = _api(outsider)
    assert api.get(f"/api/v1/campaigns/{campaign.pk}/members/").status_code == 404
    contact = _contact("Left Company", world)
    response = api.post(f"/api/v1/campaigns/{campaign.pk}/members/", {"contact": contact.pk})
    assert response.status_code == 404
