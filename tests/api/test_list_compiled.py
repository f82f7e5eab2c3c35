"""The opportunity API list's compiled page (``opportunities.api_list``, issue 21) answers what
the ORM path answers: every page of cursor walks forwards and back (offset cursors across ties
of ``created_at``, reversed cursors), ``?ordering=`` on the position's field and on others, for
every role and both organizations; the same errors for bad cursors; one prepared statement per
shape shared by users of one shape, each seeing only its own rows; filters, other positions
and shapes past the cap through the ORM."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIRequestFactory, force_authenticate

from crm.db.compiled import statement_sql
from crm.models import User
from opportunities import api_list
from opportunities.api import OpportunityViewSet
from opportunities.models import Opportunity
from tests.api import test_list_bytes
from tests.api.cursor_walk import following
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, account_for

pytestmark = pytest.mark.django_db

PATH = "/api/v1/opportunities/"
VIEW = OpportunityViewSet.as_view({"get": "list"})
# test_list_bytes's world of deals: ties of created_at, a split, nulls, non-ASCII text.
deals = test_list_bytes.deals
WHO = ("admin", "director", "manager_se", "rep_se", "rep_dk", "marketing", "marketing_se",
       "stranger")  # fmt: skip


def _get(user: User, url: str, *, orm: bool = False) -> tuple[int, bytes, int, list[str]]:
    request = APIRequestFactory().get(url)
    force_authenticate(request, user=user)
    cap = api_list.MAX_SHAPES
    if orm:
        # No statement fits: every page is the ORM's queryset with DRF's calls made on it.
        api_list.MAX_SHAPES = 0
        saved, api_list._statements = api_list._statements, {}
    try:
        with CaptureQueriesContext(connection) as ctx:
            response = VIEW(request)
            response.render()
    finally:
        if orm:
            api_list.MAX_SHAPES = cap
            api_list._statements = saved
    sqls = [q["sql"] for q in ctx.captured_queries]
    return response.status_code, response.content, len(sqls), sqls


def _walk(user: User, query: str) -> tuple[list[bytes], list[str]]:
    """Forwards by ``next``, then back by ``previous``: each page's bytes and query count the
    ORM path's. Returns the pages and the statements the compiled path ran."""
    pages: list[bytes] = []
    executed: list[str] = []
    url = f"{PATH}?{query}"
    backwards = False
    for _ in range(40):
        status, body, count, sqls = _get(user, url)
        assert (status, body, count) == _get(user, url, orm=True)[:3], url
        executed += sqls
        if status != 200:
            assert status == 400 and "ordering=" in url, (url, body)
            break
        pages.append(body)
        following_url, backwards = following(body, backwards)
        if following_url is None:
            break
        url = following_url
    return pages, executed


@pytest.fixture
def other_deals(world: World) -> list[Opportunity]:
    account = account_for(world.other_company, name="Tellus kund")
    return [OpportunityFactory(account=account, owner=world.stranger) for _ in range(3)]


@pytest.mark.parametrize("who", WHO)
def test_every_page_is_the_orm_paths(
    world: World, deals: list[Opportunity], other_deals: list[Opportunity], who: str
) -> None:
    user = getattr(world, who)
    for zone in ("UTC", "Asia/Kolkata"):
        with timezone.override(zone):
            pages, executed = _walk(user, "page_size=2")
            # The unfiltered walk ran compiled statements (a prepared EXECUTE per page).
            assert any("EXECUTE cq_" in sql for sql in executed)
            for query in ("", "page_size=200", "ordering=created_at&page_size=3",
                          "ordering=-created_at&page_size=1", "ordering=name&page_size=5",
                          "ordering=-expected_close_date&page_size=4"):  # fmt: skip
                _walk(user, query)
    seen = {row["id"] for page in pages for row in json.loads(page)["results"]}
    if who == "stranger":
        assert seen == {o.pk for o in other_deals}
    elif who in ("admin", "director"):
        assert len(seen) == len(deals) + 1  # and the deal split to the rep
    assert not seen & {o.pk for o in other_deals} or who == "stranger"


