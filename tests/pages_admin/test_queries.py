"""List pages run a constant number of SQL queries, whatever the number of rows."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from accounts.services import contact_create
from leads.services import lead_create
from tests.conftest import World
from tests.factories import ExchangeRateFactory, UserFactory
from tests.opportunities.factories import (
    CampaignFactory,
    CampaignMemberFactory,
    OpportunityFactory,
    account_for,
)
from tests.pages_admin.conftest import Marketing

pytestmark = pytest.mark.django_db


def _count(client: Client, url: str, django_assert_max_num_queries: Callable, limit: int) -> None:
    with django_assert_max_num_queries(limit):
        assert client.get(url).status_code == 200


def _grow(world: World, marketing_world: Marketing, n: int) -> None:
    for i in range(n):
        lead_create(
            organization=world.org,
            acting_user=world.marketing,
            company_name=f"Grow {i} AB",
            contact_name=f"Person {i}",
            country="SE" if i % 2 else "DK",
            source="web",
            campaign=marketing_world.campaign,
            owner=world.rep_se,
        )
        account = account_for(world.se, f"Volvo Grow {i} AB")
        contact = contact_create(account=account, full_name=f"Volvo {i}", acting_user=None)
        CampaignMemberFactory(campaign=marketing_world.campaign, contact=contact)
        CampaignFactory(organization=world.org, owner=world.marketing)
        OpportunityFactory(account=account, owner=world.rep_se, name=f"Volvo deal {i}")
        UserFactory(organization=world.org, role="sales_rep", sales_company=world.se)
        ExchangeRateFactory(organization=world.org, currency="SEK")


LISTS = [
    ("manager_se", lambda m: reverse("leads:lead_list") + "?status=new"),
    ("marketing", lambda m: reverse("leads:lead_list")),
    ("marketing", lambda m: reverse("leads:campaign_list")),
    ("marketing", lambda m: reverse("leads:campaign_detail", args=[m.campaign.pk]) + "?q=volvo"),
    ("director", lambda m: reverse("search") + "?q=volvo"),
    ("rep_se", lambda m: reverse("search") + "?q=volvo"),
    ("admin", lambda m: reverse("setup:users")),
    ("admin", lambda m: reverse("setup:rates") + "?currency=SEK"),
    ("admin", lambda m: reverse("setup:processes")),
    ("admin", lambda m: reverse("setup:companies")),
    ("director", lambda m: reverse("setup:teams") + "?q=volvo"),
    ("director", lambda m: reverse("setup:agreements")),
]


@pytest.mark.parametrize(("who", "url"), LISTS)
def test_list_pages_run_constant_queries(
    client: Client,
    world: World,
    marketing_world: Marketing,
    django_assert_max_num_queries: Callable,
    who: str,
    url: Callable[[Marketing], str],
) -> None:
    client.force_login(getattr(world, who))
    address = url(marketing_world)
    _grow(world, marketing_world, 2)
    with django_assert_max_num_queries(40) as few:
        assert client.get(address).status_code == 200
    _grow(world, marketing_world, 30)
    # Same budget with 15x the rows: nothing runs per row.
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(address).status_code == 200
