"""Managers see the deals they own or are credited on (a split), whichever company books them
(issue 17); a manager without either still gets 404 for another company's deal."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from opportunities.models import Opportunity
from tests.conftest import World
from tests.opportunities.factories import (
    OpportunityFactory,
    OpportunitySplitFactory,
    account_for,
)

pytestmark = pytest.mark.django_db


def _visible(user: object) -> set[int]:
    return set(Opportunity.objects.visible_to(user).values_list("id", flat=True))


def test_a_split_on_another_companys_deal_makes_it_visible_to_a_manager(world: World) -> None:
    se_deal = OpportunityFactory(account=account_for(world.se), owner=world.rep_se)
    other = OpportunityFactory(account=account_for(world.se), owner=world.rep_se)
    assert se_deal.pk not in _visible(world.manager_de)
    OpportunitySplitFactory(opportunity=se_deal, user=world.manager_de)
    assert se_deal.pk in _visible(world.manager_de)
    assert other.pk not in _visible(world.manager_de)  # credit on one deal, not the company's


def test_a_manager_sees_a_deal_he_owns_when_another_company_books_it(world: World) -> None:
    deal = OpportunityFactory(
        account=account_for(world.se), owner=world.manager_de, sales_company=world.se
    )
    assert deal.sales_company_id == world.se.pk
    assert deal.pk in _visible(world.manager_de)
    assert deal.pk not in _visible(world.rep_de)  # the owner's colleagues get no share of it


def test_the_detail_page_follows_the_rule(client: Client, world: World) -> None:
    deal = OpportunityFactory(account=account_for(world.se), owner=world.rep_se)
    url = reverse("opportunities:detail", args=[deal.pk])
    client.force_login(world.manager_de)
    assert client.get(url).status_code == 404
    OpportunitySplitFactory(opportunity=deal, user=world.manager_de)
    assert client.get(url).status_code == 200
