"""Issue 18: the lead hand-over from marketing to a seller. A lead assigned to rep.se is his to
open (list, page, My tasks) and convert into his deal; a rep of another company and a user of
another organization get 404 on it; country managers have the Leads link and may convert."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from leads.models import Lead, LeadStatus
from leads.services import lead_assign, lead_create
from meridian.navigation import navigation_for
from opportunities.models import Opportunity
from tests.conftest import World
from tests.pages_admin.conftest import Marketing

pytestmark = pytest.mark.django_db


def _assigned(world: World, m: Marketing) -> Lead:
    return lead_assign(lead=m.lead, owner=world.rep_se, acting_user=world.marketing)


def test_the_assigned_rep_opens_his_lead_and_sees_it_in_my_tasks(
    client: Client, world: World, marketing_world: Marketing
) -> None:
    lead = _assigned(world, marketing_world)
    other = lead_create(
        organization=world.org, acting_user=world.marketing, company_name="Unassigned AB",
        contact_name="Ulla", country="SE", source="web",
    )  # fmt: skip
    client.force_login(world.rep_se)
    listing = client.get(reverse("leads:lead_list"))
    assert listing.status_code == 200
    assert [row.pk for row in listing.context["page"]] == [lead.pk]
    assert reverse("leads:lead_create") not in listing.content.decode()
    detail = client.get(reverse("leads:lead_detail", args=[lead.pk]))
    assert detail.status_code == 200
    html = detail.content.decode()
    assert reverse("leads:lead_convert", args=[lead.pk]) in html
    # Working the lead stays marketing's: no qualify, assign or disqualify for him.
    assert reverse("leads:lead_assign", args=[lead.pk]) not in html
    assert reverse("leads:lead_disqualify", args=[lead.pk]) not in html
    assert client.get(reverse("leads:lead_detail", args=[other.pk])).status_code == 404
    tasks = client.get(reverse("accounts:tasks"))
    assert list(tasks.context["leads"]) == [lead]
    assert reverse("leads:lead_detail", args=[lead.pk]) in tasks.content.decode()
    assert "Unassigned AB" not in tasks.content.decode()


def test_the_rep_converts_his_lead_into_his_deal(
    client: Client, world: World, marketing_world: Marketing
) -> None:
    lead = _assigned(world, marketing_world)
    client.force_login(world.rep_se)
    url = reverse("leads:lead_convert", args=[lead.pk])
    form = client.get(url).context["form"]
    # He books for himself only.
    assert list(form.fields["owner"].queryset) == [world.rep_se]
    response = client.post(
        url, {"account": "new", "owner": world.rep_se.pk, "expected_close_date": "2027-03-15"}
    )
    assert response.status_code == 302, response.content
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED
    deal = Opportunity.objects.for_org(world.org).get(pk=lead.converted_opportunity_id)
    assert deal.owner == world.rep_se and deal.source_lead_id == lead.pk
    assert deal.expected_close_date.isoformat() == "2027-03-15"
    # Converted: gone from My tasks.
    assert list(client.get(reverse("accounts:tasks")).context["leads"]) == []


def test_the_rep_may_not_book_the_deal_for_someone_else(
    client: Client, world: World, marketing_world: Marketing
) -> None:
    lead = _assigned(world, marketing_world)
    client.force_login(world.rep_se)
    url = reverse("leads:lead_convert", args=[lead.pk])
    response = client.post(url, {"account": "new", "owner": world.manager_se.pk})
    assert response.status_code == 200 and "owner" in response.context["form"].errors
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NEW


@pytest.mark.parametrize("who", ["rep_dk", "rep_de", "manager_de", "stranger"])
def test_another_companys_rep_and_another_org_get_404_on_the_lead(
    client: Client, world: World, marketing_world: Marketing, who: str
) -> None:
    lead = _assigned(world, marketing_world)
    user = getattr(world, who)
    client.force_login(user)
    for name in ("leads:lead_detail", "leads:lead_convert"):
        assert client.get(reverse(name, args=[lead.pk])).status_code == 404, name
    assert (
        client.post(reverse("leads:lead_convert", args=[lead.pk]), {"account": "new"}).status_code
        == 404
    )
    assert lead.pk not in [row.pk for row in client.get(reverse("leads:lead_list")).context["page"]]
    api = APIClient()
    api.force_authenticate(user)
    assert api.get(f"/api/v1/leads/{lead.pk}/").status_code == 404
    assert (
        api.post(
            f"/api/v1/leads/{lead.pk}/convert/", {"create_account": True}, format="json"
        ).status_code
        == 404
    )
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NEW


def test_the_api_gives_the_rep_his_leads_and_the_conversion(
    world: World, marketing_world: Marketing
) -> None:
    lead = _assigned(world, marketing_world)
    api = APIClient()
    api.force_authenticate(world.rep_se)
    listed = api.get("/api/v1/leads/").json()
    assert [row["id"] for row in listed["results"]] == [lead.pk]
    assert api.post(f"/api/v1/leads/{lead.pk}/qualify/", {}, format="json").status_code == 403
    done = api.post(f"/api/v1/leads/{lead.pk}/convert/", {"create_account": True}, format="json")
    assert done.status_code == 201, done.content
    assert (
        Opportunity.objects.for_org(world.org).get(pk=done.json()["opportunity"]).owner
        == world.rep_se
    )


def test_country_managers_have_the_leads_link_and_may_convert(
    client: Client, world: World, marketing_world: Marketing
) -> None:
    names = [link.name for link in navigation_for(world.manager_se)]
    assert "leads:lead_list" in names
    assert "leads:lead_list" in [link.name for link in navigation_for(world.rep_se)]
    client.force_login(world.manager_se)
    detail = client.get(reverse("leads:lead_detail", args=[marketing_world.lead.pk]))
    assert reverse("leads:lead_convert", args=[marketing_world.lead.pk]) in detail.content.decode()


@pytest.mark.parametrize("rows", [2, 20])
def test_my_tasks_and_the_rep_lead_list_count_constant_queries(
    client: Client,
    world: World,
    marketing_world: Marketing,
    rows: int,
    django_assert_max_num_queries: object,
) -> None:
    for i in range(rows):
        lead = lead_create(
            organization=world.org, acting_user=world.marketing, company_name=f"Lead {i} AB",
            contact_name="C", country="SE", source="web",
        )  # fmt: skip
        lead_assign(lead=lead, owner=world.rep_se, acting_user=world.marketing)
    client.force_login(world.rep_se)
    with django_assert_max_num_queries(9):
        tasks = client.get(reverse("accounts:tasks"))
    assert len(tasks.context["leads"]) == rows
    with django_assert_max_num_queries(9):
        listing = client.get(reverse("leads:lead_list"))
    assert len(listing.context["page"].object_list) == rows
