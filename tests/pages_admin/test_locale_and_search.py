"""The user's language and time zone per request, and search limited to what the user may see."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.services import contact_create
from crm.models import SalesCompany, User
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, account_for, process_for

pytestmark = pytest.mark.django_db


def _danish(world: World) -> User:
    SalesCompany.objects.for_org(world.org).filter(pk=world.dk.pk).update(
        language="da", timezone="Europe/Copenhagen"
    )
    world.rep_dk.refresh_from_db()
    return world.rep_dk


def test_a_danish_rep_gets_danish_strings_and_copenhagen_time(client: Client, world: World) -> None:
    rep = _danish(world)
    client.force_login(rep)
    response = client.get(reverse("profile"))
    html = response.content.decode()
    assert response["Content-Language"] == "da"
    assert '<html lang="da">' in html
    assert "Log ud" in html and "Din profil" in html and "Spring til indholdet" in html
    assert response.context["profile_user"].effective_timezone == "Europe/Copenhagen"
    # Dates render in Copenhagen time: the page's "now" equals Copenhagen's wall clock.
    assert timezone.get_current_timezone_name() == "UTC"  # reset after the request
    now = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Copenhagen"))
    assert str(now.year) in html


def test_time_zone_is_active_during_the_request(client: Client, world: World) -> None:
    rep = _danish(world)
    client.force_login(rep)
    seen: dict[str, str] = {}
    from crm.middleware import UserLocaleMiddleware

    def view(request: object) -> object:
        from django.http import HttpResponse
        from django.utils import translation

        seen["tz"] = timezone.get_current_timezone_name()
        seen["lang"] = translation.get_language()
        return HttpResponse("ok")

    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = rep
    UserLocaleMiddleware(view)(request)
    assert seen == {"tz": "Europe/Copenhagen", "lang": "da"}


def test_own_preference_beats_the_company_and_is_set_on_the_profile(
    client: Client, world: World
) -> None:
    rep = _danish(world)
    client.force_login(rep)
    client.post(reverse("profile"), {"language": "de", "timezone": "Europe/Berlin"})
    rep.refresh_from_db()
    assert (rep.language, rep.timezone) == ("de", "Europe/Berlin")
    html = client.get(reverse("profile")).content.decode()
    assert "Abmelden" in html and "Europe/Berlin" in html
    response = client.post(reverse("profile"), {"language": "xx", "timezone": "Mars/Base"})
    assert response.status_code == 200 and "errorlist" in response.content.decode()


def test_unsupported_company_language_falls_back_to_english(client: Client, world: World) -> None:
    SalesCompany.objects.for_org(world.org).filter(pk=world.dk.pk).update(language="zh-hans")
    client.force_login(world.rep_dk)
    assert client.get(reverse("profile"))["Content-Language"] == "en"


def test_navigation_follows_the_role(client: Client, world: World) -> None:
    client.force_login(world.marketing)
    html = client.get(reverse("home")).content.decode()
    assert 'data-nav="leads:lead_list"' in html and 'data-nav="leads:campaign_list"' in html
    assert 'data-nav="setup:index"' not in html
    client.force_login(world.admin)
    html = client.get(reverse("home")).content.decode()
    assert 'data-nav="setup:index"' in html and 'data-nav="leads:lead_list"' not in html
    client.force_login(world.rep_se)
    html = client.get(reverse("home")).content.decode()
    # A seller has his leads (those handed to him), not the campaigns.
    assert 'data-nav="setup:' not in html and 'data-nav="leads:campaign_list"' not in html
    assert 'data-nav="leads:lead_list"' in html


def test_search_returns_only_visible_rows(client: Client, world: World) -> None:
    process_for(world.se)
    process_for(world.dk)
    process_for(world.other_company)
    mine = account_for(world.se, "Volvo Sverige AB")
    theirs = account_for(world.dk, "Volvo Danmark A/S")
    foreign = account_for(world.other_company, "Volvo Tellus AB")
    contact_create(account=mine, full_name="Vera Visible", acting_user=None)
    contact_create(account=theirs, full_name="Vilma Hidden", acting_user=None)
    contact_create(account=foreign, full_name="Viggo Foreign", acting_user=None)
    OpportunityFactory(account=mine, owner=world.rep_se, name="Volvo trucks")
    OpportunityFactory(account=theirs, owner=world.rep_dk, name="Volvo buses")
    client.force_login(world.rep_se)
    html = client.get(reverse("search"), {"q": "volvo"}).content.decode()
    assert "Volvo Sverige AB" in html and "Volvo trucks" in html
    assert "Danmark" not in html and "Volvo buses" not in html
    assert "Tellus" not in html
    # Contacts are found by their own words (name, e-mail, title).
    html = client.get(reverse("search"), {"q": "vera vis"}).content.decode()
    assert "Vera Visible" in html
    for hidden in ("vilma", "viggo"):
        html = client.get(reverse("search"), {"q": hidden}).content.decode()
        assert "Vilma" not in html and "Viggo" not in html
    client.force_login(world.stranger)
    html = client.get(reverse("search"), {"q": "volvo"}).content.decode()
    assert "Volvo Tellus AB" in html and "Sverige" not in html and "Danmark" not in html
    client.force_login(world.director)
    html = client.get(reverse("search"), {"q": "VOLVO"}).content.decode()
    assert "Sverige" in html and "Danmark" in html and "Tellus" not in html


def test_search_pages_each_section(client: Client, world: World) -> None:
    for i in range(12):
        account_for(world.se, f"Scania {i:02d} AB")
    client.force_login(world.director)
    page1 = client.get(reverse("search"), {"q": "scania"}).content.decode()
    page2 = client.get(reverse("search"), {"q": "scania", "accounts_page": 2}).content.decode()
    assert "Scania 00 AB" in page1 and "Scania 11 AB" not in page1
    assert "Scania 11 AB" in page2 and "accounts_page=1" in page2
