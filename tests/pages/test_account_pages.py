"""Account pages: list, 360°, logging an activity, my tasks, and the opportunity form's helpers
(autocomplete, duplicate check, inline new account)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, Activity
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.pages.conftest import Deals

pytestmark = pytest.mark.django_db


def test_account_list_search_and_isolation(client: Client, world: World, deals: Deals) -> None:
    make_account(organization=world.org, home_company=world.se, name="Norrland Trä AB")
    url = reverse("accounts:list")
    client.force_login(world.rep_se)
    html = client.get(url, {"q": "volv"}).content.decode()
    assert "Volvera AB" in html and "Norrland" not in html
    client.force_login(world.rep_de)
    assert "Volvera AB" not in client.get(url).content.decode()
    client.force_login(world.stranger)
    assert "Volvera AB" not in client.get(url).content.decode()


@pytest.mark.parametrize("rows", [5, 40])
def test_account_list_constant_queries(
    client: Client, world: World, rows: int, django_assert_max_num_queries: object
) -> None:
    for i in range(rows):
        make_account(organization=world.org, home_company=world.se, name=f"Bulk {i} AB")
    client.force_login(world.manager_se)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("accounts:list"))
    assert len(response.context["page"].object_list) == rows


def test_360_owner_reader_strangers(client: Client, world: World, deals: Deals) -> None:
    sub = make_account(
        organization=world.org, home_company=world.dk, name="Volvera Danmark", parent=deals.account
    )
    url = reverse("accounts:detail", args=[sub.pk])
    # The Danish key account manager is on the group's team: the whole group, by country, with
    # the Swedish open deal's figures and the team.
    client.force_login(world.rep_dk)
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Volvera AB" in html and "Volvera Danmark" in html
    assert world.rep_dk.full_name in html
    # The log form is in the timeline's fragment (loaded by htmx below the fold).
    fragment = reverse("accounts:360_activities", args=[sub.pk])
    assert fragment in html and 'name="subject"' not in html
    assert 'name="subject"' in client.get(fragment).content.decode()
    # The Swedish owner sees the Swedish account, not the Danish subsidiary (not on the team).
    client.force_login(world.rep_se)
    assert client.get(url).status_code == 404
    html = client.get(reverse("accounts:detail", args=[deals.account.pk])).content.decode()
    assert "Volvera AB" in html and "Volvera Danmark" not in html
    # Marketing reads, without the activity form.
    client.force_login(world.marketing_se)
    html = client.get(reverse("accounts:detail", args=[deals.account.pk])).content.decode()
    assert "Volvera AB" in html
    fragment = client.get(reverse("accounts:360_activities", args=[deals.account.pk]))
    assert fragment.status_code == 200 and 'name="subject"' not in fragment.content.decode()
    client.force_login(world.rep_de)
    assert client.get(url).status_code == 404
    client.force_login(world.stranger)
    assert client.get(url).status_code == 404


def test_log_activity_in_two_clicks(client: Client, world: World, deals: Deals) -> None:
    url = reverse("accounts:activity_create", args=[deals.account.pk])
    client.force_login(world.rep_dk)
    response = client.post(
        url,
        {"kind": "call", "subject": "Called about pumps", "account": deals.account.pk},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "Called about pumps" in response.content.decode()
    activity = Activity.objects.for_org(world.org).get(subject="Called about pumps")
    assert activity.owner == world.rep_dk and activity.done_at is not None
    # Marketing reads accounts but logs no sales activity; strangers do not see the account.
    client.force_login(world.marketing)
    assert (
        client.post(url, {"kind": "call", "subject": "x", "account": deals.account.pk}).status_code
        == 403
    )
    client.force_login(world.rep_de)
    assert (
        client.post(url, {"kind": "call", "subject": "x", "account": deals.account.pk}).status_code
        == 404
    )
    client.force_login(world.stranger)
    assert (
        client.post(url, {"kind": "call", "subject": "x", "account": deals.account.pk}).status_code
        == 404
    )


def test_tasks_show_mine_with_overdue_and_complete(
    client: Client, world: World, deals: Deals
) -> None:
    now = timezone.now()
    from accounts.services import activity_log

    late = activity_log(
        account=deals.account, kind="task", subject="Send offer", acting_user=world.rep_se,
        due_at=now - dt.timedelta(days=2),
    )  # fmt: skip
    activity_log(
        account=deals.account, kind="task", subject="Dane's task", acting_user=world.rep_dk
    )
    client.force_login(world.rep_se)
    html = client.get(reverse("accounts:tasks")).content.decode()
    assert "Send offer" in html and "overdue" in html and "Dane&#x27;s task" not in html
    done = reverse("accounts:activity_done", args=[late.pk])
    # Someone else's task: the Danish rep sees the account's activities but may not complete it.
    client.force_login(world.rep_dk)
    assert client.post(done).status_code == 403
    client.force_login(world.stranger)
    assert client.post(done).status_code == 404
    client.force_login(world.rep_se)
    assert client.post(done, HTTP_HX_REQUEST="true").status_code == 200
    late.refresh_from_db()
    assert late.done_at is not None


@pytest.mark.parametrize("rows", [5, 40])
def test_tasks_constant_queries(
    client: Client, world: World, deals: Deals, rows: int, django_assert_max_num_queries: object
) -> None:
    from accounts.services import activity_log

    for i in range(rows):
        activity_log(account=deals.account, kind="task", subject=f"T{i}", acting_user=world.rep_se)
    client.force_login(world.rep_se)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("accounts:tasks"))
    assert len(response.context["page"].object_list) == rows


def test_autocomplete_offers_only_visible_accounts(
    client: Client, world: World, deals: Deals
) -> None:
    client.force_login(world.rep_se)
    html = client.get(reverse("accounts:search"), {"account_search": "volv"}).content.decode()
    assert f'value="{deals.account.pk}"' in html and 'name="account"' in html
    client.force_login(world.rep_de)
    html = client.get(reverse("accounts:search"), {"account_search": "volv"}).content.decode()
    assert "Volvera" not in html
    client.force_login(world.stranger)
    html = client.get(reverse("accounts:search"), {"account_search": "volv"}).content.decode()
    assert "Volvera" not in html


def test_inline_account_checks_duplicates_first(client: Client, world: World, deals: Deals) -> None:
    client.force_login(world.rep_se)
    url = reverse("accounts:inline_create")
    data = {"new_name": "Volvera AB", "new_country": "se"}
    html = client.get(reverse("accounts:duplicates"), data).content.decode()
    assert "Volvera AB" in html
    response = client.post(url, data, HTTP_HX_REQUEST="true")
    assert 'data-testid="duplicate-warning"' in response.content.decode()
    assert Account.objects.for_org(world.org).filter(name="Volvera AB").count() == 1
    response = client.post(url, {**data, "new_ignore_duplicates": "on"}, HTTP_HX_REQUEST="true")
    assert response["HX-Trigger"] == "accountChosen"
    assert Account.objects.for_org(world.org).filter(name="Volvera AB").count() == 2
    response = client.post(url, {"new_name": "Brand New AB", "new_country": "SE"})
    created = Account.objects.for_org(world.org).get(name="Brand New AB")
    assert created.home_company == world.se and f'value="{created.pk}"' in response.content.decode()
