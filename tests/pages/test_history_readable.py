"""A History people can read (issue 18): labels, names, the reader's formats, no internals;
foreign keys named in one query per related model, whatever the number of entries."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pghistory
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from opportunities.models import Opportunity
from opportunities.services import opportunity_move_stage, opportunity_update
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, stage_for

pytestmark = pytest.mark.django_db


def _changes(html: str) -> list[str]:
    found = re.findall(r'<li data-testid="history-change">(.*?)</li>', html, re.S)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in found]


def _edit(opp: Opportunity, world: World, by: object = None, **fields: object) -> Opportunity:
    actor = by or world.manager_se
    opp.refresh_from_db()
    with pghistory.context(user=actor.pk):  # type: ignore[attr-defined]
        return opportunity_update(
            opportunity=opp, acting_user=actor, expected_version=opp.version, **fields
        )


@pytest.mark.parametrize(
    ("language", "date", "amount"),
    [
        ("en", "03/15/2027", "12,345.50 SEK"),
        ("de", "15.03.2027", "12.345,50 SEK"),
        ("sv", "2027-03-15", "12\xa0345,50 SEK"),
    ],
)
def test_changes_read_as_labels_names_and_local_formats(
    client: Client, world: World, language: str, date: str, amount: str
) -> None:
    account = make_account(organization=world.org, home_company=world.se, name="Läsbar AB")
    opp = OpportunityFactory(account=account, owner=world.rep_se, currency="SEK")
    _edit(opp, world, expected_close_date=dt.date(2027, 3, 15), amount=Decimal("12345.50"))
    opp.refresh_from_db()
    with pghistory.context(user=world.manager_se.pk):
        opportunity_move_stage(
            opportunity=opp,
            local_stage=stage_for(world.se, "Develop"),
            acting_user=world.manager_se,
        )
    world.director.language = language
    world.director.save(update_fields=["language"])
    client.force_login(world.director)
    html = client.get(reverse("opportunities:history", args=[opp.pk])).content.decode()
    changes = _changes(html)
    # Columns never shown: ids, the lock's version, the organization.
    assert not any(c.lower().startswith(("version", "organization", "id:")) for c in changes)
    assert "_id" not in " ".join(changes)
    joined = "\n".join(changes)
    assert date in joined and amount in joined
    # Names instead of ids: the stages, the owner and the account by name.
    develop = stage_for(world.se, "Develop")
    assert f"→ {develop.name}" in joined
    assert world.rep_se.full_name in joined and "Läsbar AB" in joined
    assert world.manager_se.full_name in html  # who


def test_foreign_keys_are_named_in_one_query_per_model(client: Client, world: World) -> None:
    account = make_account(organization=world.org, home_company=world.se)
    opp = OpportunityFactory(account=account, owner=world.rep_se)
    client.force_login(world.director)
    url = reverse("opportunities:history", args=[opp.pk])

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    before = count()
    owners = [world.rep_se, world.manager_se, world.rep_se]
    for i, owner in enumerate(owners):
        _edit(opp, world, owner=owner, next_step=f"Step {i}")
    other = make_account(organization=world.org, home_company=world.se, name="Moved AB")
    _edit(opp, world, account=other)
    assert count() == before
    html = client.get(url).content.decode()
    assert "Moved AB" in html and "Step 2" in html


def test_a_record_the_reader_may_not_see_is_not_named(client: Client, world: World) -> None:
    """A relation to something outside the reader's visibility reads as its id only."""
    account = make_account(organization=world.org, home_company=world.se, name="Seen AB")
    opp = OpportunityFactory(account=account, owner=world.rep_se)
    hidden = make_account(organization=world.org, home_company=world.de, name="Hidden GmbH")
    # The deal's account moves to a German account the Swedish rep does not see, and back.
    _edit(opp, world, by=world.director, account=hidden)
    _edit(opp, world, by=world.director, account=account)
    client.force_login(world.rep_se)
    html = client.get(reverse("opportunities:history", args=[opp.pk])).content.decode()
    assert "Hidden GmbH" not in html and f"#{hidden.pk}" in html
    client.force_login(world.director)
    html = client.get(reverse("opportunities:history", args=[opp.pk])).content.decode()
    assert "Hidden GmbH" in html