def test_bad_cursors_answer_as_the_orm_path(world: World, deals: list[Opportunity]) -> None:
    import base64

    def cursor(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    for query in (
        "cursor=bad",
        f"cursor={cursor('p=not-a-date')}",
        f"cursor={cursor('p=')}",
        f"cursor={cursor('p=2026-01-01 00:00:00')}",  # naive: the ORM's zone, with a warning
        f"cursor={cursor('o=3&r=1&p=2026-03-29 00:30:00+00:00')}",
        f"cursor={cursor('o=5000&p=2026-03-29 00:30:00+00:00')}",
        f"cursor={cursor('p=2026-03-29 00:30:00+00:00')}&ordering=amount",
        "page_size=0",
        "page_size=x",
    ):
        for user in (world.director, world.rep_se):
            with warnings.catch_warnings():
                # A naive position: the field's warning, through both paths alike.
                warnings.simplefilter("ignore", RuntimeWarning)
                compiled = _get(user, f"{PATH}?{query}")[:3]
                orm = _get(user, f"{PATH}?{query}", orm=True)[:3]
            assert compiled == orm, query


def test_reps_of_both_organizations_share_one_statement(
    world: World, deals: list[Opportunity], other_deals: list[Opportunity]
) -> None:
    api_list._statements.clear()
    mine: dict[str, set[int]] = {}
    executed: dict[str, set[str]] = {}
    for _round in range(2):
        for who in ("rep_se", "stranger", "rep_dk"):
            status, body, count, sqls = _get(getattr(world, who), f"{PATH}?page_size=200")
            assert status == 200 and count == 1
            mine.setdefault(who, set()).update(r["id"] for r in json.loads(body)["results"])
            # The statement's name (the logged EXECUTE carries each user's values).
            executed.setdefault(who, set()).update(sql.split("(")[0] for sql in sqls)
    assert mine["stranger"] == {o.pk for o in other_deals}
    assert not mine["rep_se"] & mine["stranger"] and not mine["rep_dk"] & mine["stranger"]
    assert mine["rep_se"] != mine["rep_dk"]
    # One shape (sales rep with a company, no region): one statement for all three.
    assert executed["rep_se"] == executed["stranger"] == executed["rep_dk"]
    (name,) = executed["rep_se"]
    assert name.startswith("EXECUTE cq_") and "UNION" in statement_sql(name)
    assert len(api_list._statements) == 1


def _filter_values(world: World, deals: list[Opportunity], other: list[Opportunity]) -> list[str]:
    """Each filter with a value of our organization and one of the other's, and two at once."""
    mine, theirs = deals[0], other[0]
    return [
        f"sales_company={world.se.pk}",
        f"sales_company={world.other_company.pk}",
        f"owner={world.rep_se.pk}",
        f"owner={world.stranger.pk}",
        f"account={mine.account_id}",
        f"account={theirs.account_id}",
        f"global_stage={mine.global_stage_id}",
        f"global_stage={theirs.global_stage_id}",
        f"local_stage={mine.local_stage_id}",
        f"local_stage={theirs.local_stage_id}",
        f"owner={world.rep_dk.pk}&sales_company={world.dk.pk}",
        f"global_stage={mine.global_stage_id}&account={mine.account_id}",
    ]


@pytest.mark.parametrize("who", WHO)
def test_every_filtered_page_is_the_orm_paths(
    world: World, deals: list[Opportunity], other_deals: list[Opportunity], who: str
) -> None:
    user = getattr(world, who)
    executed: list[str] = []
    for query in _filter_values(world, deals, other_deals):
        status, body, count, sqls = _get(user, f"{PATH}?{query}&page_size=2")
        orm = _get(user, f"{PATH}?{query}&page_size=2", orm=True)[:3]
        if status == 400:
            # Another organization's row: the FilterSet's 400, through the ORM path after the
            # compiled check found no row (that check's statement is the one query more).
            assert (status, body, count - 1) == orm and "EXECUTE cq_" in sqls[0], query
            continue
        assert (status, body, count) == orm, query
        pages, walked = _walk(user, f"{query}&page_size=2")
        executed += walked
        seen = {row["id"] for page in pages for row in json.loads(page)["results"]}
        assert not seen & {o.pk for o in other_deals} or who == "stranger"
        # The page and the check of each filter's id: compiled (query counts as the ORM's).
        assert sum("EXECUTE cq_" in sql for sql in sqls) == query.count("=") + 1, query
    if who in ("director", "admin"):
        assert any("EXECUTE cq_" in sql for sql in executed)


def test_bad_filter_values_answer_as_the_orm_path(
    world: World, deals: list[Opportunity], other_deals: list[Opportunity]
) -> None:
    stage = deals[0].global_stage_id
    for query in (
        "global_stage=999999",
        "global_stage=0",
        "global_stage=",
        "global_stage=x",
        f"global_stage=+{stage}",
        f"global_stage=%20{stage}",
        f"global_stage={stage}.0",
        f"global_stage=0{stage}",
        "global_stage=%D9%A5",  # an Arabic-Indic digit five: int() reads it
        f"global_stage={stage}%00",
        "global_stage=99999999999999999999999",
        f"global_stage={stage}&global_stage=999999",
        f"global_stage=999999&global_stage={stage}",
        f"owner={world.stranger.pk}",
        f"owner={world.rep_se.pk}&account=999999",
        "account=999999&cursor=bad",
        f"global_stage={stage}&cursor=bad",
        f"global_stage={stage}&ordering=name&page_size=2",
        f"global_stage={stage}&unknown=1",
    ):
        for user in (world.director, world.rep_se, world.stranger):
            status, body, count, sqls = _get(user, f"{PATH}?{query}")
            checks = sum("EXECUTE cq_" in sql for sql in sqls)
            # A well-formed id of no row: found so by its compiled check, then the ORM path's
            # FilterSet answers (one statement more on that 400); any other value: the ORM's.
            extra = checks if status == 400 else 0
            assert extra <= query.count("="), query
            assert (status, body, count - extra) == _get(user, f"{PATH}?{query}", orm=True)[:3]


def test_reps_of_both_organizations_share_the_filtered_statements(
    world: World, deals: list[Opportunity], other_deals: list[Opportunity]
) -> None:
    api_list._statements.clear()
    names: dict[str, set[str]] = {}
    for who, company in (("rep_se", world.se), ("stranger", world.other_company)):
        user = getattr(world, who)
        status, body, count, sqls = _get(user, f"{PATH}?sales_company={company.pk}")
        assert status == 200 and count == 2
        rows = json.loads(body)["results"]
        assert rows and {r["sales_company"] for r in rows} == {company.pk}
        names[who] = {sql.split("(")[0] for sql in sqls}
        # Each sees its own organization's rows only; the other's company is a 400.
        other = world.other_company if who == "rep_se" else world.se
        assert _get(user, f"{PATH}?sales_company={other.pk}")[0] == 400
    assert names["rep_se"] == names["stranger"] and len(names["rep_se"]) == 2
    assert all(name.startswith("EXECUTE cq_") for name in names["rep_se"])
    # The check of the filter's id and the page of its shape.
    assert len(api_list._statements) == 2


def test_other_positions_take_the_orm_path(world: World, deals: list[Opportunity]) -> None:
    api_list._statements.clear()
    # ?ordering=name: the first page has no position (compiled ordering is created_at only).
    status, _body, _count, sqls = _get(world.director, f"{PATH}?ordering=name&page_size=2")
    assert status == 200 and not any("EXECUTE" in sql for sql in sqls)
    assert api_list._statements == {}
    # With a filter: its id checked by a statement, the page by the ORM (one query each).
    query = f"{PATH}?owner={world.rep_se.pk}&ordering=name&page_size=2"
    status, body, count, sqls = _get(world.director, query)
    assert (status, body, count) == _get(world.director, query, orm=True)[:3]
    assert status == 200 and count == 2 and sum("EXECUTE" in sql for sql in sqls) == 1


def test_the_compiled_list_keeps_its_query_count(
    world: World, deals: list[Opportunity], django_assert_num_queries: Any
) -> None:
    for user in (world.rep_se, world.director):
        for size in (1, 3, 200):
            with django_assert_num_queries(1):
                _get(user, f"{PATH}?page_size={size}")
            # One filter: the check of its id (as the FilterSet's form field) and the page.
            with django_assert_num_queries(2):
                _get(user, f"{PATH}?owner={world.rep_se.pk}&page_size={size}")
            with django_assert_num_queries(3):
                _get(user, f"{PATH}?owner={world.rep_se.pk}&sales_company={world.se.pk}")


def test_an_inactive_user_is_refused_as_before(world: World, deals: list[Opportunity]) -> None:
    world.rep_se.is_active = False
    request = APIRequestFactory().get(PATH)
    force_authenticate(request, user=world.rep_se)
    with CaptureQueriesContext(connection) as ctx:
        response = VIEW(request)
        response.render()
    # No shape: the ORM path, whose policy answers nothing for an inactive user.
    assert response.status_code == 200 and json.loads(response.content)["results"] == []
    assert not any("EXECUTE" in q["sql"] for q in ctx.captured_queries)
