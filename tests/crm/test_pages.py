from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from crm.models import SalesCompany
from tests.conftest import World
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_login_page_renders_with_labelled_inputs(client: Client) -> None:
    response = client.get(reverse("login"))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_username">' in html and 'id="id_username"' in html
    assert '<label for="id_password">' in html


def test_home_requires_login(client: Client) -> None:
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_with_email_and_see_who_you_are(client: Client, world: World) -> None:
    response = client.post(
        reverse("login"), {"username": world.rep_se.email, "password": PASSWORD}, follow=True
    )
    assert response.status_code == 200
    html = response.content.decode()
    # In the Swedish company's language: "Säljare" is "Sales rep".
    assert "Nordvik" in html and "Säljare" in html and "Nordvik SE" in html
    assert response.context["summary"].companies == [world.se]


def test_wrong_password_shows_an_error_and_no_session(client: Client, world: World) -> None:
    response = client.post(reverse("login"), {"username": world.rep_se.email, "password": "nope"})
    assert response.status_code == 200
    assert "correct" in response.content.decode()  # Django's "enter a correct e-mail and password"
    assert "_auth_user_id" not in client.session


def test_home_shows_each_roles_scope(client: Client, world: World) -> None:
    client.force_login(world.regional)
    summary = client.get(reverse("home")).context["summary"]
    assert {c.code for c in summary.companies} == {"SE", "DK"}
    assert summary.sees_whole_organization is False
    client.force_login(world.director)
    summary = client.get(reverse("home")).context["summary"]
    assert summary.sees_whole_organization is True
    assert {c.code for c in summary.companies} == {"SE", "DK", "DE"}
    client.force_login(world.stranger)
    html = client.get(reverse("home")).content.decode()
    assert "Tellus SE" in html and "Nordvik SE" not in html


def test_logout_is_a_post(client: Client, world: World) -> None:
    client.force_login(world.rep_se)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_unknown_page_is_a_friendly_404(client: Client, world: World) -> None:
    client.force_login(world.rep_se)
    response = client.get("/no-such-page/")
    assert response.status_code == 404


def test_admin_is_for_the_global_admin_only(client: Client, world: World) -> None:
    client.force_login(world.director)
    assert client.get(reverse("admin:index")).status_code == 302  # not staff -> login
    client.force_login(world.admin)
    assert client.get(reverse("admin:index")).status_code == 200


def test_admin_lists_and_opens_only_own_organization(client: Client, world: World) -> None:
    client.force_login(world.admin)
    listing = client.get(reverse("admin:crm_salescompany_changelist"))
    assert listing.status_code == 200
    names = {c.name for c in listing.context["cl"].result_list}
    assert "Nordvik SE" in names and "Tellus SE" not in names
    foreign = reverse("admin:crm_salescompany_change", args=[world.other_company.pk])
    response = client.get(foreign, follow=True)
    # Django admin answers a missing object by redirecting with "doesn't exist".
    assert "doesn\u2019t exist" in response.content.decode()
    users = client.get(reverse("admin:crm_user_changelist")).context["cl"].result_list
    assert world.stranger not in list(users)


def test_admin_creates_rows_in_own_organization(client: Client, world: World) -> None:
    client.force_login(world.admin)
    response = client.post(
        reverse("admin:crm_salescompany_add"),
        {
            "region": world.nordics.pk,
            "name": "Nordvik Norge",
            "code": "NO",
            "country": "NO",
            "currency": "NOK",
            "language": "nb",
            "timezone": "Europe/Oslo",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    created = SalesCompany.objects.for_org(world.org).get(code="NO")
    assert created.organization == world.org


def test_admin_form_refuses_a_region_of_another_organization(client: Client, world: World) -> None:
    from tests.factories import RegionFactory

    foreign_region = RegionFactory(organization=world.other_org)
    client.force_login(world.admin)
    response = client.post(
        reverse("admin:crm_salescompany_add"),
        {
            "region": foreign_region.pk,
            "name": "X",
            "code": "XX",
            "country": "NO",
            "currency": "NOK",
            "language": "nb",
            "timezone": "Europe/Oslo",
        },
    )
    assert response.status_code == 200
    assert "region" in response.context["adminform"].form.errors
    assert not SalesCompany.objects.unscoped().filter(code="XX").exists()


def test_admin_rejects_bad_currency_with_a_message(client: Client, world: World) -> None:
    client.force_login(world.admin)
    response = client.post(
        reverse("admin:crm_exchangerate_add"),
        {"currency": "XYZ", "rate": "1.5", "valid_from": "2026-01-01"},
    )
    assert response.status_code == 200
    assert "not a supported ISO 4217" in response.content.decode()
