"""Menu links resolve or fail loudly, and every link a role is offered opens for that role.

A link whose URL name is wrong used to vanish silently (the menu, search and lead pages caught
``NoReverseMatch``); now it raises, and this walk renders each role's navigation to prove that
every link it shows answers (never a 404 or 500, and main-menu links a 200).
"""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client
from django.urls import NoReverseMatch, Resolver404, resolve, reverse

from crm.roles import Role
from meridian import navigation
from tests.conftest import World
from tests.factories import ExchangeRateFactory
from tests.opportunities.factories import OpportunityFactory, account_for, process_for

pytestmark = pytest.mark.django_db

ROLES = [
    "admin",
    "director",
    "regional",
    "manager_se",
    "rep_se",
    "marketing",
    "marketing_se",
    "stranger",
]


class _NavLinks(HTMLParser):
    """The hrefs of the links inside ``<nav>`` elements, by the nav's class."""

    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, list[str]] = {}
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "nav":
            self._stack.append(values.get("class") or "")
        elif tag == "a" and self._stack and values.get("href"):
            self.links.setdefault(self._stack[-1], []).append(values["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav" and self._stack:
            self._stack.pop()


def _nav_links(html: str) -> dict[str, list[str]]:
    parser = _NavLinks()
    parser.feed(html)
    return parser.links


def _path(href: str, base: str = "/") -> str:
    # Filter links ("?status=open") are relative to the page they sit on.
    path = urlsplit(urljoin(base, href)).path
    try:
        resolve(path)
    except Resolver404:
        pytest.fail(f"the menu links {href!r}, which no URL pattern serves")
    return path


def _some_data(world: World) -> None:
    # Rates for every currency in play: the dashboard refuses to convert without one.
    for org, currency in ((world.org, "SEK"), (world.org, "DKK"), (world.other_org, "SEK")):
        ExchangeRateFactory(organization=org, currency=currency, valid_from=dt.date(2000, 1, 1))
    for company in (world.se, world.dk, world.de, world.other_company):
        process_for(company)
    OpportunityFactory(account=account_for(world.se, "Volvo AB"), owner=world.rep_se)
    OpportunityFactory(account=account_for(world.other_company, "Tellus AB"), owner=world.stranger)


@pytest.mark.parametrize("role", ROLES)
def test_every_menu_link_opens_for_its_role(client: Client, world: World, role: str) -> None:
    _some_data(world)
    user = getattr(world, role)
    client.force_login(user)
    home = client.get(reverse("home"))
    assert home.status_code == 200
    main = _nav_links(home.content.decode()).get("mainnav", [])
    assert _path(main[0]) == reverse("home")
    assert len(main) > 1, f"{role} is offered no page besides home"
    checked: set[str] = set()
    for href in main:
        path = _path(href)
        page = client.get(path)
        # The main menu offers only pages the role may open.
        assert page.status_code == 200, (role, href, page.status_code)
        checked.add(path)
        # Every link of every navigation on that page (the sales sub-menu too) answers for the
        # role; a sub-menu link the role may not follow should not be offered at all.
        for nav, hrefs in _nav_links(page.content.decode()).items():
            for other in hrefs:
                url = urljoin(path, other)
                if url in checked:
                    continue
                _path(url)
                checked.add(url)
                answer = client.get(url)
                assert answer.status_code == 200, (role, nav, other, answer.status_code)


def test_a_misspelt_menu_name_raises(
    client: Client, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    misspelt = [*navigation._NAVIGATION[Role.SALES_REP], ("opportunities:bored", "Board")]
    monkeypatch.setitem(navigation._NAVIGATION, Role.SALES_REP, misspelt)
    client.force_login(world.rep_se)
    with pytest.raises(NoReverseMatch):
        client.get(reverse("home"))


def test_search_links_fail_loudly() -> None:
    from meridian import views

    with pytest.raises(NoReverseMatch):
        views._detail_url_maker("accounts:detial")(1)


def test_lead_links_fail_loudly() -> None:
    from leads import views

    with pytest.raises(NoReverseMatch):
        views._url_or_none("opportunities:detial", 1)
    assert views._url_or_none("opportunities:detail", None) is None
