"""The live preview is no oracle (issue 15, hole 7): for a deal the user may not see, the
answer is the same whichever products are typed, so trying product after product reveals
nothing of its lines; and the preview is rate-limited per user."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from tests.accounts.factories import make_account
from tests.conftest import World
from tests.factories import UserFactory
from tests.opportunities.factories import (
    OpportunityFactory,
    OpportunityLineFactory,
    ProductFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    cache.clear()


@pytest.fixture
def hidden(world: World) -> dict[str, object]:
    """A Swedish group with a Danish subsidiary: the Danish rep's deal there, and a Swedish
    colleague's deal on the parent, both with product P and invisible to the Swedish rep."""
    parent = make_account(organization=world.org, home_company=world.se, name="Volvera AB")
    child = make_account(
        organization=world.org, home_company=world.dk, name="Volvera DK", parent=parent
    )
    products = [ProductFactory(organization=world.org) for _ in range(4)]
    secret = products[0]
    dk_deal = OpportunityFactory(account=child, owner=world.rep_dk, name="Secret DK deal")
    OpportunityLineFactory(opportunity=dk_deal, product=secret)
    colleague = UserFactory(organization=world.org, role="sales_rep", sales_company=world.se)
    se_deal = OpportunityFactory(account=parent, owner=colleague, name="Secret SE deal")
    OpportunityLineFactory(opportunity=se_deal, product=secret)
    return {"account": parent, "products": products, "secret": secret}


def _preview(client: Client, world: World, hidden: dict[str, object], product: object) -> str:
    params = {
        "account": hidden["account"].pk,
        "sales_company": world.se.pk,
        "lines-TOTAL_FORMS": 1,
        "lines-INITIAL_FORMS": 0,
    }
    if product is not None:
        params["lines-0-product"] = product.pk
    response = client.get(reverse("opportunities:preview"), params, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def test_the_preview_of_a_hidden_deal_does_not_depend_on_the_product(
    client: Client, world: World, hidden: dict[str, object]
) -> None:
    client.force_login(world.rep_se)
    answers = {
        getattr(p, "pk", None): _preview(client, world, hidden, p)
        for p in [None, *hidden["products"]]
    }
    assert len(set(answers.values())) == 1, "the answer differs by product: an oracle"
    html = answers[None]
    # The account-level situation is disclosed: which company works the group.
    assert "Flera bolag bearbetar koncernen" in html  # sv: "Several companies work the group"
    assert world.dk.name in html
    # Never the deal itself, nor that one of its products matched.
    assert "Secret" not in html
    assert "Same product" not in html


def test_someone_who_may_see_the_deals_still_gets_the_product_match(
    client: Client, world: World, hidden: dict[str, object]
) -> None:
    # The control that shows the comparison above could fail: the director sees both deals.
    client.force_login(world.director)
    with_secret = _preview(client, world, hidden, hidden["secret"])
    with_other = _preview(client, world, hidden, hidden["products"][1])
    assert with_secret != with_other
    assert "Same product, several sellers" in with_secret


def test_the_preview_is_rate_limited_per_user(
    client: Client, world: World, hidden: dict[str, object], settings: object
) -> None:
    settings.PREVIEW_RATE_PER_MINUTE = 3
    client.force_login(world.rep_se)
    url = reverse("opportunities:preview")
    params = {"account": hidden["account"].pk}
    statuses = [client.get(url, params).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    # sv: "För många förhandsvisningar" is "Too many previews".
    assert "För många förhandsvisningar" in client.get(url, params).content.decode()
    # Another user has a budget of their own.
    other = Client()
    other.force_login(world.rep_dk)
    assert other.get(url, params).status_code == 200
