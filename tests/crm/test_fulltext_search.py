"""Full-text search (crm.search, the header's /search/): word prefixes, ranking, the word table
kept by triggers, visibility and need-to-know, bad input, constant queries."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Contact
from accounts.services import account_update, contact_create
from crm.models import SearchKind, SearchWord
from crm.search import query_words, tsquery_text
from crm.tenancy import org_scope
from meridian.search import search_querysets
from tests.conftest import World
from tests.crm.test_rls import as_app_role
from tests.opportunities.factories import LeadFactory, OpportunityFactory, account_for

pytestmark = pytest.mark.django_db


def _names(world: World, who: str, term: str, key: str) -> list[str]:
    user = getattr(world, who)
    found = search_querysets(user=user, term=term).get(key)
    if found is None:
        return []
    field = {"contacts": "full_name", "leads": "company_name"}.get(key, "name")
    return [getattr(row, field) for row in found]


def test_query_words_fold_case_drop_short_words_and_punctuation() -> None:
    assert query_words("Volv  AB, 'x'; DROP") == ["volv", "ab", "drop"]
    assert query_words("Göta-Verk") == ["göta", "verk"]
    assert query_words("a ' & | ! :*") == []
    assert tsquery_text(["volv", "ab"]) == "'volv':* & 'ab':*"


def test_prefixes_of_every_word_match_anywhere_in_the_name(world: World) -> None:
    account_for(world.se, "Volvera Trucks AB")
    account_for(world.se, "Nordic Volvera Service AB")
    account_for(world.se, "Scania AB")
    assert _names(world, "director", "volv", "accounts") == [
        "Nordic Volvera Service AB",
        "Volvera Trucks AB",
    ]
    # Every word must match (AND), in any order, each as a word prefix.
    assert _names(world, "director", "tru volv", "accounts") == ["Volvera Trucks AB"]
    assert _names(world, "director", "olvera", "accounts") == []  # not inside a word
    assert _names(world, "director", "volvera xyz", "accounts") == []


def test_accounts_match_by_their_normal_form_and_domain(world: World) -> None:
    account_for(world.se, "Acmé Nordic AB", domain="acme-nordic.example")
    assert _names(world, "director", "acme", "accounts") == ["Acmé Nordic AB"]
    assert _names(world, "director", "acmé", "accounts") == ["Acmé Nordic AB"]
    assert _names(world, "director", "acme-nordic.ex", "accounts") == []  # split into words
    assert _names(world, "director", "nordic", "accounts") == ["Acmé Nordic AB"]


def test_results_are_ranked_by_how_well_they_match(world: World) -> None:
    account = account_for(world.se, "Ranking AB")
    OpportunityFactory(account=account, owner=world.rep_se, name="Service contract")
    OpportunityFactory(account=account, owner=world.rep_se, name="Pumps, pumps and pumps")
    OpportunityFactory(account=account, owner=world.rep_se, name="Pumps for the mill")
    assert _names(world, "director", "pump", "opportunities") == [
        "Pumps, pumps and pumps",
        "Pumps for the mill",
    ]


def test_the_word_table_follows_inserts_renames_and_deletes(world: World) -> None:
    account = account_for(world.se, "Oldname Industri AB")
    assert _names(world, "director", "oldn", "accounts") == ["Oldname Industri AB"]
    account_update(account=account, acting_user=None, name="Newname Industri AB")
    assert _names(world, "director", "oldn", "accounts") == []
    assert _names(world, "director", "newn", "accounts") == ["Newname Industri AB"]
    words = SearchWord.objects.for_org(world.org).filter(
        kind=SearchKind.ACCOUNT, object_id=account.pk
    )
    assert "newname" in set(words.values_list("word", flat=True))
    contact = contact_create(account=account, full_name="Gone Person", acting_user=None)
    contact_words = SearchWord.objects.for_org(world.org).filter(
        kind=SearchKind.CONTACT, object_id=contact.pk
    )
    assert set(contact_words.values_list("word", flat=True)) == {"gone", "person"}
    Contact.objects.for_org(world.org).filter(pk=contact.pk).delete()
    assert not contact_words.exists()


def test_an_update_that_keeps_the_words_writes_none(world: World) -> None:
    account = account_for(world.se, "Steady AB")
    opp = OpportunityFactory(account=account, owner=world.rep_se, name="Steady deal")
    before = list(
        SearchWord.objects.for_org(world.org)
        .filter(kind=SearchKind.OPPORTUNITY, object_id=opp.pk)
        .values_list("id", flat=True)
    )
    opp.next_step = "Call again"
    opp.save()
    after = list(
        SearchWord.objects.for_org(world.org)
        .filter(kind=SearchKind.OPPORTUNITY, object_id=opp.pk)
        .values_list("id", flat=True)
    )
    assert before and before == after


def test_a_rep_finds_only_what_he_may_see(world: World) -> None:
    mine = account_for(world.se, "Kalevala Sverige AB")
    theirs = account_for(world.dk, "Kalevala Danmark ApS")
    account_for(world.other_company, "Kalevala Tellus AB")
    contact_create(account=mine, full_name="Kari Kalevala", acting_user=None)
    contact_create(account=theirs, full_name="Kirsten Kalevala", acting_user=None)
    OpportunityFactory(account=mine, owner=world.rep_se, name="Kalevala drives")
    OpportunityFactory(account=theirs, owner=world.rep_dk, name="Kalevala motors")
    assert _names(world, "rep_se", "kalev", "accounts") == ["Kalevala Sverige AB"]
    assert _names(world, "rep_se", "kalev", "contacts") == ["Kari Kalevala"]
    assert _names(world, "rep_se", "kalev", "opportunities") == ["Kalevala drives"]
    assert _names(world, "rep_dk", "kalev", "opportunities") == ["Kalevala motors"]
    assert _names(world, "director", "kalev", "accounts") == [
        "Kalevala Danmark ApS",
        "Kalevala Sverige AB",
    ]
    # Another organization: its own rows only, never these.
    assert _names(world, "stranger", "kalev", "accounts") == ["Kalevala Tellus AB"]
    assert _names(world, "stranger", "kalev", "opportunities") == []


def test_leads_for_marketing_and_managers_a_rep_only_his_own(world: World) -> None:
    LeadFactory(
        organization=world.org,
        company_name="Lumen Assigned AB",
        sales_company=world.se,
        owner=world.rep_se,
    )
    LeadFactory(organization=world.org, company_name="Lumen Colleague AB", sales_company=world.se)
    LeadFactory(organization=world.org, company_name="Lumen Danish ApS", sales_company=world.dk)
    assert _names(world, "rep_se", "lumen", "leads") == ["Lumen Assigned AB"]
    assert _names(world, "manager_se", "lumen", "leads") == [
        "Lumen Assigned AB",
        "Lumen Colleague AB",
    ]
    assert len(_names(world, "marketing", "lumen", "leads")) == 3
    assert _names(world, "stranger", "lumen", "leads") == []


def test_marketing_finds_no_opportunities(world: World) -> None:
    account = account_for(world.se, "Quasar AB")
    OpportunityFactory(account=account, owner=world.rep_se, name="Quasar secret deal")
    assert _names(world, "marketing", "quasar", "accounts") == ["Quasar AB"]
    assert _names(world, "marketing", "quasar", "opportunities") == []


def test_the_page_links_each_row_and_says_when_words_are_too_short(
    client: Client, world: World
) -> None:
    account = account_for(world.se, "Linkable AB")
    opp = OpportunityFactory(account=account, owner=world.rep_se, name="Linkable deal")
    lead = LeadFactory(
        organization=world.org, company_name="Linkable Lead AB", sales_company=world.se
    )
    client.force_login(world.manager_se)
    html = client.get(reverse("search"), {"q": "linka"}).content.decode()
    assert reverse("accounts:detail", args=[account.pk]) in html
    assert reverse("opportunities:detail", args=[opp.pk]) in html
    assert reverse("leads:lead_detail", args=[lead.pk]) in html
    response = client.get(reverse("search"), {"q": "a"})
    assert response.status_code == 200
    assert 'data-testid="search-too-short"' in response.content.decode()


@pytest.mark.parametrize("q", ["'", "a:*", "x & | !", "(", "\\", "volv:* | ab", "🙂"])
def test_tsquery_syntax_in_the_box_is_never_an_error(client: Client, world: World, q: str) -> None:
    client.force_login(world.director)
    assert client.get(reverse("search"), {"q": q}).status_code == 200


def test_too_long_input_is_a_form_error_not_a_500(client: Client, world: World) -> None:
    client.force_login(world.director)
    response = client.get(reverse("search"), {"q": "v" * 500})
    assert response.status_code < 500


def test_the_search_page_runs_constant_queries(
    client: Client, world: World, django_assert_max_num_queries: Callable
) -> None:
    def grow(start: int, n: int) -> None:
        for i in range(start, start + n):
            account = account_for(world.se, f"Growth {i} AB")
            contact_create(account=account, full_name=f"Growth Person {i}", acting_user=None)
            OpportunityFactory(account=account, owner=world.rep_se, name=f"Growth deal {i}")
            LeadFactory(
                organization=world.org,
                company_name=f"Growth lead {i}",
                sales_company=world.se,
                owner=world.rep_se,
            )

    for who in ("rep_se", "manager_se"):
        client.force_login(getattr(world, who))
        grow(0 if who == "rep_se" else 100, 2)
        with django_assert_max_num_queries(40) as few:
            assert client.get(reverse("search"), {"q": "growth"}).status_code == 200
        grow(200 if who == "rep_se" else 300, 15)
        with django_assert_max_num_queries(len(few.captured_queries)):
            assert client.get(reverse("search"), {"q": "growth"}).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_search_works_and_uses_the_word_index_as_the_application_role(world: World) -> None:
    """Under row-level security only leakproof conditions reach an index: the word table's
    prefix range must be an index condition for the app role (a GIN index on the vector never
    is), and the triggers must write words under the policy."""
    for i in range(30):
        account_for(world.se, f"Filler {i} AB")
    account_for(world.se, "Zyxwvut AB")
    with connection.cursor() as cursor:
        # Enough rows (and statistics) that the planner prefers the prefix range at all.
        cursor.execute(
            "INSERT INTO crm_searchword (organization_id, kind, word, object_id)"
            " SELECT %s, 1, md5(g::text), 0 FROM generate_series(1, 20000) g",
            [world.org.pk],
        )
        cursor.execute("ANALYZE crm_searchword")
    with as_app_role(orm_filter=False):
        client = Client()
        client.force_login(world.rep_se)
        html = client.get(reverse("search"), {"q": "zyxw"}).content.decode()
        assert "Zyxwvut AB" in html
        # A row written as the app role gets its words under the policy too.
        with org_scope(world.org):
            account_for(world.se, "Qwertzu AB")
        assert "Qwertzu AB" in client.get(reverse("search"), {"q": "qwer"}).content.decode()
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('app.org_id', %s, false)", [str(world.org.pk)])
            cursor.execute("SET enable_seqscan = off")
            cursor.execute(
                "EXPLAIN SELECT object_id FROM crm_searchword WHERE organization_id = %s"
                " AND kind = 1 AND word ~>=~ 'zyx' AND word ~<~ 'zyy'",
                [world.org.pk],
            )
            plan = [row[0] for row in cursor.fetchall()]
            cursor.execute("RESET enable_seqscan")
    conditions = [line for line in plan if "Index Cond" in line]
    assert any("~>=~" in line for line in conditions), plan
