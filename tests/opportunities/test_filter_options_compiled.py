"""The list filter's option lists read through compiled statements (opportunities.forms,
``_compiled_options``) are the ORM path's rows, for every role and both organizations, and the
page is the same page byte for byte (a director and a rep, in English and German), with the
same number of queries."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.scope import OrganizationScopeError, org_scope
from crm.visibility import user_shape
from opportunities import forms as opportunity_forms
from tests.conftest import World
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# The random parts of a page: the CSRF token (masked anew per request) and the CSP nonce.
_RANDOM = re.compile(r'((?:csrfmiddlewaretoken" value|X-CSRFToken": |nonce)=?"?)[^"&]+')


def _orm_rows(user: Any, name: str) -> list[tuple[Any, ...]]:
    queryset = opportunity_forms._option_querysets(user)[name]
    return list(queryset.values_list(*opportunity_forms._OPTION_FIELDS[name], named=True))


@pytest.mark.parametrize(
    "who",
    ["admin", "director", "regional", "manager_se", "rep_se", "marketing_se", "stranger", "other"],
)
def test_compiled_options_equal_the_orm_rows(world: World, who: str) -> None:
    if who == "other":
        user = UserFactory(organization=world.other_org, sales_company=world.other_company)
    else:
        user = getattr(world, who)
    UserFactory(organization=world.org, sales_company=world.se, full_name="Zed")
    UserFactory(organization=world.other_org, sales_company=world.other_company, full_name="Ann")
    shape = user_shape(user)
    assert shape is not None
    with org_scope(user.organization_id):
        for name in opportunity_forms._OPTION_FIELDS:
            expected = _orm_rows(user, name)
            got = opportunity_forms._compiled_options(name, user, shape)
            assert got == expected, name
            # Named as values_list(named=True) names them (the labels read the names).
            assert [row._asdict() for row in got] == [row._asdict() for row in expected]
    # Another organization in scope than the user's is refused, as the tenant managers do.
    other_org = world.other_org if user.organization_id == world.org.pk else world.org
    with org_scope(other_org.pk), pytest.raises(OrganizationScopeError):
        opportunity_forms._compiled_options("owner", user, shape)


def test_users_of_two_organizations_share_a_statement_and_see_their_own(world: World) -> None:
    other = UserFactory(
        organization=world.other_org, sales_company=world.other_company, role="sales_rep"
    )
    mine = world.rep_se
    assert user_shape(mine) == user_shape(other)
    for user in [mine, other, mine]:
        with org_scope(user.organization_id):
            owners = opportunity_forms._compiled_options("owner", user, user_shape(user))
            companies = opportunity_forms._compiled_options("company", user, user_shape(user))
        assert owners == _orm_rows_scoped(user, "owner")
        assert {row.id for row in companies} == {user.sales_company_id}
    assert len(opportunity_forms._option_statements["owner"]) >= 1


def _orm_rows_scoped(user: Any, name: str) -> list[tuple[Any, ...]]:
    with org_scope(user.organization_id):
        return _orm_rows(user, name)


def _page(client: Client, params: dict[str, Any]) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("opportunities:list"), params)
    assert response.status_code == 200
    return _RANDOM.sub(r"\1-", response.content.decode()), len(queries.captured_queries)


@pytest.mark.parametrize("who", ["director", "rep_se"])
@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("filtered", [False, True])
def test_the_page_is_the_orm_paths_page(
    client: Client,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    who: str,
    language: str,
    filtered: bool,
) -> None:
    user = getattr(world, who)
    user.language = language
    user.save(update_fields=["language"])
    UserFactory(organization=world.org, sales_company=world.se, full_name='Åsa "<b>" & Co')
    params = {"owner": world.rep_se.pk, "company": world.se.pk, "status": "all"} if filtered else {}
    client.force_login(user)
    _page(client, params)  # the compiled statements made and prepared
    compiled, compiled_queries = _page(client, params)
    with monkeypatch.context() as patched:
        # No shape: the form takes the ORM path (its querysets).
        patched.setattr(opportunity_forms, "user_shape", lambda _user: None)
        expected, expected_queries = _page(client, params)
    assert compiled == expected
    assert compiled_queries == expected_queries
    assert "Åsa &quot;&lt;b&gt;&quot; &amp; Co" in compiled
    if filtered:
        assert f'<option value="{world.rep_se.pk}" selected>' in compiled
