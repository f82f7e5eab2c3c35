"""The 360° of a big group (issue 21): the first screen (summary, figures per country, the top
accounts), the sections below the fold as htmx fragments with their own access checks, the
"show all" list of the group's accounts, and the API's page of accounts. Constant queries at
two sizes, the same 404s for every fragment, and the hand-built API rows equal to the
serializers' output."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api import AccountSerializer, ActivitySerializer, TeamMemberSerializer
from accounts.models import Account, Contact
from opportunities import customer
from opportunities.customer_api import _Writer
from reporting import customer_value as cv
from tests.conftest import World
from tests.factories import UserFactory
from tests.opportunities.test_customer import TODAY, build_group, rates

pytestmark = pytest.mark.django_db

FRAGMENTS = ("360_activities", "360_situations", "360_plan", "360_contacts", "group_accounts")


def _urls(pk: int) -> list[str]:
    return [reverse(f"accounts:{name}", args=[pk]) for name in FRAGMENTS]


@pytest.mark.parametrize("size", [3, 30])
def test_the_page_its_fragments_and_the_api_run_constant_queries(
    client: Client, world: World, django_assert_max_num_queries, size: int
) -> None:
    rates(world)
    top = build_group(world, size)
    client.force_login(world.director)
    # Each: the session and user, then its own reads (the group and the account asked for
    # first, for the 404s). The page: accounts per country, a page of accounts, figures, the
    # team, the customer value join and the join check; the fragments: their section.
    budgets = {
        reverse("accounts:detail", args=[top.pk]): 10,
        reverse("accounts:360_activities", args=[top.pk]): 9,
        reverse("accounts:360_situations", args=[top.pk]): 10,
        reverse("accounts:360_plan", args=[top.pk]): 10,
        reverse("accounts:360_contacts", args=[top.pk]): 6,
        reverse("accounts:group_accounts", args=[top.pk]): 7,
        reverse("accounts:group_accounts", args=[top.pk]) + "?page=2&sort=name": 7,
    }
    for url, budget in budgets.items():
        with django_assert_max_num_queries(budget):
            response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(reverse("accounts:detail", args=[top.pk])).content.decode()
    # The first screen lists the top accounts only, says how many there are, and leaves the
    # heavy sections to their fragments.
    assert page.count('data-testid="group-account"') == min(size + 1, customer.TOP_SUBSIDIARIES)
    assert ('data-testid="show-all-accounts"' in page) is (size + 1 > customer.TOP_SUBSIDIARIES)
    for name in FRAGMENTS:
        assert reverse(f"accounts:{name}", args=[top.pk]) in page
    assert 'data-testid="timeline-item"' not in page and 'name="subject"' not in page
    assert 'hx-trigger="revealed"' in page
    activities = client.get(reverse("accounts:360_activities", args=[top.pk])).content.decode()
    assert activities.count('data-testid="timeline-item"') == min(size, 20)
    listing = client.get(reverse("accounts:group_accounts", args=[top.pk])).content.decode()
    assert listing.count('data-testid="group-account"') == min(size + 1, 50)

    api = APIClient()
    api.force_authenticate(world.director)
    with django_assert_max_num_queries(14):
        body = api.get(f"/api/v1/accounts/{top.pk}/360/").json()
    listed = sum(len(v) for v in body["subsidiaries_by_country"].values())
    assert listed == min(size + 1, customer.API_SUBSIDIARY_PAGE_SIZE)
    assert body["subsidiaries_page"]["count"] == sum(body["accounts_per_country"].values())
    assert body["subsidiaries_page"]["count"] == size + 1
    assert set(body["contacts_by_account"]) == {
        str(a["id"]) for rows in body["subsidiaries_by_country"].values() for a in rows
    }


def test_the_api_pages_through_every_account_once(world: World) -> None:
    rates(world)
    top = build_group(world, 30)
    api = APIClient()
    api.force_authenticate(world.director)
    seen: list[int] = []
    number: int | None = 1
    while number is not None:
        body = api.get(f"/api/v1/accounts/{top.pk}/360/", {"subsidiaries_page": number}).json()
        seen += [a["id"] for rows in body["subsidiaries_by_country"].values() for a in rows]
        number = body["subsidiaries_page"]["next"]
    group_ids = Account.objects.for_org(world.org).filter(group_id=top.pk)
    assert sorted(seen) == sorted(group_ids.values_list("pk", flat=True))
    # Nonsense is the first page, never an error.
    for bad in ("abc", "-1", "0", "²", "99999999999999999999"):
        answer = api.get(f"/api/v1/accounts/{top.pk}/360/", {"subsidiaries_page": bad})
        assert answer.status_code == 200, bad


def test_every_fragment_checks_access_itself(client: Client, world: World) -> None:
    rates(world)
    top = build_group(world, 8)
    sub_se = Account.objects.for_org(world.org).filter(parent=top, country="SE").first()
    sub_de = Account.objects.for_org(world.org).filter(parent=top, country="DE").first()
    assert sub_se is not None and sub_de is not None
    # The director sees all of it.
    client.force_login(world.director)
    for url in _urls(top.pk) + _urls(sub_de.pk):
        assert client.get(url).status_code == 200, url
    # Another organization: 404 for every one, as for an id that does not exist.
    client.force_login(world.stranger)
    for url in _urls(top.pk) + _urls(sub_se.pk):
        assert client.get(url).status_code == 404, url
    # Another company's rep, not on the team: not the group's top, not a Swedish subsidiary.
    client.force_login(world.rep_de)
    for url in _urls(top.pk) + _urls(sub_se.pk):
        assert client.get(url).status_code == 404, url
    # A rep of the same company who is not on the team sees her company's accounts only.
    se_colleague = UserFactory(organization=world.org, sales_company=world.se)
    client.force_login(se_colleague)
    for url in _urls(sub_de.pk):
        assert client.get(url).status_code == 404, url
    # Ids that are not accounts: missing, never a 500.
    client.force_login(world.director)
    for pk in (10**9, 0):
        for url in _urls(pk):
            assert client.get(url).status_code == 404, url
    for raw in ("abc", "-1", "1.0"):
        assert client.get(f"/accounts/{raw}/360/plan/").status_code == 404
        assert client.get(f"/accounts/{raw}/companies/").status_code == 404


def test_a_need_to_know_subsidiary_gets_its_fragments_without_the_tops_details(
    client: Client, world: World
) -> None:
    rates(world)
    top = build_group(world, 8)
    sub_de = Account.objects.for_org(world.org).filter(parent=top, country="DE").first()
    assert sub_de is not None
    # The DE rep sees the German subsidiaries, not the Swedish top (not on the team).
    client.force_login(world.rep_de)
    listing = client.get(reverse("accounts:group_accounts", args=[sub_de.pk]))
    assert listing.status_code == 200
    rows = listing.context["page"].rows
    assert rows and {r.country for r in rows} == {"DE"}
    html = listing.content.decode()
    assert top.name in html  # the top's name (need-to-know level) in the title
    assert f'href="{reverse("accounts:detail", args=[top.pk])}"' not in html
    contacts = client.get(reverse("accounts:360_contacts", args=[sub_de.pk])).content.decode()
    assert "Nordvik SE" not in contacts
    # Only German contacts (the contacts of accounts she sees).
    shown = client.get(reverse("accounts:360_contacts", args=[sub_de.pk])).context[
        "contacts_by_account"
    ]
    assert {acc.country for acc, _people in shown} == {"DE"}


def test_the_show_all_list_sorts_and_pages(client: Client, world: World) -> None:
    rates(world)
    top = build_group(world, 60)
    cv.refresh_account_values(organization=world.org, as_of=TODAY)
    url = reverse("accounts:group_accounts", args=[top.pk])
    client.force_login(world.director)
    first = client.get(url).context["page"]
    assert first.sort == "value" and first.with_value and first.count == 61
    values = [r.value__lifetime_value for r in first.rows]
    assert values == sorted(values, reverse=True)
    by_name = client.get(url, {"sort": "name", "page": 2})
    page = by_name.context["page"]
    assert page.number == 2 and len(page.rows) == 11
    names = [r.name for r in page.rows]
    assert names == sorted(names)
    assert 'rel="prev"' in by_name.content.decode()
    dk = client.get(url, {"country": "DK"}).context["page"]
    assert dk.count == 15 and {r.country for r in dk.rows} == {"DK"}
    # The country manager: no value order, no value column.
    client.force_login(world.manager_se)
    answer = client.get(url, {"sort": "value"})
    assert answer.context["page"].sort == "name" and not answer.context["page"].with_value
    assert "Lifetime value" not in answer.content.decode()
    assert 'data-testid="sort-value"' not in answer.content.decode()


def test_the_api_rows_equal_the_serializers_output(world: World) -> None:
    rates(world)
    top = build_group(world, 6)
    cv.refresh_account_values(organization=world.org, as_of=TODAY)
    view = customer.account_360(user=world.director, group=top.pk)
    lean = customer.account_360(user=world.director, group=top.pk, lean=True)
    assert view.subsidiaries is not None and view.latest_activities and view.team
    accounts = (
        Account.objects.for_org(world.org)
        .select_related("value")
        .in_bulk([r.id for r in view.subsidiaries.rows])
    )
    expected = [
        AccountSerializer().to_representation(accounts[r.id]) for r in view.subsidiaries.rows
    ]
    assert _Writer().accounts(view.subsidiaries.rows) == expected
    assert any(row["value"] is not None for row in expected)
    assert _Writer().group(view.group) == AccountSerializer().to_representation(view.group)
    assert _Writer().activities(lean.latest_activities) == list(
        ActivitySerializer(view.latest_activities, many=True).data
    )
    assert _Writer().team(lean.team) == list(TeamMemberSerializer(view.team, many=True).data)


def test_customer_values_stay_out_of_the_api_for_roles_that_do_not_see_them(
    world: World,
) -> None:
    rates(world)
    top = build_group(world, 4)
    cv.refresh_account_values(organization=world.org, as_of=TODAY)
    api = APIClient()
    api.force_authenticate(world.manager_se)
    body = api.get(f"/api/v1/accounts/{top.pk}/360/").json()
    rows = [a for rows in body["subsidiaries_by_country"].values() for a in rows]
    assert rows and all(a["value"] is None for a in rows)
    assert body["group"]["value"] is None
    api.force_authenticate(world.director)
    body = api.get(f"/api/v1/accounts/{top.pk}/360/").json()
    assert body["group"]["value"] is not None


def _contacts_read_apart(user, account_ids: list[int]) -> dict[str, list[dict[str, object]]]:
    # What the API answered before the contacts rode along in the page's query: one query of
    # the contacts the user sees, by account, name and id.
    by_account: dict[str, list[dict[str, object]]] = {str(pk): [] for pk in account_ids}
    rows = (
        Contact.objects.visible_to(user)
        .filter(account_id__in=account_ids)
        .order_by("account_id", "full_name", "pk")
    )
    for c in rows:
        by_account[str(c.account_id)].append(
            {
                "id": c.pk,
                "full_name": c.full_name,
                "title": c.title or "",
                "email": c.email or "",
                "phone": c.phone or "",
                "archived": c.archived_at is not None,
            }
        )
    return by_account


@pytest.mark.parametrize("who", ["director", "manager_se", "rep_dk"])
def test_the_api_contacts_ride_along_with_the_page_and_equal_a_read_of_their_own(
    world: World, django_assert_num_queries, who: str
) -> None:
    rates(world)
    top = build_group(world, 9)
    subs = list(Account.objects.for_org(world.org).filter(parent=top).order_by("pk"))
    # Ties of name (ordered by id), NULL and filled optional fields, an archived contact, an
    # account without contacts, and text JSON must keep (quotes, backslash, non-ASCII).
    Contact.objects.for_org(world.org).filter(account=subs[0]).delete()
    for name, extra in [
        ('Åsa "Q" Öberg', {"title": "CFO \\ CEO", "email": "asa@example.com"}),
        ('Åsa "Q" Öberg', {"phone": "+46 70 000 00 00"}),
        ("Bo 李", {"archived_at": timezone.now()}),
    ]:
        contact = Contact.objects.for_org(world.org).create(
            organization=world.org, account=subs[1], full_name=name, **extra
        )
        assert contact.pk
    user = getattr(world, who)
    api = APIClient()
    api.force_authenticate(user)
    body = api.get(f"/api/v1/accounts/{top.pk}/360/").json()
    listed = [a["id"] for rows in body["subsidiaries_by_country"].values() for a in rows]
    assert body["contacts_by_account"] == _contacts_read_apart(user, listed)
    if who == "director":
        people = body["contacts_by_account"][str(subs[1].pk)]
        assert len(people) == 4 and [c["archived"] for c in people].count(True) == 1
        twins = [c for c in people if c["full_name"] == 'Åsa "Q" Öberg']
        assert [c["id"] for c in twins] == sorted(c["id"] for c in twins)
        assert twins[0]["title"] == "CFO \\ CEO" and twins[1]["title"] == ""
        assert body["contacts_by_account"][str(subs[0].pk)] == []
    # The 360° API's own reads (force_authenticate: no session or user query): the two
    # accounts, accounts per country, the page of accounts with their contacts, the figures,
    # the timeline, the team, the plan, the agreements with their tiers and companies, the
    # conflicts.
    with django_assert_num_queries(11):
        api.get(f"/api/v1/accounts/{top.pk}/360/")
