"""Leads (routing, status changes, who may work them) and campaigns (scope, members)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from leads.models import CampaignMember, LeadStatus
from leads.selectors import access_lead_by_id, campaign_list, lead_list
from leads.services import (
    campaign_create,
    campaign_member_add,
    lead_assign,
    lead_create,
    lead_disqualify,
    lead_qualify,
    lead_work,
)
from tests.conftest import World
from tests.opportunities.factories import CampaignFactory, LeadFactory

pytestmark = pytest.mark.django_db


def _lead(world: World, country: str, **kw):
    return lead_create(
        organization=world.org,
        acting_user=kw.pop("acting_user", world.marketing),
        company_name=kw.pop("company_name", "Ikea AB"),
        contact_name="Anna Andersson",
        country=country,
        source="trade show",
        **kw,
    )


def test_lead_is_routed_to_the_countrys_sales_company(world: World) -> None:
    assert _lead(world, "se").sales_company == world.se
    assert _lead(world, "DK").sales_company == world.dk
    assert _lead(world, "DE").sales_company == world.de
    assert _lead(world, "FR").sales_company is None  # no company there: global marketing's
    with pytest.raises(PermissionDenied):
        _lead(world, "SE", acting_user=world.stranger)


def test_lead_status_changes_and_who_may_make_them(world: World) -> None:
    lead = _lead(world, "SE")
    # Users who cannot see the lead learn nothing about it.
    for user in (world.rep_dk, world.manager_de, world.stranger):
        with pytest.raises(Http404):
            lead_qualify(lead=lead, acting_user=user)
    # A SE rep does not see a lead of his company that is not assigned to him (404), and working
    # one assigned to him is still marketing's and the managers' (403).
    with pytest.raises(Http404):
        lead_qualify(lead=lead, acting_user=world.rep_se)
    lead = lead_assign(lead=lead, owner=world.rep_se, acting_user=world.marketing_se)
    with pytest.raises(PermissionDenied):
        lead_qualify(lead=lead, acting_user=world.rep_se)
    lead = lead_work(lead=lead, acting_user=world.marketing_se)
    assert lead.status == LeadStatus.WORKING
    lead = lead_qualify(lead=lead, acting_user=world.manager_se)
    assert lead.status == LeadStatus.QUALIFIED
    with pytest.raises(ValidationError, match="qualified"):
        lead_work(lead=lead, acting_user=world.marketing)
    with pytest.raises(ValidationError, match="why"):
        lead_disqualify(lead=lead, acting_user=world.marketing, reason="  ")
    lead = lead_disqualify(lead=lead, acting_user=world.marketing, reason="Student project")
    assert (lead.status, lead.disqualified_reason) == (LeadStatus.DISQUALIFIED, "Student project")
    with pytest.raises(ValidationError):
        lead_qualify(lead=lead, acting_user=world.marketing)


def test_lead_list_per_role(world: World) -> None:
    se = _lead(world, "SE", company_name="Se AB")
    dk = _lead(world, "DK", company_name="Dk A/S")
    fr = _lead(world, "FR", company_name="Fr SA", owner=world.rep_de)
    expected = {
        "admin": {se, dk, fr},
        "director": {se, dk, fr},
        "marketing": {se, dk, fr},
        "regional": {se, dk},
        "manager_se": {se},
        "marketing_se": {se},
        # Sellers: the leads assigned to them only, not their company's inbox.
        "rep_se": set(),
        "rep_dk": set(),
        "rep_de": {fr},  # owned
        "manager_de": set(),
        "stranger": set(),
    }
    for role, user in world.users().items():
        assert set(lead_list(user=user)) == expected[role], role
    assert set(lead_list(user=world.admin, search="dk a/s")) == {dk}
    with pytest.raises(Http404):
        access_lead_by_id(world.rep_dk, se.pk)


def test_campaign_scope_and_members(world: World) -> None:
    kwargs = {
        "name": "Elmia 2026",
        "kind": "trade_show",
        "starts_on": dt.date(2026, 5, 5),
        "ends_on": dt.date(2026, 5, 8),
        "currency": "SEK",
    }
    with pytest.raises(PermissionDenied):
        campaign_create(organization=world.org, acting_user=world.rep_se, **kwargs)
    with pytest.raises(PermissionDenied, match="DE"):
        campaign_create(
            organization=world.org,
            acting_user=world.marketing_se,
            sales_companies=[world.se, world.de],
            **kwargs,
        )
    campaign = campaign_create(
        organization=world.org,
        acting_user=world.marketing_se,
        sales_companies=[world.se],
        **kwargs,
    )
    with pytest.raises(ValidationError):
        campaign_create(
            organization=world.org,
            acting_user=world.marketing,
            **{**kwargs, "ends_on": dt.date(2026, 5, 1)},
        )
    lead = _lead(world, "SE", campaign=campaign)
    # lead_create enrolled the lead; adding it again is a no-op.
    member = campaign_member_add(campaign=campaign, acting_user=world.marketing_se, lead=lead)
    assert CampaignMember.objects.for_org(world.org).filter(campaign=campaign).count() == 1
    member = campaign_member_add(
        campaign=campaign, acting_user=world.marketing_se, lead=lead, attended=True
    )
    assert member.attended
    dk_lead = LeadFactory(organization=world.org, country="DK", sales_company=world.dk)
    with pytest.raises(Http404):  # marketing SE cannot enrol a DK lead it cannot see
        campaign_member_add(campaign=campaign, acting_user=world.marketing_se, lead=dk_lead)
    with pytest.raises(ValidationError):
        campaign_member_add(campaign=campaign, acting_user=world.marketing)
    # The calendar: everyone in the organization; "mine" filters by company.
    CampaignFactory(organization=world.org, name="DE only")
    de_only = campaign_list(user=world.admin).get(name="DE only")
    from leads.models import CampaignCompany

    CampaignCompany.objects.create(organization=world.org, campaign=de_only, sales_company=world.de)
    assert {c.name for c in campaign_list(user=world.rep_se)} == {"Elmia 2026", "DE only"}
    assert {c.name for c in campaign_list(user=world.rep_se, mine_only=True)} == {"Elmia 2026"}
    assert list(campaign_list(user=world.stranger)) == []
    assert campaign_list(user=world.admin, active_on=dt.date(2026, 5, 6)).get() == campaign
