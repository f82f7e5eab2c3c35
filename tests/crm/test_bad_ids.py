"""Bad ids never answer a server error (issue 15, hole 9).

Every page and endpoint is walked from the URL resolver: each id in the path, and every id-like
query parameter on the pages without path ids, gets a Unicode digit (``²``, ``①``), a NUL, a
negative number and one beyond a bigint. The answer is a 4xx, or a 200/3xx where the parameter is
a filter that is ignored; never a 5xx. The unit tests of ``crm.ids.parse_id`` are here too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from crm.ids import MAX_ID, parse_id
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.factories import ExchangeRateFactory
from tests.opportunities.factories import OpportunityFactory, ProductFactory

BAD_IDS = ["²", "①", "\x00", "-1", "99999999999999999999"]

# Query parameters that carry ids on some page (filters, pickers, the preview's form fields).
ID_PARAMS = [
    "account",
    "company",
    "sales_company",
    "region",
    "opportunity",
    "owner",
    "product",
    "local_stage",
    "stage",
    "campaign",
    "lead",
    "contact",
    "page",
    "lines-0-product",
    "lines-1-product",
]

# Not pages of the application: sign-out changes the session under the test, and the Django
# admin has its own (Django's) handling of ids, walked by the admin tests.
SKIP_PREFIXES = ("logout", "admin", "api-token", "api-schema", "api-docs")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", 1),
        ("42", 42),
        (str(MAX_ID), MAX_ID),
        (7, 7),
        ("²", None),
        ("①", None),
        ("٣", None),  # Arabic-Indic three: int() would accept it
        ("\x00", None),
        ("1\x00", None),
        ("-1", None),
        ("0", None),
        ("00", None),
        (str(MAX_ID + 1), None),
        ("99999999999999999999", None),
        (" 7", None),
        ("7\n", None),
        ("+7", None),
        ("7_0", None),
        ("", None),
        (None, None),
        (True, None),
        (-3, None),
        (0, None),
        (MAX_ID + 1, None),
        (1.0, None),
    ],
)
def test_parse_id(value: Any, expected: int | None) -> None:
    assert parse_id(value) == expected


def _patterns(resolvers: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from _patterns(entry.url_patterns, namespace)
        elif entry.name:
            yield f"{prefix}{entry.name}", entry


def _named_routes() -> list[tuple[str, list[str]]]:
    """Every named route with the names of its path arguments (the format suffix aside)."""
    routes: dict[str, list[str]] = {}
    for name, pattern in _patterns(get_resolver().url_patterns):
        if name.startswith(SKIP_PREFIXES):
            continue
        args = [a for a in pattern.pattern.regex.groupindex if a != "format"]
        if "format" in pattern.pattern.regex.groupindex:
            continue  # the same view as the route without the suffix
        routes.setdefault(name, args)
    return sorted(routes.items())


def _reverse_all(name: str, args: list[str], value: str) -> str | None:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(name, kwargs=dict.fromkeys(args, value))
    except NoReverseMatch:
        return None  # the converter refuses the value: the URL cannot even be asked for


def _client(user: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def clients(world: World) -> dict[str, Client]:
    # Rows for the pages to show: rates, an account with a deal, a product.
    for currency, rate in (("SEK", "0.087"), ("DKK", "0.134")):
        ExchangeRateFactory(
            organization=world.org, currency=currency, rate=rate, valid_from=dt.date(2000, 1, 1)
        )
    account = make_account(organization=world.org, home_company=world.se, name="Volvera AB")
    OpportunityFactory(account=account, owner=world.rep_se)
    ProductFactory(organization=world.org)
    return {
        "admin": _client(world.admin),
        "manager_se": _client(world.manager_se),
        "rep_se": _client(world.rep_se),
        "marketing": _client(world.marketing),
    }


def test_the_walk_covers_the_routes_of_the_issue() -> None:
    names = {name for name, _ in _named_routes()}
    for wanted in (
        "opportunities:preview",
        "opportunities:create",
        "opportunities:board",
        "opportunities:team",
        "opportunities:data_quality",
        "reporting:dashboard",
        "reporting:exports",
        "setup:process_create",
        "account-view-360",
    ):
        assert wanted in names, wanted


@pytest.mark.django_db
def test_bad_ids_in_the_path_never_fail(clients: dict[str, Client]) -> None:
    failures = []
    tried = 0
    for name, args in _named_routes():
        if not args:
            continue
        for value in BAD_IDS:
            url = _reverse_all(name, args, value)
            if url is None:
                continue
            for who, client in clients.items():
                tried += 1
                status = client.get(url).status_code
                if status >= 500 or status == 200:
                    failures.append((who, url, status))
    assert tried > 100  # the router's detail routes take any segment: they are walked
    assert failures == []


@pytest.mark.django_db
def test_bad_ids_in_query_parameters_never_fail(clients: dict[str, Client]) -> None:
    failures = []
    for name, args in _named_routes():
        if args:
            continue
        url = _reverse_all(name, args, "")
        assert url is not None
        for value in BAD_IDS:
            for who, client in clients.items():
                status = client.get(url, dict.fromkeys(ID_PARAMS, value)).status_code
                if status >= 500:
                    failures.append((who, url, value, status))
    assert failures == []


@pytest.mark.django_db
@pytest.mark.parametrize("value", BAD_IDS)
def test_bad_ids_in_posted_forms_never_fail(clients: dict[str, Client], value: str) -> None:
    """The pages that read ids from a posted form: the export's scope, the board's company,
    the new opportunity's account and lines."""
    posts = [
        ("/reports/exports/", {"scope": f"company:{value}", "format": "xlsx"}),
        ("/reports/exports/", {"scope": f"region:{value}", "format": "csv"}),
        ("/opportunities/new/", {"account": value, "lines-0-product": value, "name": "X"}),
    ]
    for who, client in clients.items():
        for url, data in posts:
            status = client.post(url, data).status_code
            assert status < 500, (who, url, value, status)


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["²", "①", "-1", "99999999999999999999"])
def test_the_360_of_a_bad_id_is_missing(clients: dict[str, Client], value: str) -> None:
    response = clients["rep_se"].get(f"/api/v1/accounts/{value}/360/")
    assert response.status_code == 404
