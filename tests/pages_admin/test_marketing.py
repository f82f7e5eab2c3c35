"""Leads inbox and campaigns: the pages call the services and show their answers."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account
from accounts.services import contact_create
from crm.spreadsheet import csv_text as csv_safe
from leads.models import CampaignMember, Lead, LeadStatus
from leads.services import lead_create
from opportunities.models import Opportunity
from tests.conftest import World
from tests.opportunities.factories import (
    CampaignMemberFactory,
    OpportunityFactory,
    account_for,
    stage_for,
)
from tests.pages_admin.conftest import Marketing

pytestmark = pytest.mark.django_db


def test_filters_by_status_company_and_campaign(
    client: Client, world: World, marketing_world: Marketing
) -> None:
    lead_create(
        organization=world.org, acting_user=world.marketing, company_name="Carlsberg A/S",
        contact_name="Carl", country="DK", source="web",
    )  # fmt: skip
    client.force_login(world.marketing)
    url = reverse("leads:lead_list")
    html = client.get(url, {"company": world.dk.pk}).content.decode()
    assert "Carlsberg" in html and "Scania" not in html
    html = client.get(url, {"campaign": marketing_world.campaign.pk}).content.decode()
    assert "Scania" in html and "Carlsberg" not in html
    html = client.get(url, {"status": "qualified"}).content.decode()
    assert "Scania" not in html and "Carlsberg" not in html


def test_create_qualify_and_disqualify_with_reason(client: Client, world: World) -> None:
    client.force_login(world.marketing)
    response = client.post(
        reverse("leads:lead_create"),
        {"company_name": "Ericsson AB", "contact_name": "Erik", "country": "se", "source": "web"},
    )
    lead = Lead.objects.for_org(world.org).get(company_name="Ericsson AB")
    assert response.status_code == 302 and lead.sales_company == world.se
    client.post(reverse("leads:lead_qualify", args=[lead.pk]))
    lead.refresh_from_db()
    assert lead.status == LeadStatus.QUALIFIED
    url = reverse("leads:lead_disqualify", args=[lead.pk])
    response = client.post(url, {"reason": ""})
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    client.post(url, {"reason": "No budget"})
    lead.refresh_from_db()
    assert (lead.status, lead.disqualified_reason) == (LeadStatus.DISQUALIFIED, "No budget")


def test_create_shows_field_errors(client: Client, world: World) -> None:
    client.force_login(world.marketing)
    response = client.post(reverse("leads:lead_create"), {"company_name": "", "country": "S"})
    html = response.content.decode()
    assert response.status_code == 200 and 'role="alert"' in html
    assert 'aria-invalid="true"' in html
    assert not Lead.objects.for_org(world.org).exists()


def test_convert_shows_duplicates_then_uses_the_chosen_account(
    client: Client, world: World, marketing_world: Marketing
) -> None:
    existing = account_for(world.se, "Scania CV AB", registration_number="556084-0976")
    lead = marketing_world.lead
    Lead.objects.for_org(world.org).filter(pk=lead.pk).update(registration_number="5560840976")
    client.force_login(world.manager_se)
    url = reverse("leads:lead_convert", args=[lead.pk])
    data = {"owner": world.rep_se.pk, "opportunity_name": "Scania trucks", "amount": "1000"}
    accounts_before = Account.objects.for_org(world.org).count()
    response = client.post(url, data)
    html = response.content.decode()
    # Nothing written: the candidates are shown to choose from.
    assert response.status_code == 200 and 'data-testid="duplicates"' in html
    # manager_se works in Swedish (the factory company language): the reasons are translated.
    assert "Scania CV AB" in html and "samma organisationsnummer" in html
    assert Account.objects.for_org(world.org).count() == accounts_before
    assert not Opportunity.objects.for_org(world.org).exists()
    response = client.post(url, {**data, "account": existing.pk})
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED and lead.converted_account == existing
    opportunity = Opportunity.objects.for_org(world.org).get()
    assert (opportunity.owner, opportunity.name) == (world.rep_se, "Scania trucks")
    assert Account.objects.for_org(world.org).count() == accounts_before


def test_convert_can_confirm_a_new_customer(
    client: Client, world: World, marketing_world: Marketing
) -> None:
    account_for(world.se, "Scania AB")
    client.force_login(world.manager_se)
    url = reverse("leads:lead_convert", args=[marketing_world.lead.pk])
    data = {"owner": world.rep_se.pk, "account": "new"}
    assert client.post(url, data).status_code == 302
    assert Account.objects.for_org(world.org).filter(normalized_name="scania").count() == 2


def test_convert_refuses_an_invisible_account_choice(
    client: Client, world: World, marketing_world: Marketing
) -> None:
    foreign = account_for(world.other_company, "Scania Tellus AB")
    client.force_login(world.manager_se)
    url = reverse("leads:lead_convert", args=[marketing_world.lead.pk])
    response = client.post(url, {"owner": world.rep_se.pk, "account": foreign.pk})
    assert response.status_code == 200
    assert not Opportunity.objects.for_org(world.org).exists()


def test_campaign_members_show_do_not_market_and_export_leaves_them_out(
    client: Client, world: World, marketing_world: Marketing
) -> None:
    m = marketing_world
    OpportunityFactory(
        account=m.account, owner=world.rep_se, local_stage=stage_for(world.se, "Negotiate")
    )
    formula = contact_create(
        account=account_for(world.se, "Formula AB"), full_name="=HYPERLINK(1)", acting_user=None,
        email="f@formula.example", marketing_consent=True,
    )  # fmt: skip
    CampaignMemberFactory(campaign=m.campaign, contact=formula)
    client.force_login(world.marketing)
    html = client.get(reverse("leads:campaign_detail", args=[m.campaign.pk])).content.decode()
    assert html.count('data-testid="do-not-market"') == 1 and "Anna Andersson" in html
    response = client.get(reverse("leads:campaign_export", args=[m.campaign.pk]))
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    names = [r[1] for r in rows[1:]]
    assert "Anna Andersson" not in names  # in negotiation: suppressed
    assert "'=HYPERLINK(1)" in names and "Sune Scania" in names


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_escaped(value: str) -> None:
    assert csv_safe(value) == "'" + value
    assert csv_safe("Volvo") == "Volvo"


def test_add_members_by_search(client: Client, world: World, marketing_world: Marketing) -> None:
    m = marketing_world
    new = contact_create(
        account=account_for(world.se, "Husqvarna AB"), full_name="Hugo", acting_user=None
    )
    client.force_login(world.marketing)
    url = reverse("leads:campaign_detail", args=[m.campaign.pk])
    html = client.get(url, {"q": "husq"}).content.decode()
    assert "Hugo" in html
    client.post(url, {"contact": new.pk})
    assert CampaignMember.objects.for_org(world.org).filter(contact=new).exists()
    # Someone invisible cannot be enrolled by id.
    foreign = contact_create(
        account=account_for(world.other_company, "Other AB"), full_name="X", acting_user=None
    )
    assert client.post(url, {"contact": foreign.pk}).status_code == 404
