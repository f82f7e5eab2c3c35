"""The opportunity form as a quote: a currency without a rate refused on its field (form and
API), decimal commas, per-line errors, the price data the script works with, the agreement's
discount and legal note in the preview, and constant queries whatever the catalog's size."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.services import agreement_create
from crm.models import User
from opportunities.models import Opportunity, OpportunityLine
from opportunities.services import product_price_set
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.factories import as_user
from tests.opportunities.factories import ProductFactory, process_for
from tests.pages.conftest import Deals

pytestmark = pytest.mark.django_db


def _data(deals: Deals, world: World, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Quoted pumps",
        "account": deals.account.pk,
        "sales_company": world.se.pk,
        "currency": "SEK",
        "expected_close_date": "2026-09-30",
        "lines-TOTAL_FORMS": "3",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "20",
    }
    data.update(extra)
    return data


def _language(user: User, language: str) -> None:
    User.objects.unscoped().filter(pk=user.pk).update(language=language)


# --- Currency without a rate ---------------------------------------------------------------------


def test_the_form_refuses_a_currency_without_a_rate_naming_it(
    client: Client, world: World, deals: Deals
) -> None:
    _language(world.rep_se, "en")
    client.force_login(world.rep_se)
    response = client.post(reverse("opportunities:create"), _data(deals, world, currency="nok"))
    assert response.status_code == 400
    (error,) = response.context["form"].errors["currency"]
    assert "no exchange rate for NOK" in error
    assert not Opportunity.objects.for_org(world.org).filter(name="Quoted pumps").exists()
    # The corporate currency and a rated one are fine.
    for currency in ("EUR", "DKK"):
        data = _data(deals, world, currency=currency, name=f"Deal {currency}", amount="10")
        assert client.post(reverse("opportunities:create"), data).status_code == 302


def test_the_api_refuses_a_currency_without_a_rate_on_create_and_update(
    world: World, deals: Deals
) -> None:
    _language(world.rep_se, "en")
    client = as_user(world.rep_se)
    response = client.post(
        "/api/v1/opportunities/",
        {"account": deals.account.pk, "name": "API deal", "currency": "NOK", "amount": "10"},
        format="json",
    )
    assert response.status_code == 400
    assert "NOK" in response.json()["currency"][0]
    opp = deals.opportunity
    response = client.patch(
        f"/api/v1/opportunities/{opp.pk}/",
        {"version": opp.version, "currency": "NOK"},
        format="json",
    )
    assert response.status_code == 400 and "NOK" in response.json()["currency"][0]
    opp.refresh_from_db()
    assert opp.currency == "SEK"
    ok = client.patch(
        f"/api/v1/opportunities/{opp.pk}/",
        {"version": opp.version, "currency": "dkk"},
        format="json",
    )
    assert ok.status_code == 200 and ok.json()["currency"] == "DKK"


# --- Lines ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "quantity", "price"), [("de", "2,5", "1234,50"),
                                                             ("sv", "2,5", "1234,50"),
                                                             ("da", "2.5", "1234.50"),
                                                             ("en", "2.5", "1234.50")])  # fmt: skip
def test_decimal_commas_and_points_are_read_in_the_users_language(
    client: Client, world: World, deals: Deals, language: str, quantity: str, price: str
) -> None:
    _language(world.rep_se, language)
    client.force_login(world.rep_se)
    data = _data(
        deals, world, **{"lines-0-product": deals.product.pk, "lines-0-quantity": quantity,
                         "lines-0-unit_price": price, "lines-0-discount_percent": "0"}
    )  # fmt: skip
    response = client.post(reverse("opportunities:create"), data)
    assert response.status_code == 302, response.context["formset"].errors
    (line,) = OpportunityLine.objects.for_org(world.org).filter(opportunity__name="Quoted pumps")
    assert (line.quantity, line.unit_price) == (Decimal("2.5"), Decimal("1234.50"))
    assert line.opportunity.amount == Decimal("3086.25")


def test_a_decimal_comma_is_an_error_in_english_on_its_line(
    client: Client, world: World, deals: Deals
) -> None:
    _language(world.rep_se, "en")
    client.force_login(world.rep_se)
    data = _data(
        deals, world, **{"lines-0-product": deals.product.pk, "lines-0-quantity": "1",
                         "lines-1-product": deals.product.pk, "lines-1-quantity": "2,5"}
    )  # fmt: skip
    response = client.post(reverse("opportunities:create"), data)
    assert response.status_code == 400
    errors = response.context["formset"].errors
    assert errors[0] == {} and "quantity" in errors[1]


def test_the_saved_lines_render_in_the_users_format_and_a_converted_one_says_so(
    client: Client, world: World, deals: Deals
) -> None:
    # The page fixture's product is priced in EUR; the SEK deal converts it at 1 / 0.087.
    _language(world.rep_se, "de")
    client.force_login(world.rep_se)
    data = _data(deals, world, **{"lines-0-product": deals.product.pk, "lines-0-quantity": "1"})
    assert client.post(reverse("opportunities:create"), data).status_code == 302
    opp = Opportunity.objects.for_org(world.org).get(name="Quoted pumps")
    (line,) = OpportunityLine.objects.for_org(world.org).filter(opportunity=opp)
    assert line.converted_from_currency == deals.product.currency == "EUR"
    html = client.get(reverse("opportunities:detail", args=[opp.pk])).content.decode()
    assert "EUR 1.000,00" in html and "11,4943" in html
    edit = client.get(reverse("opportunities:edit", args=[opp.pk])).content.decode()
    assert "11,4943" in edit  # the edit form's row says where its price came from
    assert 'value="11494,25"' in edit  # the saved price, with the decimal comma


def test_the_form_carries_prices_rates_and_texts_for_its_script(
    client: Client, world: World, deals: Deals
) -> None:
    product_price_set(
        product=deals.product, currency="DKK", price=Decimal("7400"), acting_user=None
    )
    _language(world.rep_se, "de")
    response = as_client(client, world.rep_se).get(reverse("opportunities:create"))
    quote = json.loads(response.context["quote"])
    entry = quote["products"][str(deals.product.pk)]
    assert entry == {"price": "1000.00", "currency": "EUR", "book": {"DKK": "7400.00"}}
    assert quote["rates"]["SEK"] == "0.08700000" and quote["rates"]["EUR"] == "1"
    assert quote["decimal"] == ","
    html = response.content.decode()
    assert 'data-quote="' in html and 'id="line-template"' in html
    assert html.count('data-testid="line-row"') == 3 + 1  # three rows and the template's
    assert "<script>" not in html and "onclick" not in html


def as_client(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


@pytest.mark.parametrize("products", [1, 15])
def test_the_form_runs_a_constant_number_of_queries_whatever_the_catalog(
    client: Client,
    world: World,
    deals: Deals,
    products: int,
    django_assert_max_num_queries: object,
) -> None:
    for i in range(products):
        product = ProductFactory(organization=world.org, name=f"Extra {i}")
        product_price_set(product=product, currency="SEK", price=Decimal(i), acting_user=None)
    client.force_login(world.rep_se)
    with django_assert_max_num_queries(16):  # type: ignore[operator]
        assert client.get(reverse("opportunities:create")).status_code == 200
    with django_assert_max_num_queries(18):  # type: ignore[operator]
        url = reverse("opportunities:edit", args=[deals.opportunity.pk])
        assert client.get(url).status_code == 200


def test_isolation_of_the_form_and_its_price_data(
    client: Client, world: World, deals: Deals
) -> None:
    """Another organization's products and rates never reach the form; another company's or
    organization's deal is 404 on its edit form."""
    ProductFactory(organization=world.other_org, name="Tellus secret pump")
    response = as_client(client, world.rep_se).get(reverse("opportunities:create"))
    assert "Tellus secret pump" not in response.content.decode()
    quote = json.loads(response.context["quote"])
    stranger = as_client(client, world.stranger).get(reverse("opportunities:create"))
    assert str(deals.product.pk) not in json.loads(stranger.context["quote"])["products"]
    assert "SEK" in quote["rates"] and "SEK" not in json.loads(stranger.context["quote"])["rates"]
    url = reverse("opportunities:edit", args=[deals.opportunity.pk])
    assert as_client(client, world.rep_de).get(url).status_code == 404
    assert as_client(client, world.stranger).get(url).status_code == 404


