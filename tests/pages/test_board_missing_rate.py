"""Issue 18: a deal in a currency without an exchange rate no longer breaks the board (it was a
500): the column's total is unknown and the page names the missing rate."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory
from tests.pages.conftest import Deals

pytestmark = pytest.mark.django_db


def test_the_board_names_the_missing_rate(client: Client, world: World, deals: Deals) -> None:
    OpportunityFactory(account=deals.account, owner=world.rep_se, currency="CHF", name="Swiss")
    client.force_login(world.rep_se)
    response = client.get(reverse("opportunities:board"))
    assert response.status_code == 200
    assert any("CHF" in rate for rate in response.context["missing_rates"])
    assert 'data-testid="missing-rate"' in response.content.decode()
    assert any(c.total is None for c in response.context["columns"])
