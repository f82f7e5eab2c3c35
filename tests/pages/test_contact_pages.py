"""Contact pages (list, create, edit, archive/restore, merge, a contact's page), the deal page's
buying centre and one-step activity log, and the timelines on the deal, the 360° and the
contact: isolation (another organization, another company -> 404) and constant query counts."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from accounts import services
from accounts.models import Activity, Contact
from opportunities.models import BuyingRole, OpportunityContactRole
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.factories import users_today
from tests.pages.conftest import Deals

pytestmark = pytest.mark.django_db


def _contact(deals: Deals, name: str = "Kim Berg", **fields: object) -> Contact:
    return services.contact_create(
        account=deals.account, full_name=name, acting_user=None, **fields
    )


def test_contact_list_search_filter_sort_and_empty_state(
    client: Client, world: World, deals: Deals
) -> None:
    _contact(deals, "Anna Holm", email="anna@volvera.example")
    _contact(deals, "Bo Lind")
    archived = _contact(deals, "Cilla Ek")
    services.contact_archive(contact=archived, acting_user=None)
    url = reverse("accounts:contacts")
    client.force_login(world.rep_se)
    html = client.get(url).content.decode()
    assert "Anna Holm" in html and "Bo Lind" in html and "Cilla Ek" not in html
    html = client.get(url, {"q": "anna@"}).content.decode()
    assert "Anna Holm" in html and "Bo Lind" not in html
    html = client.get(url, {"archived": "on"}).content.decode()
    assert "Cilla Ek" in html and "Anna Holm" not in html
    page = client.get(url, {"sort": "-name"}).context["page"]
    assert [c.full_name for c in page.object_list] == ["Bo Lind", "Anna Holm"]
    page = client.get(url, {"account": deals.account.pk}).context["page"]
    assert len(page.object_list) == 2
    html = client.get(url, {"q": "nobody"}).content.decode()
    assert 'data-testid="empty-state"' in html
    # Bad filter values are a form error, not a 500; a foreign account id is 404.
    assert client.get(url, {"sort": "evil", "company": "x"}).status_code == 200
    client.force_login(world.stranger)
    assert "Anna Holm" not in client.get(url).content.decode()
    assert client.get(url, {"account": deals.account.pk}).status_code == 404
    client.force_login(world.rep_de)
    assert "Anna Holm" not in client.get(url).content.decode()


@pytest.mark.parametrize("rows", [3, 30])
def test_contact_list_constant_queries(
    client: Client, world: World, deals: Deals, rows: int, django_assert_max_num_queries: object
) -> None:
    for i in range(rows):
        account = make_account(organization=world.org, home_company=world.se, name=f"Bulk {i}")
        services.contact_create(account=account, full_name=f"Person {i}", acting_user=None)
    client.force_login(world.manager_se)
    with django_assert_max_num_queries(9):
        response = client.get(reverse("accounts:contacts"), {"company": world.se.pk})
    assert len(response.context["page"].object_list) == rows


def test_create_edit_archive_restore_through_the_pages(
    client: Client, world: World, deals: Deals
) -> None:
    client.force_login(world.rep_se)
    pick = client.get(reverse("accounts:contact_create"), {"q": "volv"})
    assert "Volvera AB" in pick.content.decode()
    new_url = reverse("accounts:contact_create") + f"?account={deals.account.pk}"
    bad = client.post(new_url, {"full_name": "", "email": "not-an-address"})
    assert bad.status_code == 400
    response = client.post(
        new_url, {"full_name": "Kim Berg", "email": "KIM@volvera.example", "language": "sv"}
    )
    contact = Contact.objects.for_org(world.org).get(full_name="Kim Berg")
    assert response.status_code == 302 and contact.email == "kim@volvera.example"
    edit = reverse("accounts:contact_edit", args=[contact.pk])
    assert client.get(edit).status_code == 200
    client.post(edit, {"full_name": "Kim Berg", "title": "CPO", "email": "kim@volvera.example"})
    contact.refresh_from_db()
    assert contact.title == "CPO"
    archive = reverse("accounts:contact_archive", args=[contact.pk])
    page = client.get(archive).content.decode()
    with translation.override(re.search(r'<html lang="([a-z]+)"', page).group(1)):
        question = translation.gettext("Archive %(name)s?") % {"name": "Kim Berg"}
    assert question in page  # the confirmation, in the reader's language
    client.post(archive)
    contact.refresh_from_db()
    assert contact.archived_at is not None
    page = client.get(archive).content.decode()
    with translation.override(re.search(r'<html lang="([a-z]+)"', page).group(1)):
        question = translation.gettext("Restore %(name)s?") % {"name": "Kim Berg"}
    assert question in page
    client.post(archive)
    contact.refresh_from_db()
    assert contact.archived_at is None


def test_merge_page_confirms_and_merges(client: Client, world: World, deals: Deals) -> None:
    keep = _contact(deals, "Kim Berg", email="kim@volvera.example")
    dupe = _contact(deals, "K. Berg", title="Head of purchasing")
    services.activity_log(
        account=deals.account, kind="call", subject="Hi", contact=dupe, acting_user=world.rep_se
    )
    url = reverse("accounts:contact_merge", args=[keep.pk])
    client.force_login(world.rep_se)
    assert "Head of purchasing" in client.get(url).content.decode()
    # Without the confirmation nothing happens.
    refused = client.post(url, {"other": dupe.pk, "take_title": "other"})
    assert refused.status_code == 400
    assert Contact.objects.for_org(world.org).filter(pk=dupe.pk).exists()
    client.post(url, {"other": dupe.pk, "take_title": "other", "confirm": "on"})
    keep.refresh_from_db()
    assert keep.title == "Head of purchasing" and keep.full_name == "Kim Berg"
    assert not Contact.objects.for_org(world.org).filter(pk=dupe.pk).exists()
    assert Activity.objects.for_org(world.org).filter(contact=keep).count() == 1


def test_contact_pages_isolation(client: Client, world: World, deals: Deals) -> None:
    contact = _contact(deals)
    pages = [
        reverse("accounts:contact", args=[contact.pk]),
        reverse("accounts:contact_edit", args=[contact.pk]),
        reverse("accounts:contact_archive", args=[contact.pk]),
        reverse("accounts:contact_merge", args=[contact.pk]),
        reverse("accounts:contact_create") + f"?account={deals.account.pk}",
    ]
    # Another organization and another company (not on the team) get 404, GET and POST.
    for outsider in (world.stranger, world.rep_de, world.manager_de):
        client.force_login(outsider)
        for url in pages:
            assert client.get(url).status_code == 404, (outsider, url)
        for url in pages[1:]:  # the contact's own page is GET only
            assert client.post(url, {"full_name": "X"}).status_code == 404, (outsider, url)
    # Marketing reads, but may not change.
    client.force_login(world.marketing_se)
    assert client.get(pages[0]).status_code == 200
    assert client.get(pages[1]).status_code == 403
    assert client.post(pages[2]).status_code == 403
    contact.refresh_from_db()
    assert contact.archived_at is None


def test_log_an_activity_from_the_deal_page(client: Client, world: World, deals: Deals) -> None:
    kim = _contact(deals)
    opp = deals.opportunity
    client.force_login(world.rep_se)
    page = client.get(reverse("opportunities:detail", args=[opp.pk])).content.decode()
    today = users_today(world.rep_se).isoformat()
    assert f'value="{today}"' in page  # the date defaults to today, as ISO for the date input
    response = client.post(
        reverse("opportunities:log_activity", args=[opp.pk]),
        {
            "kind": "meeting",
            "subject": "Site visit",
            "happened_on": "2026-11-20",
            "happened_time": "14:30",
            "duration_minutes": "45",
            "contact": kim.pk,
            "outcome": "Pilot agreed",
        },
    )
    assert response.status_code == 302
    activity = Activity.objects.for_org(world.org).get(subject="Site visit")
    assert (activity.account_id, activity.opportunity_id, activity.owner_id) == (
        deals.account.pk,
        opp.pk,
        world.rep_se.pk,
    )
    # Typed in the user's time zone (their company's).
    user_zone = zoneinfo.ZoneInfo(world.rep_se.effective_timezone)
    assert activity.happened_at.astimezone(user_zone).replace(tzinfo=None) == dt.datetime(
        2026, 11, 20, 14, 30
    )
    assert (activity.duration_minutes, activity.outcome, activity.contact_id) == (
        45,
        "Pilot agreed",
        kim.pk,
    )
    # On the deal's timeline, the account's (360°) and the contact's.
    for url in (
        reverse("opportunities:detail", args=[opp.pk]),
        reverse("accounts:360_activities", args=[deals.account.pk]),  # the 360°'s timeline
        reverse("accounts:contact", args=[kim.pk]),
    ):
        assert "Site visit" in client.get(url).content.decode(), url
    # Bad input: the page again with field errors, status 400, nothing saved.
    bad = client.post(
        reverse("opportunities:log_activity", args=[opp.pk]),
        {"kind": "call", "subject": "", "happened_on": "31.02.2026", "happened_time": "x"},
    )
    assert bad.status_code == 400 and 'role="alert"' in bad.content.decode()
    future = client.post(
        reverse("opportunities:log_activity", args=[opp.pk]),
        {
            "kind": "call",
            "subject": "Tomorrow",
            "happened_on": (timezone.localdate() + dt.timedelta(days=2)).isoformat(),
            "happened_time": "10:00",
        },
    )
    assert future.status_code == 400
    assert Activity.objects.for_org(world.org).count() == 1


def test_deal_page_forms_isolation(client: Client, world: World, deals: Deals) -> None:
    opp = deals.opportunity
    kim = _contact(deals)
    role = OpportunityContactRole.objects.create(
        organization=world.org, opportunity=opp, contact=kim, role=BuyingRole.USER
    )
    posts = [
        (reverse("opportunities:log_activity", args=[opp.pk]), {"kind": "call", "subject": "x"}),
        (
            reverse("opportunities:add_contact_role", args=[opp.pk]),
            {"role-contact": kim.pk, "role-role": "influencer"},
        ),
        (reverse("opportunities:remove_contact_role", args=[opp.pk, role.pk]), {}),
    ]
    for outsider in (world.stranger, world.rep_de, world.marketing):
        client.force_login(outsider)
        for url, data in posts:
            assert client.post(url, data).status_code == 404, (outsider, url)
    # The Danish key account manager reads the deal and logs on it, but changes no roles.
    client.force_login(world.rep_dk)
    page = client.get(reverse("opportunities:detail", args=[opp.pk])).content.decode()
    assert 'data-testid="log-activity"' in page and 'data-testid="add-role"' not in page
    assert client.post(*posts[1]).status_code == 403
    assert client.post(*posts[2]).status_code == 403
    assert OpportunityContactRole.objects.for_org(world.org).count() == 1


def test_buying_centre_on_the_deal_page(client: Client, world: World, deals: Deals) -> None:
    opp = deals.opportunity
    kim = _contact(deals, "Kim Berg", title="CFO")
    client.force_login(world.rep_se)
    add = reverse("opportunities:add_contact_role", args=[opp.pk])
    assert (
        client.post(add, {"role-contact": kim.pk, "role-role": "economic_buyer"}).status_code == 302
    )
    assert (
        client.post(add, {"role-contact": kim.pk, "role-role": "decision_maker"}).status_code == 302
    )
    assert client.post(add, {"role-contact": kim.pk, "role-role": "boss"}).status_code == 400
    page = client.get(reverse("opportunities:detail", args=[opp.pk])).content.decode()
    assert 'data-role="economic_buyer"' in page and 'data-role="decision_maker"' in page
    contact_page = client.get(reverse("accounts:contact", args=[kim.pk])).content.decode()
    assert opp.name in contact_page
    role = OpportunityContactRole.objects.for_org(world.org).get(role="economic_buyer")
    client.post(reverse("opportunities:remove_contact_role", args=[opp.pk, role.pk]))
    roles = OpportunityContactRole.objects.for_org(world.org).values_list("role", flat=True)
    assert list(roles) == ["decision_maker"]


@pytest.mark.parametrize("rows", [3, 25])
def test_timelines_and_360_contacts_constant_queries(
    client: Client, world: World, deals: Deals, rows: int, django_assert_max_num_queries: object
) -> None:
    """The deal page, the 360°'s timeline and a contact's page run the same number of queries
    however many activities, contacts and roles there are (a page of the timeline at a
    time)."""
    opp = deals.opportunity
    now = timezone.now()
    contacts = [_contact(deals, f"Person {i}") for i in range(rows)]
    for i, person in enumerate(contacts):
        services.activity_log(
            account=deals.account,
            opportunity=opp,
            contact=contacts[0],
            kind="call",
            subject=f"Call {i}",
            happened_at=now - dt.timedelta(hours=i),
            acting_user=world.rep_se,
        )
        OpportunityContactRole.objects.create(
            organization=world.org, opportunity=opp, contact=person, role=BuyingRole.USER
        )
    client.force_login(world.rep_se)
    for url, budget in (
        (reverse("opportunities:detail", args=[opp.pk]), 17),
        # The 360°'s timeline fragment with the log form: the session and user, the group,
        # the timeline, the form's accounts, contacts and the deal picker (the group's open
        # deals), and the request's own (RLS, time zone).
        (reverse("accounts:360_activities", args=[deals.account.pk]), 12),
        (reverse("accounts:contact", args=[contacts[0].pk]), 10),
    ):
        with django_assert_max_num_queries(budget):
            html = client.get(url).content.decode()
        assert "Call 0" in html, url
        assert html.count('data-testid="timeline-item"') == min(rows, 20), url
    # The older page of the timeline.
    older = client.get(reverse("opportunities:detail", args=[opp.pk]), {"activities": 2})
    assert older.content.decode().count('data-testid="timeline-item"') == max(rows - 20, 0)
    contacts_url = reverse("accounts:360_contacts", args=[deals.account.pk])
    assert "Person 1" in client.get(contacts_url).content.decode()
