"""The 360°'s "log an activity" is the deal page's form (issue 18): when it happened (date and
time in the user's time zone, now by default), duration, outcome, with whom, and optionally on
which open deal of the group."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services
from accounts.models import Activity
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory
from tests.pages.conftest import Deals

pytestmark = pytest.mark.django_db

STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")


@pytest.fixture
def stockholm_rep(world: World) -> World:
    world.rep_se.timezone = "Europe/Stockholm"
    world.rep_se.save(update_fields=["timezone"])
    return world


def test_the_form_has_the_deal_pages_fields_defaulting_to_now(
    client: Client, stockholm_rep: World, deals: Deals
) -> None:
    world = stockholm_rep
    kim = services.contact_create(account=deals.account, full_name="Kim Berg", acting_user=None)
    client.force_login(world.rep_se)
    # The form is in the 360°'s timeline fragment (htmx, below the fold).
    response = client.get(reverse("accounts:360_activities", args=[deals.account.pk]))
    form = response.context["activity_form"]
    for name in ("happened_on", "happened_time", "duration_minutes", "outcome", "contact",
                 "opportunity", "account", "notes"):  # fmt: skip
        assert name in form.fields, name
    now = timezone.now().astimezone(STOCKHOLM)
    assert form.initial["happened_on"] == now.date()
    html = response.content.decode()
    assert f'value="{now.date().isoformat()}"' in html  # ISO for the date input in any language
    assert dict(form.fields["contact"].choices)[kim.pk].startswith("Kim Berg")
    assert deals.opportunity.pk in dict(form.fields["opportunity"].choices)


def test_logging_with_time_duration_outcome_contact_and_deal(
    client: Client, stockholm_rep: World, deals: Deals
) -> None:
    world = stockholm_rep
    kim = services.contact_create(account=deals.account, full_name="Kim Berg", acting_user=None)
    client.force_login(world.rep_se)
    yesterday = (timezone.now().astimezone(STOCKHOLM) - dt.timedelta(days=1)).date()
    response = client.post(
        reverse("accounts:activity_create", args=[deals.account.pk]),
        {
            "kind": "meeting", "subject": "Site visit", "account": deals.account.pk,
            "happened_on": yesterday.isoformat(), "happened_time": "09:30",
            "duration_minutes": "45", "outcome": "Wants an offer", "contact": kim.pk,
            "opportunity": deals.opportunity.pk, "notes": "Pumps",
        },
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    assert response.status_code == 200
    assert "Site visit" in response.content.decode()
    activity = Activity.objects.for_org(world.org).get(subject="Site visit")
    expected = dt.datetime.combine(yesterday, dt.time(9, 30), tzinfo=STOCKHOLM)
    assert activity.happened_at == expected and activity.done_at == expected
    assert activity.duration_minutes == 45 and activity.outcome == "Wants an offer"
    assert activity.contact == kim and activity.opportunity == deals.opportunity
    assert activity.owner == world.rep_se
    # It shows on the deal's timeline too.
    deal_page = client.get(reverse("opportunities:detail", args=[deals.opportunity.pk]))
    assert "Site visit" in deal_page.content.decode()


def test_a_deal_of_another_group_or_a_bad_time_is_a_form_error(
    client: Client, world: World, deals: Deals
) -> None:
    elsewhere = OpportunityFactory(
        account=make_account(organization=world.org, home_company=world.se, name="Other AB"),
        owner=world.rep_se,
    )
    client.force_login(world.rep_se)
    url = reverse("accounts:activity_create", args=[deals.account.pk])
    base = {"kind": "call", "subject": "Call", "account": deals.account.pk}
    for bad in ({"opportunity": elsewhere.pk}, {"happened_time": "25:99"},
                {"duration_minutes": "-5"}):  # fmt: skip
        response = client.post(url, {**base, **bad})
        assert response.status_code == 400, bad
        assert set(bad) <= set(response.context["activity_form"].errors), bad
    # A call in the future is a task, said on the form (the service's rule), not a 500.
    tomorrow = (timezone.localdate() + dt.timedelta(days=2)).isoformat()
    response = client.post(url, {**base, "happened_on": tomorrow, "happened_time": "10:00"})
    assert response.status_code == 400
    assert response.context["activity_form"].non_field_errors()
    assert not Activity.objects.for_org(world.org).exists()


def test_others_get_404_and_marketing_403(client: Client, world: World, deals: Deals) -> None:
    url = reverse("accounts:activity_create", args=[deals.account.pk])
    data = {"kind": "call", "subject": "x", "account": deals.account.pk}
    for user, status in ((world.rep_de, 404), (world.stranger, 404), (world.marketing, 403)):
        client.force_login(user)
        assert client.post(url, data).status_code == status
    assert not Activity.objects.for_org(world.org).exists()
