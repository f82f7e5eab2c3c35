"""Lead conversion (all or nothing, duplicate matching) and do-not-market suppression."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import Account, Contact
from accounts.services import DuplicateAccountError, contact_create
from leads.models import Lead, LeadStatus
from leads.selectors import campaign_member_export, campaign_member_list, suppressed_contact_ids
from leads.services import campaign_member_add, lead_convert, lead_create
from opportunities.models import Opportunity, OpportunitySplit, StageChange
from opportunities.services import opportunity_move_stage
from tests.conftest import World
from tests.opportunities.factories import (
    CampaignFactory,
    LeadFactory,
    OpportunityFactory,
    account_for,
    process_for,
    stage_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(world: World) -> Lead:
    for company in (world.se, world.dk):
        process_for(company)
    campaign = CampaignFactory(organization=world.org, owner=world.marketing)
    return lead_create(
        organization=world.org,
        acting_user=world.marketing,
        company_name="Ikea of Sweden AB",
        registration_number="556074-7551",
        contact_name="Ingvar Kamprad",
        email="Ingvar@Ikea.example",
        country="SE",
        source="Elmia",
        campaign=campaign,
    )


def _counts(world: World) -> tuple[int, int, int, int]:
    return (
        Account.objects.for_org(world.org).count(),
        Contact.objects.for_org(world.org).count(),
        Opportunity.objects.for_org(world.org).count(),
        StageChange.objects.for_org(world.org).count(),
    )


def test_convert_creates_account_contact_and_opportunity(world: World, lead: Lead) -> None:
    result = lead_convert(
        lead=lead,
        acting_user=world.manager_se,
        owner=world.rep_se,
        opportunity_name="Ikea pumps",
        amount=Decimal(5000),
    )
    assert result.account_created
    assert (result.account.name, result.account.home_company) == ("Ikea of Sweden AB", world.se)
    assert result.account.registration_number == "556074-7551"
    assert (result.contact.account, result.contact.email) == (result.account, "ingvar@ikea.example")
    opp = result.opportunity
    assert (opp.name, opp.owner, opp.sales_company, opp.amount) == (
        "Ikea pumps",
        world.rep_se,
        world.se,
        Decimal(5000),
    )
    assert (opp.source_lead, opp.campaign) == (lead, lead.campaign)
    assert OpportunitySplit.objects.for_org(world.org).filter(opportunity=opp).count() == 1
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED
    assert (lead.converted_account, lead.converted_contact, lead.converted_opportunity) == (
        result.account,
        result.contact,
        opp,
    )
    with pytest.raises(ValidationError, match="converted"):
        lead_convert(
            lead=lead, acting_user=world.manager_se, owner=world.rep_se, create_account=True
        )


def test_a_failure_leaves_nothing_half_written(world: World, lead: Lead) -> None:
    before = _counts(world)
    # The opportunity step fails (a DK stage for a SE deal) after account and contact were made.
    with pytest.raises(ValidationError, match="not a stage of"):
        lead_convert(
            lead=lead,
            acting_user=world.manager_se,
            owner=world.rep_se,
            local_stage=stage_for(world.dk, "Develop"),
        )
    assert _counts(world) == before
    lead.refresh_from_db()
    assert (lead.status, lead.converted_account_id) == (LeadStatus.NEW, None)


def test_duplicate_account_is_matched_not_recreated(world: World, lead: Lead) -> None:
    existing = account_for(world.se, "IKEA of Sweden", registration_number="SE5560747551")
    before = _counts(world)
    with pytest.raises(DuplicateAccountError) as exc:
        lead_convert(lead=lead, acting_user=world.manager_se, owner=world.rep_se)
    assert [c.account for c in exc.value.candidates] == [existing] and exc.value.hidden == 0
    assert _counts(world) == before
    # The seller picks the existing account...
    result = lead_convert(
        lead=lead, acting_user=world.manager_se, owner=world.rep_se, account=existing
    )
    assert (result.account, result.account_created) == (existing, False)
    assert Account.objects.for_org(world.org).count() == before[0]


def test_creating_despite_candidates_needs_confirmation(world: World, lead: Lead) -> None:
    account_for(world.se, "Ikea of Sweden AB")
    result = lead_convert(
        lead=lead, acting_user=world.manager_se, owner=world.rep_se, create_account=True
    )
    assert result.account_created
    assert Account.objects.for_org(world.org).filter(name__icontains="ikea").count() == 2


def test_who_may_convert(world: World, lead: Lead) -> None:
    for user in (world.rep_dk, world.stranger):
        with pytest.raises(Http404):
            lead_convert(lead=lead, acting_user=user, create_account=True)
    # Marketing hands leads over; booking the deal is sales' (and it leaves nothing behind).
    before = _counts(world)
    with pytest.raises(PermissionDenied):
        lead_convert(lead=lead, acting_user=world.marketing, create_account=True)
    assert _counts(world) == before
    result = lead_convert(
        lead=lead, acting_user=world.manager_se, owner=world.rep_se, create_account=True
    )
    assert result.opportunity.owner == world.rep_se


# --- suppression ---------------------------------------------------------------------------------


def test_contacts_in_negotiation_are_not_marketed_until_it_closes(world: World) -> None:
    process_for(world.se)
    negotiating = account_for(world.se, "Negotiating AB")
    proposing = account_for(world.se, "Proposing AB")
    mailable = {"marketing_consent": True}
    hot = contact_create(
        account=negotiating, full_name="Hot", email="hot@n.example", acting_user=None, **mailable
    )
    warm = contact_create(
        account=proposing, full_name="Warm", email="warm@p.example", acting_user=None, **mailable
    )
    deal = OpportunityFactory(account=negotiating, owner=world.rep_se, stage="Negotiate")
    OpportunityFactory(account=proposing, owner=world.rep_se, stage="Propose")
    campaign = CampaignFactory(organization=world.org, starts_on=dt.date(2026, 9, 1))
    for contact in (hot, warm):
        campaign_member_add(campaign=campaign, acting_user=None, contact=contact)

    assert set(suppressed_contact_ids(world.org).values_list("id", flat=True)) == {hot.pk}
    flags = {
        m.contact_id: m.do_not_market
        for m in campaign_member_list(campaign=campaign, user=world.marketing)
    }
    assert flags == {hot.pk: True, warm.pk: False}
    exported = [
        m.contact_id for m in campaign_member_export(campaign=campaign, user=world.marketing)
    ]
    assert exported == [warm.pk]

    # Closing the negotiation lifts the flag by itself.
    opportunity_move_stage(
        opportunity=deal, local_stage=stage_for(world.se, "Won"), acting_user=None
    )
    assert not suppressed_contact_ids(world.org).exists()
    exported = {
        m.contact_id for m in campaign_member_export(campaign=campaign, user=world.marketing)
    }
    assert exported == {hot.pk, warm.pk}
    # Export follows visibility: marketing of another organization gets nothing.
    assert not campaign_member_export(campaign=campaign, user=world.stranger).exists()


def test_the_mailing_export_is_a_known_answer_of_consent_and_addresses(world: World) -> None:
    """Issue 15, hole 8: only contacts who consented, with an address, not in negotiation;
    leads with an address."""
    process_for(world.se)
    calm = account_for(world.se, "Calm AB")
    negotiating = account_for(world.se, "Negotiating AB")
    OpportunityFactory(account=negotiating, owner=world.rep_se, stage="Negotiate")

    def contact(name: str, account: Account, *, consent: bool, email: str) -> Contact:
        return contact_create(
            account=account,
            full_name=name,
            email=email,
            marketing_consent=consent,
            acting_user=None,
        )

    yes = contact("Yes", calm, consent=True, email="yes@calm.example")
    no_consent = contact("No consent", calm, consent=False, email="no@calm.example")
    no_address = contact("No address", calm, consent=True, email="")
    in_negotiation = contact("Negotiating", negotiating, consent=True, email="n@neg.example")
    lead_with = LeadFactory(organization=world.org, email="lead@x.example")
    lead_without = LeadFactory(organization=world.org, email="")
    campaign = CampaignFactory(organization=world.org, starts_on=dt.date(2026, 9, 1))
    for c in (yes, no_consent, no_address, in_negotiation):
        campaign_member_add(campaign=campaign, acting_user=None, contact=c)
    for lead in (lead_with, lead_without):
        campaign_member_add(campaign=campaign, acting_user=None, lead=lead)

    exported = campaign_member_export(campaign=campaign, user=world.marketing)
    assert {(m.contact_id, m.lead_id) for m in exported} == {
        (yes.pk, None),
        (None, lead_with.pk),
    }
    # The page's CSV says the same.
    from django.test import Client

    client = Client()
    client.force_login(world.marketing)
    response = client.get(f"/campaigns/{campaign.pk}/members.csv")
    assert response.status_code == 200
    csv = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "yes@calm.example" in csv and "lead@x.example" in csv
    for left_out in ("no@calm.example", "No address"):
        assert left_out not in csv
    # Issue 18: the do-not-market contact is in the file, last, flagged with the reason (the
    # negotiating company, never the deal).
    *_, last = csv.strip().splitlines()
    assert last.startswith("Contact,Negotiating,")
    assert last.endswith(f",yes,Group in negotiation with {world.se.name}")


def test_a_duplicate_the_converter_cannot_see_blocks_unnamed(world: World, lead: Lead) -> None:
    """The same guard as every account create (accounts.services.account_create): a look-alike
    in a company the converter may not see blocks the conversion but is not named, on the
    service, the page and the API alike."""
    hidden = account_for(
        world.de, "IKEA of Sweden", country="SE", registration_number="SE5560747551"
    )
    before = _counts(world)
    with pytest.raises(DuplicateAccountError) as exc:
        lead_convert(lead=lead, acting_user=world.manager_se, owner=world.rep_se)
    assert exc.value.candidates == [] and exc.value.hidden == 1
    assert hidden.name not in str(exc.value)
    client = Client()
    client.force_login(world.manager_se)
    page = client.post(
        reverse("leads:lead_convert", args=[lead.pk]),
        {"account": "", "owner": world.rep_se.pk, "opportunity_name": "First order"},
    )
    assert page.status_code == 200 and hidden.name not in page.content.decode()
    assert page.context["hidden"] == 1
    api = APIClient()
    api.force_authenticate(world.manager_se)
    answer = api.post(f"/api/v1/leads/{lead.pk}/convert/", {"owner": world.rep_se.pk})
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert body["duplicates"] == [] and body["hidden_duplicates"] == 1
    assert hidden.name not in answer.content.decode()
    assert _counts(world) == before
