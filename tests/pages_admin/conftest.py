"""Fixtures of the marketing and set-up page tests: a process per company, a campaign with
members, leads, and the role sets the pages admit."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from accounts.models import Account, Contact
from accounts.services import contact_create
from crm.roles import Role
from leads.models import Campaign, Lead
from leads.services import lead_create
from tests.conftest import World
from tests.opportunities.factories import (
    CampaignCompanyFactory,
    CampaignFactory,
    CampaignMemberFactory,
    account_for,
    process_for,
)

LEAD_ROLE_USERS = ["marketing", "marketing_se", "manager_se", "regional", "director", "admin"]
NOT_LEAD_ROLE_USERS = ["rep_se", "rep_dk", "rep_de"]
ADMIN_USERS = ["admin"]
NOT_ADMIN_USERS = ["director", "regional", "manager_se", "rep_se", "marketing"]


@dataclass
class Marketing:
    campaign: Campaign
    lead: Lead
    account: Account
    contact: Contact


@pytest.fixture
def marketing_world(world: World) -> Marketing:
    for company in (world.se, world.dk, world.de):
        process_for(company)
    campaign = CampaignFactory(organization=world.org, owner=world.marketing, name="Elmia 2026")
    CampaignCompanyFactory(campaign=campaign, sales_company=world.se)
    account = account_for(world.se, "Volvo Cars AB")
    contact = contact_create(
        account=account, full_name="Anna Andersson", email="anna@volvo.example", acting_user=None
    )
    CampaignMemberFactory(campaign=campaign, contact=contact)
    lead = lead_create(
        organization=world.org,
        acting_user=world.marketing,
        company_name="Scania AB",
        contact_name="Sune Scania",
        email="sune@scania.example",
        country="SE",
        source="Elmia",
        campaign=campaign,
    )
    return Marketing(campaign=campaign, lead=lead, account=account, contact=contact)


def user_of(world: World, name: str) -> object:
    return getattr(world, name)


__all__ = ["Role"]
