"""Who may open which page: allowed roles 200, other roles 403, other organizations' rows 404."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import World
from tests.opportunities.factories import LeadFactory, global_stages_for, process_for
from tests.pages_admin.conftest import (
    ADMIN_USERS,
    LEAD_ROLE_USERS,
    NOT_ADMIN_USERS,
    NOT_LEAD_ROLE_USERS,
    Marketing,
)

pytestmark = pytest.mark.django_db

LEAD_PAGES = [
    "leads:lead_list",
    "leads:lead_create",
    "leads:campaign_list",
    "leads:campaign_create",
]
SETUP_PAGES = [
    "setup:index",
    "setup:stages",
    "setup:processes",
    "setup:process_create",
    "setup:companies",
    "setup:company_create",
    "setup:users",
    "setup:user_create",
    "setup:rates",
]


@pytest.mark.parametrize("who", LEAD_ROLE_USERS)
def test_lead_pages_open_for_lead_roles(
    client: Client, world: World, marketing_world: Marketing, who: str
) -> None:
    client.force_login(getattr(world, who))
    for name in LEAD_PAGES:
        assert client.get(reverse(name)).status_code == 200, name
    m = marketing_world
    assert client.get(reverse("leads:campaign_detail", args=[m.campaign.pk])).status_code == 200


@pytest.mark.parametrize("who", NOT_LEAD_ROLE_USERS)
def test_lead_management_pages_refuse_sellers(
    client: Client, world: World, marketing_world: Marketing, who: str
) -> None:
    """Sellers list the leads handed to them (issue 18); lead management (new lead, campaigns)
    stays 403, and a lead not assigned to them is a 404."""
    client.force_login(getattr(world, who))
    m = marketing_world
    assert client.get(reverse("leads:lead_list")).status_code == 200
    for url in [
        *(reverse(n) for n in LEAD_PAGES if n != "leads:lead_list"),
        reverse("leads:campaign_detail", args=[m.campaign.pk]),
        reverse("leads:campaign_export", args=[m.campaign.pk]),
    ]:
        assert client.get(url).status_code == 403, url
    assert client.get(reverse("leads:lead_detail", args=[m.lead.pk])).status_code == 404


def test_marketing_may_not_convert(
    client: Client, world: World, marketing_world: Marketing
) -> None:
    client.force_login(world.marketing)
    url = reverse("leads:lead_convert", args=[marketing_world.lead.pk])
    assert client.get(url).status_code == 403
    client.force_login(world.manager_se)
    assert client.get(url).status_code == 200


def test_other_organizations_leads_and_campaigns_are_404(
    client: Client, world: World, marketing_world: Marketing
) -> None:
    m = marketing_world
    foreign_lead = LeadFactory(organization=world.other_org, sales_company=world.other_company)
    client.force_login(world.marketing)
    for url in [
        reverse("leads:lead_detail", args=[foreign_lead.pk]),
        reverse("leads:lead_disqualify", args=[foreign_lead.pk]),
        reverse("leads:lead_assign", args=[foreign_lead.pk]),
    ]:
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("leads:lead_qualify", args=[foreign_lead.pk])).status_code == 404
    client.force_login(world.manager_se)
    assert client.get(reverse("leads:lead_convert", args=[foreign_lead.pk])).status_code == 404
    # The stranger's organization has its own admin-free world: a Nordvik campaign is missing.
    from crm.roles import Role
    from tests.factories import UserFactory

    tellus_marketing = UserFactory(organization=world.other_org, role=Role.MARKETING)
    client.force_login(tellus_marketing)
    for url in [
        reverse("leads:campaign_detail", args=[m.campaign.pk]),
        reverse("leads:campaign_export", args=[m.campaign.pk]),
        reverse("leads:lead_detail", args=[m.lead.pk]),
    ]:
        assert client.get(url).status_code == 404, url


def test_a_company_bound_marketer_does_not_see_other_companies_leads(
    client: Client, world: World, marketing_world: Marketing
) -> None:
    dk_lead = LeadFactory(organization=world.org, sales_company=world.dk, country="DK")
    client.force_login(world.marketing_se)
    assert client.get(reverse("leads:lead_detail", args=[dk_lead.pk])).status_code == 404
    html = client.get(reverse("leads:lead_list")).content.decode()
    assert "Scania AB" in html and dk_lead.company_name not in html


@pytest.mark.parametrize("who", ADMIN_USERS)
def test_setup_pages_open_for_the_global_admin(client: Client, world: World, who: str) -> None:
    client.force_login(getattr(world, who))
    for name in [*SETUP_PAGES, "setup:agreements", "setup:teams"]:
        assert client.get(reverse(name)).status_code == 200, name
    stage = global_stages_for(world.org)["Propose"]
    assert client.get(reverse("setup:stage_edit", args=[stage.pk])).status_code == 200


@pytest.mark.parametrize("who", NOT_ADMIN_USERS)
def test_setup_pages_refuse_everyone_else(client: Client, world: World, who: str) -> None:
    client.force_login(getattr(world, who))
    for name in SETUP_PAGES:
        assert client.get(reverse(name)).status_code == 403, name
    stage = global_stages_for(world.org)["Propose"]
    assert client.get(reverse("setup:stage_edit", args=[stage.pk])).status_code == 403
    # Agreements and teams: the director's too (accounts.services), nobody else's.
    expected = 200 if who == "director" else 403
    for name in ["setup:agreements", "setup:teams"]:
        assert client.get(reverse(name)).status_code == expected, name


def test_setup_objects_of_other_organizations_are_404(client: Client, world: World) -> None:
    process_for(world.other_company)
    from pipeline.models import LocalStage

    foreign_stage = LocalStage.objects.for_org(world.other_org).first()
    client.force_login(world.admin)
    for url in [
        reverse("setup:company_edit", args=[world.other_company.pk]),
        reverse("setup:user_edit", args=[world.stranger.pk]),
        reverse("setup:stage_remap", args=[foreign_stage.pk]),
        reverse("setup:stage_edit", args=[foreign_stage.global_stage_id]),
        f"{reverse('setup:process_create')}?company={world.other_company.pk}",
    ]:
        assert client.get(url).status_code == 404, url


def test_anonymous_is_sent_to_sign_in(client: Client) -> None:
    for url in [reverse("leads:lead_list"), reverse("setup:index"), reverse("search")]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_error_pages_are_friendly(client: Client, world: World) -> None:
    client.force_login(world.rep_se)
    response = client.get(reverse("setup:index"))
    assert response.status_code == 403
    assert b"<h1>" in response.content and b"role" in response.content
