"""The opportunity list counts only up to a cap: no full COUNT(*) of a million rows per page."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from crm.pagination import CappedPaginator
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory

pytestmark = pytest.mark.django_db


def test_list_says_more_than_the_cap_and_still_pages(
    client: Client, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = make_account(organization=world.org, home_company=world.se)
    for _ in range(5):
        OpportunityFactory(account=account, owner=world.rep_se)
    client.force_login(world.rep_se)
    url = reverse("opportunities:list")
    page = client.get(url).context["page"]
    assert (page.paginator.count, page.paginator.capped) == (5, False)
    monkeypatch.setattr(CappedPaginator, "cap", 3)
    response = client.get(url)
    page = response.context["page"]
    assert page.paginator.capped and page.paginator.count == 4  # cap + 1: "more than 3"
    assert len(page.object_list) == 4
    counter = re.search(r'data-testid="count">([^<]*)<', response.content.decode()).group(1)
    assert "3" in counter and "4" not in counter


def test_capped_count_is_one_limited_query(world: World, django_assert_num_queries) -> None:
    from opportunities.models import Opportunity

    account = make_account(organization=world.org, home_company=world.se)
    for _ in range(3):
        OpportunityFactory(account=account, owner=world.rep_se)
    paginator = CappedPaginator(Opportunity.objects.for_org(world.org).order_by("pk"), 2)
    with django_assert_num_queries(1) as ctx:
        assert paginator.count == 3
    assert "LIMIT" in ctx.captured_queries[0]["sql"]
