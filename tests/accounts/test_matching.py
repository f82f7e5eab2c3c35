from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.matching import STRONG_MATCH, find_duplicate_candidates
from accounts.models import Account
from tests.accounts.factories import make_account
from tests.conftest import World

pytestmark = pytest.mark.django_db


def names(candidates) -> list[str]:
    return [c.account.name for c in candidates]


def test_tricky_spellings_of_one_company_match(world: World) -> None:
    acme = make_account(organization=world.org, home_company=world.se, name="Acme AB")
    for spelling in ("ACME Aktiebolag", "Acmé A/B", "acme ab."):
        found = find_duplicate_candidates(organization=world.org, name=spelling, country="SE")
        assert [c.account for c in found] == [acme], spelling
        assert found[0].reasons == ["same_name", "same_country"]
        assert found[0].is_strong


def test_same_vat_with_other_spelling_and_spacing_matches_whatever_the_name(world: World) -> None:
    acme = make_account(
        organization=world.org,
        home_company=world.se,
        name="Acme AB",
        registration_number="SE556012-3456 01",
    )
    found = find_duplicate_candidates(
        organization=world.org, name="Totally Renamed", registration_number="se 5560123456-01"
    )
    assert [c.account for c in found] == [acme]
    assert found[0].reasons == ["registration"]
    assert found[0].score == 100


def test_domain_matches_from_a_url_or_an_email(world: World) -> None:
    acme = make_account(
        organization=world.org, home_company=world.se, name="Acme AB", domain="https://acme.se/"
    )
    assert acme.domain == "acme.se"
    found = find_duplicate_candidates(organization=world.org, name="X", domain="info@www.acme.se")
    assert [c.account for c in found] == [acme]
    assert found[0].reasons == ["domain"]


def test_same_name_in_another_country_and_group_is_weak_and_ranked_last(world: World) -> None:
    se = make_account(organization=world.org, home_company=world.se, name="Acme AB", country="SE")
    de = make_account(organization=world.org, home_company=world.de, name="Acme GmbH", country="DE")
    found = find_duplicate_candidates(organization=world.org, name="Acme A/S", country="SE")
    assert [c.account for c in found] == [se, de]
    assert found[1].reasons == ["same_name"]
    assert not found[1].is_strong
    assert found[0].score > found[1].score >= 0
    assert found[1].score < STRONG_MATCH


def test_name_prefix_matches_only_in_the_same_country_or_group(world: World) -> None:
    top = make_account(organization=world.org, home_company=world.se, name="Volvera Group AB")
    sub_de = make_account(
        organization=world.org,
        home_company=world.de,
        name="Volvera Group Deutschland GmbH",
        country="DE",
        parent=top,
    )
    us_other = make_account(
        organization=world.org, home_company=world.de, name="Volvera Group Inc", country="US"
    )
    # A new "Volvera Group Logistics" in Sweden: the Swedish top account is a word prefix of it.
    found = find_duplicate_candidates(
        organization=world.org, name="Volvera Group Logistics AB", country="SE"
    )
    assert names(found) == ["Volvera Group AB"]
    assert found[0].reasons == ["similar_name"]
    # Inside the group, the German subsidiary starts with the new name: a candidate too.
    found = find_duplicate_candidates(
        organization=world.org, name="Volvera Group", country="DK", group=top
    )
    assert set(names(found)) == {"Volvera Group AB", sub_de.name, us_other.name}
    by_name = {c.account.name: c for c in found}
    assert "similar_name" in by_name[sub_de.name].reasons
    assert by_name[us_other.name].reasons == ["same_name"]  # other country, other group: weak
    assert by_name[us_other.name].score < by_name[sub_de.name].score
    # A prefix that does not end at a word boundary is not similar: "Volverano" is another firm.
    make_account(organization=world.org, home_company=world.se, name="Volverano AB")
    found = find_duplicate_candidates(organization=world.org, name="Volver", country="SE")
    assert found == []


def test_other_organization_and_the_account_itself_are_never_candidates(world: World) -> None:
    mine = make_account(
        organization=world.org, home_company=world.se, name="Acme AB", registration_number="X1"
    )
    make_account(
        organization=world.other_org,
        home_company=world.other_company,
        name="Acme AB",
        registration_number="X1",
    )
    found = find_duplicate_candidates(
        organization=world.org, name="Acme", country="SE", registration_number="X1"
    )
    assert [c.account for c in found] == [mine]
    assert (
        find_duplicate_candidates(
            organization=world.org,
            name="Acme",
            country="SE",
            registration_number="X1",
            exclude_id=mine.pk,
        )
        == []
    )


def test_nothing_to_match_on_is_no_query(world: World, django_assert_num_queries) -> None:
    with django_assert_num_queries(0):
        assert find_duplicate_candidates(organization=world.org, name="") == []


def test_one_query_and_limit(world: World, django_assert_num_queries) -> None:
    for i in range(5):
        make_account(organization=world.org, home_company=world.se, name=f"Acme {i} AB")
    with django_assert_num_queries(1):
        found = find_duplicate_candidates(
            organization=world.org, name="Acme", country="SE", limit=3
        )
    assert len(found) == 3


def test_candidates_come_from_indexes_not_a_scan(world: World) -> None:
    # With scans priced out of the planner, every branch of the lookup must still be served by
    # an index; a branch that needed the whole table would show up as a Seq Scan.
    top = make_account(organization=world.org, home_company=world.se, name="Acme AB")
    # A realistically filled organization, so that the planner has a reason to be selective.
    Account.objects.bulk_create(
        Account(
            organization=world.org,
            home_company=world.se,
            name=f"Filler {i}",
            normalized_name=f"filler {i}",
            registration_key=f"F{i}",
            domain=f"filler{i}.test",
            country="SE",
        )
        for i in range(5000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_account")
    with CaptureQueriesContext(connection) as ctx:
        find_duplicate_candidates(
            organization=world.org,
            name="Acme Nordic",
            country="SE",
            registration_number="SE1",
            domain="acme.se",
            group=top,
        )
    (query,) = ctx.captured_queries
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {query['sql']}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan on accounts_account" not in plan, plan
    assert "account_org_norm_idx" in plan, plan
    assert "account_org_reg_idx" in plan, plan
    assert "account_org_domain_idx" in plan, plan


def test_reason_codes_never_reach_a_reader() -> None:
    from django.utils import translation

    from accounts.matching import REASON_LABELS, reason_text

    assert reason_text(["same_name", "same_country"]) == "same name, same country"
    assert reason_text("registration, domain") == "same registration number, same web domain"
    assert reason_text(["unknown_code"]) == "similar name"
    with translation.override("de"):
        german = reason_text(list(REASON_LABELS))
    assert not any(code in german for code in REASON_LABELS)
