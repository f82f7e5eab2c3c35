from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import World
from tests.pages_admin.conftest import Marketing

pytestmark = pytest.mark.django_db


def test_every_page_renders(client: Client, world: World, marketing_world: Marketing) -> None:
    m = marketing_world
    client.force_login(world.manager_se)
    for url in [
        reverse("pipeline:lead_list"),
        reverse("pipeline:lead_create"),
        reverse("pipeline:lead_detail", args=[m.lead.pk]),
        reverse("pipeline:lead_convert", args=[m.lead.pk]),
        reverse("pipeline:lead_disqualify", args=[m.lead.pk]),
        reverse("pipeline:lead_assign", args=[m.lead.pk]),
        reverse("pipeline:campaign_list"),
        reverse("pipeline:campaign_detail", args=[m.campaign.pk]) + "?q=an",
        reverse("pipeline:campaign_export", args=[m.campaign.pk]),
        reverse("search") + "?q=volvo",
        reverse("profile"),
    ]:
        assert client.get(url).status_code == 200, url
    client.force_login(world.admin)
    for name in ["index", "stages", "processes", "companies", "company_create", "users",
                 "user_create", "rates", "agreements", "teams"]:
        url = reverse(f"setup:{name}")
        assert client.get(url).status_code == 200, url
    client.force_login(world.director)
    assert client.get(reverse("setup:agreements")).status_code == 200
