"""Group-wide marketing suppression (issue 18): a deal of any company at any account of a group
holds back every contact of the group; stages that suppress are the organization's choice;
leads count as the customer they match; manual pauses per account or group; need-to-know."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Account, Contact
from accounts.services import contact_create
from crm.audit import history_for
from leads.models import Campaign, MarketingPause
from leads.selectors import campaign_member_export, campaign_member_list, suppressed_contact_ids
from leads.services import (
    campaign_member_add,
    lead_create,
    marketing_pause_create,
    marketing_pause_end,
)
from leads.suppression import account_suppression, suppression_reason
from opportunities.models import Opportunity
from pipeline.models import GlobalStage
from pipeline.services import global_stage_update
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import CampaignFactory, OpportunityFactory, process_for

pytestmark = pytest.mark.django_db


def _contact(account: Account, name: str) -> Contact:
    return contact_create(
        account=account,
        full_name=name,
        email=f"{name.split()[0].lower()}@{account.pk}.example",
        marketing_consent=True,
        acting_user=None,
    )


@pytest.fixture
def group(world: World) -> dict[str, object]:
    """A group with a Swedish parent and a Danish subsidiary, a contact at each, both members
    of a campaign; a German account outside the group as a control."""
    for company in (world.se, world.dk, world.de):
        process_for(company)
    parent = make_account(organization=world.org, home_company=world.se, name="Volvera AB")
    child = make_account(
        organization=world.org, home_company=world.dk, name="Volvera Danmark ApS", parent=parent
    )
    other = make_account(organization=world.org, home_company=world.de, name="Isar Werke GmbH")
    campaign = CampaignFactory(organization=world.org, owner=world.marketing, name="Newsletter")
    people = {
        "karin": _contact(parent, "Karin Lindqvist"),
        "mads": _contact(child, "Mads Holm"),
        "tobias": _contact(other, "Tobias Maier"),
    }
    for c in people.values():
        campaign_member_add(campaign=campaign, acting_user=None, contact=c)
    return {"parent": parent, "child": child, "other": other, "campaign": campaign, **people}


def _flags(campaign: Campaign, world: World) -> dict[str, tuple[bool, str]]:
    rows = campaign_member_list(campaign=campaign, user=world.marketing)
    return {
        (m.contact.full_name if m.contact else m.lead.contact_name): (
            m.do_not_market,
            suppression_reason(m),
        )
        for m in rows
    }


def test_a_deal_of_any_company_holds_back_the_whole_group(world: World, group: dict) -> None:
    campaign = group["campaign"]
    assert {k: v[0] for k, v in _flags(campaign, world).items()} == {
        "Karin Lindqvist": False,
        "Mads Holm": False,
        "Tobias Maier": False,
    }
    # Germany negotiates with the Danish subsidiary: the Swedish parent's buyer is held too.
    deal = OpportunityFactory(
        account=group["child"],
        owner=world.rep_de,
        stage="Negotiate",
        name="Secret drive retrofit",
        amount=Decimal("987654.00"),
    )
    flags = _flags(campaign, world)
    assert flags["Karin Lindqvist"][0] and flags["Mads Holm"][0]
    assert flags["Tobias Maier"] == (False, "")
    reason = flags["Karin Lindqvist"][1]
    # Need-to-know: the company that negotiates, never the deal.
    assert world.de.name in reason
    assert "Secret" not in reason and "987" not in reason
    assert set(suppressed_contact_ids(world.org).values_list("id", flat=True)) == {
        group["karin"].pk,
        group["mads"].pk,
    }
    # Won: the hold lifts by itself.
    won = GlobalStage.objects.for_org(world.org).get(is_won=True)
    Opportunity.objects.for_org(world.org).filter(pk=deal.pk).update(global_stage=won)
    assert not any(v[0] for v in _flags(campaign, world).values())


def test_which_stages_suppress_is_the_organizations_choice(world: World, group: dict) -> None:
    campaign = group["campaign"]
    OpportunityFactory(account=group["parent"], owner=world.rep_se, stage="Develop")
    assert not _flags(campaign, world)["Karin Lindqvist"][0]
    develop = GlobalStage.objects.for_org(world.org).get(name="Develop")
    global_stage_update(stage=develop, acting_user=world.admin, suppresses_marketing=True)
    assert _flags(campaign, world)["Mads Holm"][0]
    # The other organization's stages are its own.
    assert (
        not GlobalStage.objects.for_org(world.other_org)
        .filter(suppresses_marketing=True, name="Develop")
        .exists()
    )


def test_the_export_flags_held_back_members_with_the_reason(
    world: World, group: dict, django_assert_max_num_queries: object
) -> None:
    OpportunityFactory(account=group["parent"], owner=world.rep_se, stage="Negotiate")
    client = Client()
    client.force_login(world.marketing)
    url = reverse("leads:campaign_export", args=[group["campaign"].pk])
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="campaign-newsletter-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][-2:] == ["Do not market", "Reason"]
    by_name = {r[1]: r for r in rows[1:]}
    assert by_name["Tobias Maier"][-2:] == ["no", ""]
    assert by_name["Mads Holm"][-2:] == ["yes", f"Group in negotiation with {world.se.name}"]
    # Those that may be mailed come first.
    assert rows[1][1] == "Tobias Maier"
    # The API's ?export=1 (for mailing tools) leaves them out, and its list says why.
    api = APIClient()
    api.force_authenticate(world.marketing)
    members = f"/api/v1/campaigns/{group['campaign'].pk}/members/"
    exported = api.get(members, {"export": 1}).json()
    assert [m["contact"] for m in exported] == [group["tobias"].pk]
    listed = {m["contact"]: m for m in api.get(members).json()}
    assert listed[group["mads"].pk]["do_not_market"] is True
    assert world.se.name in listed[group["mads"].pk]["suppression_reason"]


def test_export_and_member_list_run_a_constant_number_of_queries(world: World, group: dict) -> None:
    OpportunityFactory(account=group["parent"], owner=world.rep_se, stage="Negotiate")
    client = Client()
    client.force_login(world.marketing)
    campaign = group["campaign"]
    url = reverse("leads:campaign_export", args=[campaign.pk])
    members = f"/api/v1/campaigns/{campaign.pk}/members/"
    api = APIClient()
    api.force_authenticate(world.marketing)

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as export:
            b"".join(client.get(url).streaming_content)
        with CaptureQueriesContext(connection) as listed:
            assert api.get(members).status_code == 200
        return len(export), len(listed)

    before = count()
    for i in range(6):
        account = make_account(organization=world.org, home_company=world.se, name=f"More {i} AB")
        OpportunityFactory(account=account, owner=world.rep_se, stage="Negotiate")
        campaign_member_add(campaign=campaign, acting_user=None, contact=_contact(account, "X Y"))
        lead = lead_create(
            organization=world.org, acting_user=world.marketing, company_name=f"More {i} AB",
            contact_name=f"Lead {i}", email=f"l{i}@more.example", country="SE", source="Web",
        )  # fmt: skip
        campaign_member_add(campaign=campaign, acting_user=None, lead=lead)
    assert count() == before


def test_a_lead_is_flagged_at_entry_and_in_the_export(world: World, group: dict) -> None:
    group["child"].domain = "volvera.example"
    Account.objects.for_org(world.org).filter(pk=group["child"].pk).update(domain="volvera.example")
    OpportunityFactory(account=group["parent"], owner=world.rep_se, stage="Negotiate")
    client = Client()
    client.force_login(world.marketing)
    # The e-mail's domain is the subsidiary's: the group is in negotiation.
    response = client.post(
        reverse("leads:lead_create"),
        {
            "company_name": "Some other name",
            "contact_name": "Lisa Lead",
            "email": "lisa@volvera.example",
            "country": "SE",
            "source": "Web",
        },
        follow=True,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="lead-do-not-market"' in html and world.se.name in html
    lead = response.context["lead"]
    assert lead.matched_account_id == group["child"].pk
    # By name too (normalized: legal form and case folded away), through the API.
    api = APIClient()
    api.force_authenticate(world.marketing)
    created = api.post(
        "/api/v1/leads/",
        {"company_name": "VOLVERA", "contact_name": "Nils", "country": "SE", "source": "Fair"},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["do_not_market"] is True
    assert world.se.name in created.json()["suppression_reason"]
    listed = {row["id"]: row for row in api.get("/api/v1/leads/").json()["results"]}
    assert listed[lead.pk]["do_not_market"] is True
    # An unrelated company is not flagged.
    calm = api.post(
        "/api/v1/leads/",
        {"company_name": "Calm Oy", "contact_name": "Aino", "country": "FI", "source": "Fair"},
        format="json",
    ).json()
    assert calm["do_not_market"] is False and calm["suppression_reason"] == ""
    # In the export: the lead member is flagged.
    campaign_member_add(campaign=group["campaign"], acting_user=None, lead=lead)
    rows = campaign_member_export(
        campaign=group["campaign"], user=world.marketing, include_suppressed=True
    )
    flagged = {m.lead_id: m.do_not_market for m in rows if m.lead_id}
    assert flagged == {lead.pk: True}


def test_pausing_marketing_per_account_and_per_group(world: World, group: dict) -> None:
    today = timezone.localdate()
    with pytest.raises(ValidationError) as bad:
        marketing_pause_create(
            account=group["parent"], acting_user=world.marketing, reason=" ",
            until=today - dt.timedelta(days=1),
        )  # fmt: skip
    assert set(bad.value.message_dict) == {"reason", "until"}
    pause = marketing_pause_create(
        account=group["child"], acting_user=world.marketing, reason="Complaint open",
        until=today + dt.timedelta(days=30),
    )  # fmt: skip
    flags = _flags(group["campaign"], world)
    assert flags["Mads Holm"][0] and "Complaint open" in flags["Mads Holm"][1]
    assert not flags["Karin Lindqvist"][0]  # only the account
    marketing_pause_end(pause=pause, acting_user=world.marketing)
    assert not _flags(group["campaign"], world)["Mads Holm"][0]
    marketing_pause_create(
        account=group["child"], acting_user=world.regional, reason="Reorganisation",
        until=today, whole_group=True,
    )  # fmt: skip
    flags = _flags(group["campaign"], world)
    assert flags["Karin Lindqvist"][0] and flags["Mads Holm"][0]
    assert not flags["Tobias Maier"][0]
    assert account_suppression(group["parent"]).do_not_market
    # The pause's last day is ``until``: tomorrow it no longer holds.
    MarketingPause.objects.for_org(world.org).update(until=today - dt.timedelta(days=1))
    assert not account_suppression(group["parent"]).do_not_market


def test_the_account_page_switch_and_its_history(world: World, group: dict) -> None:
    client = Client()
    client.force_login(world.marketing)
    account = group["parent"]
    card = client.get(reverse("leads:account_marketing", args=[account.pk]), HTTP_HX_REQUEST="true")
    assert card.status_code == 200 and 'data-testid="account-ok-to-market"' in card.content.decode()
    until = timezone.localdate() + dt.timedelta(days=14)
    url = reverse("leads:account_marketing_pause", args=[account.pk])
    bad = client.post(url, {"reason": "", "until": "not a date"})
    assert bad.status_code == 400 and 'id="form-errors"' in bad.content.decode()
    done = client.post(url, {"reason": "Key account review", "until": until.isoformat()})
    assert done.status_code == 302
    card = client.get(reverse("leads:account_marketing", args=[account.pk])).content.decode()
    assert 'data-testid="account-do-not-market"' in card and "Key account review" in card
    # The History of the account shows the pause, with who set it.
    entries = history_for(user=world.director, obj=account)
    pauses = [e for e in entries if e.kind == "marketing pause"]
    assert pauses and pauses[0].changes["reason"] == (None, "Key account review")
    assert pauses[0].user_id == world.marketing.pk
    pause = MarketingPause.objects.for_org(world.org).get()
    end = reverse("leads:account_marketing_end", args=[account.pk, pause.pk])
    # A colleague who may only read the account (a Danish rep) may not end it.
    client.force_login(world.rep_dk)
    assert client.post(end).status_code in (403, 404)
    client.force_login(world.marketing)
    assert client.post(end).status_code == 302
    assert not account_suppression(account).do_not_market


def test_marketing_pages_and_api_are_walled(world: World, group: dict) -> None:
    account = group["parent"]
    pause = marketing_pause_create(
        account=account, acting_user=world.marketing, reason="Audit",
        until=timezone.localdate() + dt.timedelta(days=3),
    )  # fmt: skip
    urls = [
        reverse("leads:account_marketing", args=[account.pk]),
    ]
    posts = [
        reverse("leads:account_marketing_pause", args=[account.pk]),
        reverse("leads:account_marketing_end", args=[account.pk, pause.pk]),
    ]
    client = Client()
    api = APIClient()
    # Another organization, and a rep of another sales company who does not see the account.
    for outsider in (world.stranger, world.rep_de):
        client.force_login(outsider)
        for url in urls:
            assert client.get(url).status_code == 404
        for url in posts:
            assert client.post(url, {"reason": "x", "until": "2030-01-01"}).status_code == 404
        api.force_authenticate(outsider)
        assert api.get(f"/api/v1/marketing-pauses/{pause.pk}/").status_code == 404
        assert api.post(f"/api/v1/marketing-pauses/{pause.pk}/end/").status_code == 404
        created = api.post(
            "/api/v1/marketing-pauses/",
            {"account": account.pk, "reason": "x", "until": "2030-01-01"},
            format="json",
        )
        assert created.status_code == 400 and "account" in created.json()
        assert api.get("/api/v1/marketing-pauses/").json()["results"] == []
    assert MarketingPause.objects.for_org(world.org).get().ended_at is None


def test_the_pause_api(world: World, group: dict) -> None:
    api = APIClient()
    api.force_authenticate(world.marketing)
    until = (timezone.localdate() + dt.timedelta(days=10)).isoformat()
    bad = api.post(
        "/api/v1/marketing-pauses/",
        {"account": group["child"].pk, "reason": "", "until": until},
        format="json",
    )
    assert bad.status_code == 400 and "reason" in bad.json()
    made = api.post(
        "/api/v1/marketing-pauses/",
        {"account": group["child"].pk, "reason": "Tender", "until": until, "whole_group": True},
        format="json",
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["group"] == group["parent"].pk and body["ended_at"] is None
    assert account_suppression(group["other"]).do_not_market is False
    assert account_suppression(group["parent"]).do_not_market is True
    ended = api.post(f"/api/v1/marketing-pauses/{body['id']}/end/")
    assert ended.status_code == 200 and ended.json()["ended_at"] is not None
    assert account_suppression(group["parent"]).do_not_market is False
