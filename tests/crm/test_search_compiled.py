"""The search page's statements compiled once per shape (meridian.search, issue 21): the same
rows, in the same order, the same capped counts and the same page bytes as the querysets
(``search_querysets``) for every role and another organization's user, one to three words, pages
in and past the end; every statement prepared and sent in one round trip; row-level security
keeps two organizations apart on one statement."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.services import contact_create
from crm.pagination import CappedPaginator
from crm.tenancy import org_scope
from meridian import search
from meridian.search import PAGE_SIZE, search_pages, search_querysets
from tests.conftest import World
from tests.crm.test_rls import as_app_role
from tests.opportunities.factories import LeadFactory, OpportunityFactory, account_for

pytestmark = pytest.mark.django_db

TERMS = ("orb", "orbit nova", "nova orb 7", "zzz", "orbit orbit")
NUMBERS = (None, "2", "3", "99", "x", "-1")
# The random parts of a page: the CSRF token (masked anew per request) and the CSP nonce.
_RANDOM = re.compile(r'((?:csrfmiddlewaretoken" value|X-CSRFToken": |nonce)=?"?)[^"&]+')


@pytest.fixture
def found(world: World) -> World:
    """Two dozen matching accounts, contacts, deals and leads over three companies and the
    other organization: more than two pages of each section."""
    companies = (world.se, world.dk, world.de)
    for i in range(24):
        company = companies[i % 3]
        account = account_for(company, f"Orbit {'Nova ' if i % 2 else ''}{i} AB")
        contact_create(account=account, full_name=f"Orbit Person {i}", acting_user=None)
        owner = {world.se: world.rep_se, world.dk: world.rep_dk, world.de: world.rep_de}[company]
        OpportunityFactory(account=account, owner=owner, name=f"Orbit deal {i} nova")
        LeadFactory(
            organization=world.org,
            company_name=f"Orbit lead {i}",
            sales_company=company,
            owner=owner if i % 4 == 0 else None,
        )
    other = account_for(world.other_company, "Orbit Tellus Nova AB")
    contact_create(account=other, full_name="Orbit Tellus Person", acting_user=None)
    return world


def _orm_pages(user: Any, term: str, numbers: dict[str, Any]) -> dict[str, Any]:
    return {
        key: CappedPaginator(qs, PAGE_SIZE).get_page(numbers.get(key))
        for key, qs in search_querysets(user=user, term=term).items()
    }


def _summary(pages: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (page.number, page.paginator.count, page.paginator.capped, [r.pk for r in page])
        for key, page in pages.items()
    }


def test_every_page_is_the_querysets_page(found: World) -> None:
    for name, user in found.users().items():
        for term in TERMS:
            for number in NUMBERS:
                numbers = {"accounts": number, "contacts": number, "leads": "2"}
                compiled = search_pages(user=user, term=term, numbers=numbers)
                orm = _orm_pages(user, term, numbers)
                assert _summary(compiled) == _summary(orm), (name, term, number)


def test_capped_counts_are_the_querysets(found: World, monkeypatch: Any) -> None:
    monkeypatch.setattr(CappedPaginator, "cap", 5)
    for user in (found.director, found.rep_se, found.marketing):
        pages = search_pages(user=user, term="orbit", numbers={"accounts": "2"})
        assert any(page.paginator.capped for page in pages.values())
        assert _summary(pages) == _summary(_orm_pages(user, "orbit", {"accounts": "2"}))


def test_the_page_is_the_querysets_page_byte_for_byte(
    found: World, client: Client, monkeypatch: Any
) -> None:
    for who in ("director", "manager_se", "rep_se", "marketing", "stranger"):
        client.force_login(getattr(found, who))
        for params in ({"q": "orbit"}, {"q": "nova orb", "contacts_page": "2"}):
            compiled = client.get(reverse("search"), params)
            with monkeypatch.context() as patch:
                # No statement may be made: every section takes the querysets' path.
                patch.setattr(search, "_statements", {})
                patch.setattr(search, "MAX_SHAPES", 0)
                orm = client.get(reverse("search"), params)
            assert compiled.status_code == orm.status_code == 200
            html = _RANDOM.sub(r"\1", compiled.content.decode())
            assert html == _RANDOM.sub(r"\1", orm.content.decode()), (who, params)
            assert "Orbit" in html


def test_the_rows_come_with_their_related_rows_and_no_more_queries(found: World) -> None:
    pages = search_pages(user=found.director, term="orbit", numbers={})
    with CaptureQueriesContext(connection) as ctx:
        names = [(row.home_company.name, "") for row in pages["accounts"]]
        names += [(row.account.name, row.local_stage.name) for row in pages["opportunities"]]
        names += [(row.account.name, "") for row in pages["contacts"]]
    assert len(names) == 3 * PAGE_SIZE
    assert ctx.captured_queries == []


def test_the_statements_are_prepared_and_sent_in_one_round_trip(
    found: World, client: Client
) -> None:
    client.force_login(found.manager_se)
    client.get(reverse("search"), {"q": "orbit nova"})  # the shapes are made
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("search"), {"q": "orbit nova", "accounts_page": "2"})
    assert response.status_code == 200
    # (The history's context, set per request, names the URL and its words too.)
    searched = [
        q["sql"]
        for q in ctx.captured_queries
        if "'orbit'" in q["sql"] and not q["sql"].startswith("SELECT set_config")
    ]
    # A count and a page of each of the four sections, each a prepared statement's EXECUTE.
    assert len(searched) == 8, searched
    assert all(sql.startswith("EXECUTE cq_") for sql in searched)
    assert not any("crm_searchword" in q["sql"] for q in ctx.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_two_organizations_share_the_statements_each_its_own_rows(world: World) -> None:
    account_for(world.se, "Quokka Nordic AB")
    account_for(world.other_company, "Quokka Tellus AB")
    admin_other = world.stranger
    with as_app_role(orm_filter=False):
        for _ in range(2):
            for user, mine, theirs in (
                (world.director, "Quokka Nordic AB", "Quokka Tellus AB"),
                (admin_other, "Quokka Tellus AB", "Quokka Nordic AB"),
            ):
                with org_scope(user.organization_id):
                    pages = search_pages(user=user, term="quokka", numbers={})
                names = [row.name for row in pages["accounts"]]
                assert mine in names
                assert theirs not in names
