"""The global admin edits a global stage and creates a company's sales process from the pages."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from pipeline.models import GlobalStage
from tests.conftest import World
from tests.opportunities.factories import global_stages_for

pytestmark = pytest.mark.django_db


def test_edit_a_global_stage(client: Client, world: World) -> None:
    propose = global_stages_for(world.org)["Propose"]
    client.force_login(world.admin)
    url = reverse("setup:stage_edit", args=[propose.pk])
    response = client.get(url)
    assert response.status_code == 200
    assert response.context["form"].initial["probability"] == 50
    # The list links every stage to its edit page.
    assert url in client.get(reverse("setup:stages")).content.decode()
    data = {"name": "Offer", "probability": "60", "forecast_category": "commit"}
    response = client.post(url, data)
    assert response.status_code == 302 and response["Location"] == reverse("setup:stages")
    propose.refresh_from_db()
    assert (propose.name, propose.probability, propose.forecast_category) == (
        "Offer",
        60,
        "commit",
    )


@pytest.mark.parametrize(
    ("stage", "data", "field"),
    [
        ("Propose", {"name": "Propose", "probability": "150", "forecast_category": "pipeline"},
         "probability"),
        ("Propose", {"name": "", "probability": "50", "forecast_category": "pipeline"}, "name"),
        ("Propose", {"name": "Won", "probability": "50", "forecast_category": "pipeline"}, "name"),
        ("Propose", {"name": "Propose", "probability": "50", "forecast_category": "closed"},
         "forecast_category"),
        ("Won", {"name": "Won", "probability": "90", "forecast_category": "closed"},
         "probability"),
        ("Lost", {"name": "Lost", "probability": "0", "forecast_category": "pipeline"},
         "forecast_category"),
    ],
)  # fmt: skip
def test_invalid_stage_edits_show_errors_and_write_nothing(
    client: Client, world: World, stage: str, data: dict[str, str], field: str
) -> None:
    target = global_stages_for(world.org)[stage]
    before = list(GlobalStage.objects.for_org(world.org).values_list("name", "probability"))
    client.force_login(world.admin)
    response = client.post(reverse("setup:stage_edit", args=[target.pk]), data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    after = list(GlobalStage.objects.for_org(world.org).values_list("name", "probability"))
    assert after == before


def test_stage_edit_refuses_other_roles(client: Client, world: World) -> None:
    stage = global_stages_for(world.org)["Propose"]
    data = {"name": "X", "probability": "5", "forecast_category": "pipeline"}
    for who in ("director", "regional", "manager_se", "rep_se", "marketing"):
        client.force_login(getattr(world, who))
        url = reverse("setup:stage_edit", args=[stage.pk])
        assert client.get(url).status_code == 403, who
        assert client.post(url, data).status_code == 403, who
    stage.refresh_from_db()
    assert stage.name == "Propose"


def test_other_organizations_stages_are_404(client: Client, world: World) -> None:
    foreign = global_stages_for(world.other_org)["Propose"]
    client.force_login(world.admin)
    url = reverse("setup:stage_edit", args=[foreign.pk])
    assert client.get(url).status_code == 404
    data = {"name": "Mine", "probability": "5", "forecast_category": "pipeline"}
    assert client.post(url, data).status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "Propose"