# --- Agreement: discount and legal note ----------------------------------------------------------


def test_the_preview_gives_the_tier_discount_and_the_booking_countrys_legal_note(
    client: Client, world: World, deals: Deals
) -> None:
    process_for(world.de)
    agreement_create(
        group=deals.account,
        name="Volvera frame",
        valid_from=dt.date(2000, 1, 1),
        valid_to=dt.date(2100, 1, 1),
        covered_companies=[world.se, world.de],
        incoterm="DAP",
        payment_terms="60 days net",
        legal_notes={"DE": "German law applies to deliveries in Germany."},
        tiers=[(Decimal(0), Decimal("3.5"))],
        acting_user=None,
    )
    de_account = make_account(
        organization=world.org, home_company=world.de, name="Volvera GmbH", parent=deals.account
    )
    client.force_login(world.rep_de)
    html = client.get(
        reverse("opportunities:preview"),
        {"account": de_account.pk, "sales_company": world.de.pk},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'data-agreement-discount="3.50"' in html
    assert "German law applies to deliveries in Germany." in html
    # Booked in Sweden: the agreement applies, the German note does not.
    client.force_login(world.rep_se)
    html = client.get(
        reverse("opportunities:preview"),
        {"account": deals.account.pk, "sales_company": world.se.pk},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'data-agreement-discount="3.50"' in html and "German law" not in html
    # Someone who may not see the account learns nothing of it.
    client.force_login(world.stranger)
    html = client.get(
        reverse("opportunities:preview"), {"account": de_account.pk}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "German law" not in html and "data-agreement-discount" not in html


# --- The price book: set-up page and API ---------------------------------------------------------


def test_the_admin_keeps_the_price_book_and_others_may_not(
    client: Client, world: World, deals: Deals
) -> None:
    _language(world.admin, "de")
    url = reverse("setup:price_book")
    client.force_login(world.admin)
    response = client.post(
        url, {"product": deals.product.pk, "currency": "SEK", "price": "11.900,50"}
    )
    assert response.status_code == 400  # the thousands separator is not read on input
    response = client.post(
        url, {"product": deals.product.pk, "currency": "SEK", "price": "11900,50"}
    )
    assert response.status_code == 302
    assert [(p.currency, p.price) for p in deals.product.prices.for_org(world.org)] == [
        ("SEK", Decimal("11900.50"))
    ]
    html = client.get(url).content.decode()
    assert "11.900,50 SEK" in html
    # The list price's own currency is no price book entry.
    response = client.post(url, {"product": deals.product.pk, "currency": "EUR", "price": "1"})
    assert response.status_code == 400 and "EUR" in response.content.decode()
    # An empty price removes the entry.
    client.post(url, {"product": deals.product.pk, "currency": "SEK", "price": ""})
    assert not deals.product.prices.for_org(world.org).exists()
    # Set-up is the admin's: a manager gets 403; another organization's product is no choice.
    assert as_client(client, world.manager_se).get(url).status_code == 403
    other = ProductFactory(organization=world.other_org)
    stranger_admin = User.objects.for_org(world.other_org).create(
        email="admin@tellus.test", organization=world.other_org, role="global_admin"
    )
    client.force_login(stranger_admin)
    assert deals.product.name not in client.get(url).content.decode()
    response = client.post(url, {"product": deals.product.pk, "currency": "SEK", "price": "1"})
    assert response.status_code == 400 and "product" in response.context["form"].errors
    assert other.pk  # its own product is listed for it
    assert other.name in client.get(url).content.decode()


@pytest.mark.parametrize("products", [1, 12])
def test_the_price_book_page_and_api_run_a_constant_number_of_queries(
    client: Client,
    world: World,
    deals: Deals,
    products: int,
    django_assert_num_queries: object,
) -> None:
    for i in range(products):
        product = ProductFactory(organization=world.org, name=f"Extra {i}")
        for currency in ("SEK", "DKK"):
            product_price_set(
                product=product, currency=currency, price=Decimal(i + 1), acting_user=None
            )
    client.force_login(world.admin)
    with django_assert_num_queries(QUERIES["page"]):  # type: ignore[operator]
        assert client.get(reverse("setup:price_book")).status_code == 200
    api = as_user(world.rep_se)
    with django_assert_num_queries(QUERIES["api"]):  # type: ignore[operator]
        body = api.get("/api/v1/products/?page_size=50").json()
    listed = {row["name"]: row["prices"] for row in body["results"]}
    assert listed["Extra 0"] == [
        {"currency": "DKK", "price": "1.00"},
        {"currency": "SEK", "price": "1.00"},
    ]


# Counted once; the same for 1 and 12 products (one query for all their entries). The API: the
# products and their prices; no COUNT, the list fits on its first page (crm.drf.MeridianPagination).
QUERIES = {"page": 6, "api": 2}


def test_the_api_converts_an_unpriced_foreign_line_and_says_so(world: World, deals: Deals) -> None:
    client = as_user(world.rep_se)
    response = client.post(
        "/api/v1/opportunities/",
        {
            "account": deals.account.pk,
            "name": "API quote",
            "lines": [{"product": deals.product.pk, "quantity": "2"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    # 1000 EUR at 1 / 0.087 = 11.49425287 SEK per EUR: 11494.25 each.
    assert (body["currency"], body["amount"]) == ("SEK", "22988.50")
    (line,) = client.get(f"/api/v1/opportunities/{body['id']}/lines/").json()
    assert line["unit_price"] == "11494.25"
    assert (line["converted_from_currency"], line["converted_from_price"]) == ("EUR", "1000.00")
    assert line["conversion_rate"] == "11.49425287" and line["conversion_date"]
    assert (
        as_user(world.stranger).get(f"/api/v1/opportunities/{body['id']}/lines/").status_code == 404
    )
