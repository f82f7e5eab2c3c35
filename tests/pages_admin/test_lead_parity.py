"""Issue 15, hole 2: the API and the pages answer every lead action with the same rule
(``leads.services.may_lead``). A rep used to list, create and convert leads by API (201)
where the pages said 403. Issue 18: a rep lists the leads assigned to him (none of these) and
reads and converts those only; another lead is a 404 to him, creating and working one a 403."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from leads.models import Lead, LeadStatus
from leads.services import lead_create
from tests.conftest import World
from tests.pages_admin.conftest import Marketing

pytestmark = pytest.mark.django_db

ROLES = ["rep_se", "manager_se", "marketing", "director"]
# Who may do what with a Swedish lead nobody is assigned to (the role table: leads are
# marketing's and the managers'; converting books an opportunity, which marketing may not; a
# seller reads and converts the leads assigned to him, so he may list, sees none of these).
ALLOWED = {
    "list": {"rep_se", "manager_se", "marketing", "director"},
    "retrieve": {"manager_se", "marketing", "director"},
    "create": {"manager_se", "marketing", "director"},
    "qualify": {"manager_se", "marketing", "director"},
    "convert": {"manager_se", "director"},
}


def _lead(world: World, name: str) -> Lead:
    return lead_create(
        organization=world.org,
        acting_user=None,
        company_name=name,
        contact_name="Sven",
        email="sven@example.com",
        country="SE",
        source="web",
    )


def _api(world: World, user: Any, action: str, lead: Lead) -> int:
    client = APIClient()
    client.force_authenticate(user)
    base = "/api/v1/leads/"
    if action == "list":
        return client.get(base).status_code
    if action == "retrieve":
        return client.get(f"{base}{lead.pk}/").status_code
    if action == "create":
        body = {"company_name": "Api AB", "contact_name": "A", "country": "SE", "source": "web"}
        return client.post(base, body, format="json").status_code
    if action == "qualify":
        return client.post(f"{base}{lead.pk}/qualify/", {}, format="json").status_code
    body = {"create_account": True, "owner": world.rep_se.pk}
    return client.post(f"{base}{lead.pk}/convert/", body, format="json").status_code


def _page(world: World, user: Any, action: str, lead: Lead) -> int:
    client = Client()
    client.force_login(user)
    if action == "list":
        return client.get(reverse("leads:lead_list")).status_code
    if action == "retrieve":
        return client.get(reverse("leads:lead_detail", args=[lead.pk])).status_code
    if action == "create":
        body = {"company_name": "Page AB", "contact_name": "P", "country": "se", "source": "web"}
        return client.post(reverse("leads:lead_create"), body).status_code
    if action == "qualify":
        return client.post(reverse("leads:lead_qualify", args=[lead.pk])).status_code
    body = {"account": "new", "owner": world.rep_se.pk}
    return client.post(reverse("leads:lead_convert", args=[lead.pk]), body).status_code


@pytest.mark.parametrize("action", list(ALLOWED))
@pytest.mark.parametrize("role", ROLES)
def test_api_and_page_agree(
    world: World, marketing_world: Marketing, role: str, action: str
) -> None:
    user = getattr(world, role)
    allowed = role in ALLOWED[action]
    api_lead, page_lead = _lead(world, "Api lead AB"), _lead(world, "Page lead AB")
    api = _api(world, user, action, api_lead)
    page = _page(world, user, action, page_lead)
    assert (api < 300, page < 400) == (allowed, allowed), (api, page)
    if not allowed:
        # The seller's role may read and convert leads, but not one that is not his: 404.
        hidden = role == "rep_se" and action in ("retrieve", "convert")
        assert (api, page) == ((404, 404) if hidden else (403, 403))
    for lead in (api_lead, page_lead):
        lead.refresh_from_db()
        changed = lead.status != LeadStatus.NEW
        assert changed == (allowed and action in ("qualify", "convert")), lead.status


def test_a_manager_of_another_company_gets_404_on_both(
    world: World, marketing_world: Marketing
) -> None:
    lead = _lead(world, "Swedish lead AB")
    for action in ("retrieve", "qualify", "convert"):
        assert _api(world, world.manager_de, action, lead) == 404, action
        assert _page(world, world.manager_de, action, lead) == 404, action
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NEW


def test_the_service_refuses_a_rep_whatever_the_caller(world: World) -> None:
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    from leads.services import lead_convert

    lead = _lead(world, "Service lead AB")
    # Not assigned to him: he may not even see it.
    with pytest.raises(Http404):
        lead_convert(lead=lead, acting_user=world.rep_se, create_account=True)
    with pytest.raises(PermissionDenied):
        lead_create(
            organization=world.org, acting_user=world.rep_se, company_name="X",
            contact_name="Y", country="SE", source="web",
        )  # fmt: skip
