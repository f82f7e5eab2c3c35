"""The global admin's set-up pages write through the kernel, pipeline and accounts services."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AccountTeamMember, DiscountTier, FrameworkAgreement
from crm.models import ExchangeRate, SalesCompany, User
from pipeline.models import GlobalStage
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, account_for, process_for, stage_for

pytestmark = pytest.mark.django_db


def test_create_and_edit_a_sales_company(client: Client, world: World) -> None:
    client.force_login(world.admin)
    data = {
        "code": "NO", "name": "Nordvik Norge AS", "region": world.nordics.pk, "country": "no",
        "currency": "NOK", "language": "en", "timezone": "Europe/Oslo",
    }  # fmt: skip
    response = client.post(reverse("setup:company_create"), data)
    assert response.status_code == 302, response.context["form"].errors
    company = SalesCompany.objects.for_org(world.org).get(code="NO")
    assert company.country == "NO"
    # Creating the same code again does not overwrite it.
    response = client.post(reverse("setup:company_create"), {**data, "name": "Other"})
    assert response.status_code == 200 and "exists already" in response.content.decode()
    edit = reverse("setup:company_edit", args=[company.pk])
    client.post(edit, {**data, "name": "Nordvik Norway", "code": "XX"})
    company.refresh_from_db()
    assert (company.name, company.code) == ("Nordvik Norway", "NO")


def test_user_form_explains_what_is_missing(client: Client, world: World) -> None:
    client.force_login(world.admin)
    data = {"email": "new.rep@nordvik.example", "full_name": "New Rep", "role": "sales_rep"}
    response = client.post(reverse("setup:user_create"), {**data, "password": "x"})
    html = response.content.decode()
    assert "This role needs a sales company." in html
    assert not User.objects.for_org(world.org).filter(email=data["email"]).exists()
    ok = {**data, "sales_company": world.dk.pk, "password": "a-long-enough-password-42",
          "language": "da", "timezone": "Europe/Copenhagen"}  # fmt: skip
    assert client.post(reverse("setup:user_create"), ok).status_code == 302
    user = User.objects.for_org(world.org).get(email=data["email"])
    assert (user.sales_company, user.language, user.timezone) == (
        world.dk,
        "da",
        "Europe/Copenhagen",
    )
    assert user.check_password("a-long-enough-password-42")
    # Another organization's address is "in use", without saying where.
    taken = {**ok, "email": world.stranger.email}
    assert "already in use" in client.post(reverse("setup:user_create"), taken).content.decode()


def test_edit_role_and_region(client: Client, world: World) -> None:
    client.force_login(world.admin)
    url = reverse("setup:user_edit", args=[world.rep_se.pk])
    data = {"full_name": world.rep_se.full_name, "role": "regional_manager", "language": "",
            "timezone": ""}  # fmt: skip
    assert "needs a region" in client.post(url, data).content.decode()
    assert client.post(url, {**data, "region": world.nordics.pk}).status_code == 302
    world.rep_se.refresh_from_db()
    assert (world.rep_se.role, world.rep_se.region) == ("regional_manager", world.nordics)


def test_add_an_exchange_rate(client: Client, world: World) -> None:
    client.force_login(world.admin)
    url = reverse("setup:rates")
    data = {"currency": "SEK", "rate": "0.0871", "valid_from": "2026-01-01"}
    assert client.post(url, data).status_code == 302
    assert ExchangeRate.objects.for_org(world.org).get(currency="SEK").rate == Decimal("0.0871")
    response = client.post(url, {**data, "currency": "EUR"})
    assert "corporate currency" in response.content.decode()
    response = client.post(url, {**data, "rate": "-1"})
    assert response.status_code == 200 and "errorlist" in response.content.decode()


def test_remap_asks_for_confirmation_then_moves_the_deals(client: Client, world: World) -> None:
    process_for(world.se)
    stage = stage_for(world.se, "Propose")
    deal = OpportunityFactory(account=account_for(world.se), owner=world.rep_se, local_stage=stage)
    negotiate = GlobalStage.objects.for_org(world.org).get(name="Negotiate")
    client.force_login(world.admin)
    url = reverse("setup:stage_remap", args=[stage.pk])
    response = client.post(url, {"global_stage": negotiate.pk})
    html = response.content.decode()
    assert 'data-testid="remap-confirm"' in html and "1 opportunity moves" in html
    deal.refresh_from_db()
    assert deal.global_stage.name == "Propose"  # nothing changed before the confirmation
    response = client.post(url, {"global_stage": negotiate.pk, "confirmed": "on"})
    assert response.status_code == 302
    deal.refresh_from_db()
    stage.refresh_from_db()
    assert deal.global_stage == negotiate == stage.global_stage


def test_remap_shows_the_rule_it_breaks(client: Client, world: World) -> None:
    process_for(world.se)
    stage = stage_for(world.se, "Qualify")
    won = GlobalStage.objects.for_org(world.org).get(name="Won")
    client.force_login(world.admin)
    url = reverse("setup:stage_remap", args=[stage.pk])
    response = client.post(url, {"global_stage": won.pk, "confirmed": "on"})
    assert response.status_code == 200 and "comes after" in response.content.decode()


def test_director_creates_an_agreement_with_tiers(client: Client, world: World) -> None:
    group = account_for(world.se, "Volvo Group AB")
    data = {
        "group": group.pk, "name": "Volvo 2026", "valid_from": "2026-01-01",
        "valid_to": "2026-12-31", "covered_companies": [world.se.pk, world.de.pk],
        "incoterm": "DAP", "payment_terms": "30 days net", "tiers": "0; 0\n250000; 2\n100000; 4",
    }  # fmt: skip
    client.force_login(world.admin)
    assert client.post(reverse("setup:agreements"), data).status_code == 403
    client.force_login(world.director)
    response = client.post(reverse("setup:agreements"), data)
    assert "unique and ascending" in response.content.decode()
    data["tiers"] = "0; 0\n250000; 2\n1000000; 4,5"
    assert client.post(reverse("setup:agreements"), data).status_code == 302
    agreement = FrameworkAgreement.objects.for_org(world.org).get()
    tiers = DiscountTier.objects.for_org(world.org).filter(agreement=agreement)
    assert [str(t.discount_percent) for t in tiers] == ["0.00", "2.00", "4.50"]


def test_director_adds_and_removes_team_members(client: Client, world: World) -> None:
    group = account_for(world.se, "Volvo Group AB")
    client.force_login(world.director)
    url = reverse("setup:team", args=[group.pk])
    client.post(url, {"user": world.rep_dk.pk, "role": "key_account_manager"})
    member = AccountTeamMember.objects.for_org(world.org).get(account=group)
    assert (member.user, member.sales_company) == (world.rep_dk, world.dk)
    response = client.post(url, {"user": world.rep_dk.pk, "role": "member"})
    assert "Already on the team" in response.content.decode()
    remove = reverse("setup:team_remove", args=[member.pk])
    assert "Yes, remove" in client.get(remove).content.decode()
    assert AccountTeamMember.objects.for_org(world.org).exists()
    client.post(remove)
    assert not AccountTeamMember.objects.for_org(world.org).exists()
    # The admin sees teams but the accounts services do not let them manage one.
    client.force_login(world.admin)
    assert client.get(url).status_code == 200
    assert client.post(url, {"user": world.rep_dk.pk, "role": "member"}).status_code == 403
