"""The benchmark generator writes the search words the triggers would (crm.search)."""

from __future__ import annotations

import pytest
from django.db import connection

from bench.generator import SEARCHABLE, _fill_search_words
from crm.models import SearchKind, SearchWord
from tests.conftest import World
from tests.opportunities.factories import LeadFactory, OpportunityFactory, account_for

pytestmark = pytest.mark.django_db


def test_the_generators_kinds_are_the_search_kinds() -> None:
    assert dict(SEARCHABLE) == {
        "accounts_account": SearchKind.ACCOUNT,
        "accounts_contact": SearchKind.CONTACT,
        "opportunities_opportunity": SearchKind.OPPORTUNITY,
        "leads_lead": SearchKind.LEAD,
    }


def test_the_bulk_fill_equals_what_the_triggers_wrote(world: World) -> None:
    account = account_for(world.se, "Bulkfill Verkstad AB", domain="bulkfill.example")
    OpportunityFactory(account=account, owner=world.rep_se, name="Bulkfill pumps")
    LeadFactory(organization=world.org, company_name="Bulkfill Lead AB", sales_company=world.se)
    account_for(world.other_company, "Tellus Bulkfill AB")

    def words() -> set[tuple[int, int, str, int]]:
        rows = SearchWord.objects.unscoped().values_list("organization_id", "kind", "word")
        return set(rows.values_list("organization_id", "kind", "word", "object_id"))

    by_triggers = words()
    assert by_triggers
    with connection.cursor() as cursor:
        _fill_search_words(cursor.connection, [world.org.pk, world.other_org.pk])
    assert words() == by_triggers
