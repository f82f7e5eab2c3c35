from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import translation

from crm import demo
from crm.models import ExchangeRate, Organization, Region, SalesCompany, User
from crm.roles import Role

pytestmark = pytest.mark.django_db


def snapshot() -> dict[str, list[tuple]]:
    return {
        "orgs": list(Organization.objects.order_by("pk").values_list()),
        "regions": list(Region.objects.unscoped().order_by("pk").values_list()),
        "companies": list(SalesCompany.objects.unscoped().order_by("pk").values_list()),
        "users": list(User.objects.unscoped().order_by("pk").values_list()),
        "rates": list(ExchangeRate.objects.unscoped().order_by("pk").values_list()),
    }


def test_seed_demo_builds_both_organizations_and_is_idempotent() -> None:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    first = snapshot()
    call_command("seed_demo", stdout=StringIO())
    assert snapshot() == first

    nordvik = Organization.objects.get(slug="nordvik")
    assert nordvik.corporate_currency == "EUR"
    codes = set(SalesCompany.objects.for_org(nordvik).values_list("code", flat=True))
    assert {"SE", "DK", "NO", "FI", "DE", "UK", "US", "CN"} <= codes
    assert set(Region.objects.for_org(nordvik).values_list("name", flat=True)) == {
        "Nordics",
        "DACH",
        "Western Europe",
        "Americas",
        "APAC",
    }
    assert User.objects.get(email="nordics@nordvik.example").region.name == "Nordics"
    assert User.objects.get(email="rep.dk@nordvik.example").sales_company.currency == "DKK"
    assert User.objects.get(email="rep@tellus.example").organization.name == "Tellus Group"
    # Every non-corporate currency of the companies has rates.
    currencies = set(SalesCompany.objects.for_org(nordvik).values_list("currency", flat=True))
    rated = set(ExchangeRate.objects.for_org(nordvik).values_list("currency", flat=True))
    assert currencies - {"EUR"} <= rated
    assert "admin@nordvik.example" in out.getvalue() and demo.DEMO_PASSWORD in out.getvalue()


def test_every_demo_user_can_log_in_and_sees_the_home_page() -> None:
    call_command("seed_demo", stdout=StringIO())
    for spec in demo.ORGANIZATIONS:
        for email, (_name, role, _company, _region) in spec["users"].items():
            client = Client()
            response = client.post(
                "/login/", {"username": email, "password": demo.DEMO_PASSWORD}, follow=True
            )
            assert response.status_code == 200, email
            assert response.context["user"].email == email
            # The page speaks the user's language (their own, else their company's).
            with translation.override(response.wsgi_request.LANGUAGE_CODE):
                label = str(Role(role).label)
            assert label in response.content.decode(), (email, label)
            assert spec["name"] in response.content.decode()
