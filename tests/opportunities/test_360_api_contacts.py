"""The 360° API lists the contacts of every account the user sees in full (issue 18); an
account shown at need-to-know level (a group's top the user may not see) has none."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import Account
from accounts.services import contact_archive, contact_create
from tests.accounts.factories import make_account
from tests.conftest import World

pytestmark = pytest.mark.django_db


def _api(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def group(world: World) -> dict[str, Any]:
    top = make_account(organization=world.org, home_company=world.se, name="Hansa Group AB")
    dk = make_account(organization=world.org, home_company=world.dk, name="Hansa A/S", parent=top)
    boss = contact_create(
        account=top,
        full_name="Greta Top",
        title="CFO",
        email="greta@hansa.example",
        phone="+46 8 123",
        acting_user=None,
    )
    buyer = contact_create(
        account=dk,
        full_name="Bo Buyer",
        title="Purchaser",
        email="bo@hansa.example",
        phone="+45 1",
        acting_user=None,
    )
    gone = contact_create(account=dk, full_name="Ada Gone", acting_user=None)
    contact_archive(contact=gone, acting_user=None)
    return {"top": top, "dk": dk, "boss": boss, "buyer": buyer, "gone": gone}


def test_contacts_of_every_account_seen_in_full(world: World, group: dict[str, Any]) -> None:
    body = _api(world.director).get(f"/api/v1/accounts/{group['top'].pk}/360/").json()
    contacts = body["contacts_by_account"]
    assert contacts[str(group["top"].pk)] == [
        {
            "id": group["boss"].pk,
            "full_name": "Greta Top",
            "title": "CFO",
            "email": "greta@hansa.example",
            "phone": "+46 8 123",
            "archived": False,
        }
    ]
    dk = contacts[str(group["dk"].pk)]
    assert [(c["full_name"], c["archived"]) for c in dk] == [
        ("Ada Gone", True),
        ("Bo Buyer", False),
    ]


def test_need_to_know_account_gets_no_contact_data(world: World, group: dict[str, Any]) -> None:
    # The Danish rep sees the subsidiary, not the group's top: the top at need-to-know level.
    response = _api(world.rep_dk).get(f"/api/v1/accounts/{group['dk'].pk}/360/")
    assert response.status_code == 200
    body = response.json()
    assert body["group_visible"] is False
    assert set(body["contacts_by_account"]) == {str(group["dk"].pk)}
    text = response.content.decode()
    assert "Greta Top" not in text and "greta@hansa.example" not in text and "CFO" not in text
    assert "Bo Buyer" in text


def test_strangers_get_404(world: World, group: dict[str, Any]) -> None:
    for user in (world.stranger, world.rep_de):
        assert _api(user).get(f"/api/v1/accounts/{group['dk'].pk}/360/").status_code == 404


def test_query_count_does_not_grow_with_contacts(world: World, group: dict[str, Any]) -> None:
    api = _api(world.rep_se)
    url = f"/api/v1/accounts/{group['top'].pk}/360/"

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(url).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    extra: Account = make_account(
        organization=world.org, home_company=world.se, name="Hansa Sverige", parent=group["top"]
    )
    for i in range(5):
        contact_create(account=extra, full_name=f"More {i}", acting_user=None)
    assert count() == few
