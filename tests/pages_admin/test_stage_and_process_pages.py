"""The global admin edits a global stage and creates a company's sales process from the pages."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from pipeline.models import GlobalStage, LocalStage, SalesProcess
from tests.conftest import World
from tests.opportunities.factories import global_stages_for, process_for

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


def _rows(rows: list[tuple[str, object, object]]) -> dict[str, object]:
    data: dict[str, object] = {
        "stages-TOTAL_FORMS": str(len(rows)),
        "stages-INITIAL_FORMS": "0",
        "stages-MIN_NUM_FORMS": "0",
        "stages-MAX_NUM_FORMS": "1000",
    }
    for i, (name, order, gs) in enumerate(rows):
        data[f"stages-{i}-name"] = name
        data[f"stages-{i}-order"] = order
        data[f"stages-{i}-global_stage"] = gs
    return data


def test_create_a_process_for_a_company_without_one(client: Client, world: World) -> None:
    g = global_stages_for(world.org)
    process_for(world.se)
    client.force_login(world.admin)
    processes = client.get(reverse("setup:processes"))
    url = reverse("setup:process_create")
    assert f"{url}?company={world.dk.pk}" in processes.content.decode()
    response = client.get(url, {"company": world.dk.pk})
    assert response.status_code == 200
    form, rows = response.context["form"], response.context["rows"]
    assert form.initial["sales_company"] == world.dk.pk
    # Only companies without a process are offered.
    assert set(form.fields["sales_company"].queryset) == {world.dk, world.de}
    # One pre-filled local stage per global stage, named and ordered as the global one.
    assert [r.initial for r in rows.forms[: len(g)]] == [
        {"name": gs.name, "order": gs.order, "global_stage": gs.pk} for gs in g.values()
    ]
    data = {
        "sales_company": world.dk.pk,
        "name": "Salgsproces",
        **_rows([
            ("Kvalificer", 10, g["Qualify"].pk),
            ("", 20, g["Develop"].pk),  # cleared: left out
            ("Tilbud", 30, g["Propose"].pk),
            ("Forhandling", 40, g["Negotiate"].pk),
            ("Vundet", 50, g["Won"].pk),
            ("Tabt", 60, g["Lost"].pk),
            ("Demo", 35, g["Propose"].pk),  # a filled blank row refines Propose
            ("", "", ""),
        ]),
    }  # fmt: skip
    response = client.post(f"{url}?company={world.dk.pk}", data)
    assert response.status_code == 302 and response["Location"] == reverse("setup:processes")
    process = SalesProcess.objects.for_org(world.org).get(sales_company=world.dk)
    assert process.name == "Salgsproces"
    stages = LocalStage.objects.for_org(world.org).filter(process=process).order_by("order")
    assert list(stages.values_list("name", "global_stage__name")) == [
        ("Kvalificer", "Qualify"),
        ("Tilbud", "Propose"),
        ("Demo", "Propose"),
        ("Forhandling", "Negotiate"),
        ("Vundet", "Won"),
        ("Tabt", "Lost"),
    ]


def test_process_errors_of_the_service_and_the_rows_are_shown(client: Client, world: World) -> None:
    g = global_stages_for(world.org)
    client.force_login(world.admin)
    url = reverse("setup:process_create")
    # No stage mapped to lost: sales_process_create's rule, shown on the form.
    data = {
        "sales_company": world.dk.pk,
        "name": "Salgsproces",
        **_rows([("Kvalificer", 10, g["Qualify"].pk), ("Vundet", 50, g["Won"].pk)]),
    }
    response = client.post(url, data)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    # A named row without a global stage: an error on that row's field.
    data = {**data, **_rows([("Kvalificer", 10, ""), ("Vundet", 50, g["Won"].pk)])}
    response = client.post(url, data)
    assert response.status_code == 200
    assert "global_stage" in response.context["rows"].forms[0].errors
    # A company that has a process already is not a valid choice.
    process_for(world.se)
    response = client.post(url, {**data, "sales_company": world.se.pk})
    assert response.status_code == 200 and "sales_company" in response.context["form"].errors
    assert not SalesProcess.objects.for_org(world.org).exclude(sales_company=world.se).exists()
    assert (
        LocalStage.objects.for_org(world.org).exclude(process__sales_company=world.se).count() == 0
    )


def test_stage_edit_and_process_create_refuse_other_roles(client: Client, world: World) -> None:
    stage = global_stages_for(world.org)["Propose"]
    data = {"name": "X", "probability": "5", "forecast_category": "pipeline"}
    for who in ("director", "regional", "manager_se", "rep_se", "marketing"):
        client.force_login(getattr(world, who))
        url = reverse("setup:stage_edit", args=[stage.pk])
        assert client.get(url).status_code == 403, who
        assert client.post(url, data).status_code == 403, who
        create = reverse("setup:process_create")
        assert client.post(create, {"sales_company": world.dk.pk, "name": "X"}).status_code == 403
    stage.refresh_from_db()
    assert stage.name == "Propose"
    assert not SalesProcess.objects.for_org(world.org).exists()


def test_other_organizations_stages_and_companies_are_404(client: Client, world: World) -> None:
    foreign = global_stages_for(world.other_org)["Propose"]
    client.force_login(world.admin)
    url = reverse("setup:stage_edit", args=[foreign.pk])
    assert client.get(url).status_code == 404
    data = {"name": "Mine", "probability": "5", "forecast_category": "pipeline"}
    assert client.post(url, data).status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "Propose"
    create = reverse("setup:process_create")
    assert client.get(create, {"company": world.other_company.pk}).status_code == 404
    # Posted as the company of the form: not a choice, nothing written.
    global_stages_for(world.org)
    response = client.post(create, {"sales_company": world.other_company.pk, "name": "X",
                                    **_rows([])})  # fmt: skip
    assert response.status_code == 200 and "sales_company" in response.context["form"].errors
    assert not SalesProcess.objects.unscoped().exists()
