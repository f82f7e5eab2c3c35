"""Names reject control characters (issue 15, hole 4c), on the API and the pages alike."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from crm.validators import validate_no_control_characters
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import ProductFactory, process_for

pytestmark = pytest.mark.django_db

BAD_NAMES = ["Volvera\nAB", "Volvera\r", "Tab\there", "Bell\x07", "Line\u2028sep"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_validator_refuses_control_characters(name: str) -> None:
    with pytest.raises(ValidationError):
        validate_no_control_characters(name)


def test_the_validator_accepts_ordinary_names() -> None:
    for name in ("Volvera AB", "Müller & Söhne GmbH", "北京 Pumps", "O'Brien - Ltd."):
        validate_no_control_characters(name)


def _api(user: object) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("name", ["Volvera\nAB", "Tab\there"])
def test_api_account_and_contact_and_opportunity_names_answer_400(world: World, name: str) -> None:
    process_for(world.se)
    account = make_account(organization=world.org, home_company=world.se, name="Volvera AB")
    client = _api(world.manager_se)
    response = client.post(
        "/api/v1/accounts/",
        {"name": name, "country": "SE", "home_company": world.se.pk, "ignore_duplicates": True},
        format="json",
    )
    assert response.status_code == 400 and "name" in response.json(), response.content
    response = client.post(
        "/api/v1/contacts/", {"account": account.pk, "full_name": name}, format="json"
    )
    assert response.status_code == 400 and "full_name" in response.json(), response.content
    response = _api(world.rep_se).post(
        "/api/v1/opportunities/", {"account": account.pk, "name": name}, format="json"
    )
    assert response.status_code == 400 and "name" in response.json(), response.content


def test_model_validation_covers_companies_and_products(world: World) -> None:
    world.se.name = "Nordvik\nSE"
    with pytest.raises(ValidationError) as err:
        world.se.full_clean()
    assert "name" in err.value.message_dict
    product = ProductFactory.build(organization=world.org, name="Pump\nX")
    with pytest.raises(ValidationError) as err:
        product.full_clean(exclude=["organization"])
    assert "name" in err.value.message_dict


def test_the_account_page_answers_a_form_error(client: object, world: World) -> None:
    client.force_login(world.manager_se)
    response = client.post(
        "/accounts/new/inline/",
        {"new_name": "Volvera\nAB", "new_country": "SE", "new_home_company": world.se.pk},
    )
    assert response.status_code in (200, 400)
    # The Swedish company's manager reads the message in Swedish ("styrtecken": control characters).
    assert "styrtecken" in response.content.decode()
