from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from accounts import models as m
from crm.models import Notification, Organization

pytestmark = pytest.mark.django_db

TABLES = [
    m.Account,
    m.Contact,
    m.Activity,
    m.AccountTeamMember,
    m.AccountPlan,
    m.PlanAction,
    m.FrameworkAgreement,
    m.AgreementCompany,
    m.DiscountTier,
    m.GroupJoinRequest,
]


def snapshot() -> dict[str, list[tuple]]:
    return {
        model.__name__: list(model.objects.unscoped().order_by("pk").values_list())
        for model in TABLES
    }


def test_demo_customers_are_seeded_once_through_the_services() -> None:
    call_command("seed_demo", stdout=StringIO())
    first = snapshot()
    call_command("seed_demo", stdout=StringIO())
    assert snapshot() == first  # a second run changes nothing

    nordvik = Organization.objects.get(slug="nordvik")
    accounts = m.Account.objects.for_org(nordvik)
    volvera = accounts.get(normalized_name="volvera group")
    countries = set(accounts.filter(group=volvera).values_list("country", flat=True))
    assert {"SE", "DK", "DE", "US"} <= countries
    hansa = accounts.get(normalized_name="hansa logistik")
    assert set(accounts.filter(group=hansa).values_list("country", flat=True)) >= {
        "DE",
        "SE",
        "GB",
        "CN",
    }
    team = m.AccountTeamMember.objects.for_org(nordvik).filter(account=volvera)
    assert team.filter(role="global_account_manager").get().user.email == "rep.se@nordvik.example"
    assert team.filter(role="key_account_manager").count() == 3
    # The framework agreement (the trade rules add an association's terms beside it).
    agreement = m.FrameworkAgreement.objects.for_org(nordvik).get(
        account=volvera, name="Volvera Global Framework Agreement"
    )
    assert m.DiscountTier.objects.for_org(nordvik).filter(agreement=agreement).count() == 3
    plan = m.AccountPlan.objects.for_org(nordvik).get(account=volvera)
    assert m.PlanAction.objects.for_org(nordvik).filter(plan=plan, status="open").count() == 3
    assert m.Contact.objects.for_org(nordvik).filter(account__group=volvera).count() >= 4
    assert m.Activity.objects.for_org(nordvik).filter(account__group=volvera).count() >= 5
    # Every account's stored normal forms are what the services derive.
    assert not accounts.filter(normalized_name="").exists()
    assert not accounts.filter(group__isnull=True).exists()
    tellus = Organization.objects.get(slug="tellus")
    assert m.Account.objects.for_org(tellus).filter(normalized_name="volvera group").exists()
    # A join request waits for the Hansa group's GAM: from the US rep, whose company cannot see
    # the group, and the GAM is told in the app.
    (request,) = m.GroupJoinRequest.objects.for_org(nordvik).filter(status="pending")
    assert request.group == hansa and request.account.home_company.code == "US"
    assert request.requested_by.email == "rep.us@nordvik.example"
    gam = team.model.objects.for_org(nordvik).get(account=hansa, role="global_account_manager")
    assert (
        Notification.objects.for_org(nordvik)
        .filter(recipient=gam.user, kind="join_request")
        .count()
        == 1
    )
