"""Linking an account into a group re-runs conflict detection for the group's deals and mails
every side (issue 17): the Danish subsidiary created on its own and linked later."""

from __future__ import annotations

import pytest
from django.core import mail

from accounts import services
from opportunities.models import Conflict, ConflictKind, ConflictParticipant, ConflictStatus
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_linking_an_account_into_a_group_finds_the_cross_country_conflict(world: World) -> None:
    group = make_account(organization=world.org, home_company=world.se, name="Hansa Logistik AB")
    alone = make_account(
        organization=world.org, home_company=world.dk, name="Hansa Logistik Danmark ApS"
    )
    sweden = OpportunityFactory(account=group, owner=world.rep_se)
    denmark = OpportunityFactory(account=alone, owner=world.rep_dk)
    open_group_conflicts = Conflict.objects.for_org(world.org).filter(
        kind=ConflictKind.GROUP_OTHER_COMPANY, status=ConflictStatus.OPEN
    )
    assert not open_group_conflicts.exists()  # not in one group yet: nothing to coordinate
    mail.outbox.clear()
    services.account_set_parent(account=alone, parent=group, acting_user=world.director)
    found = list(open_group_conflicts)
    assert len(found) == 1
    deals = ConflictParticipant.objects.for_org(world.org).filter(conflict=found[0])
    assert set(deals.values_list("opportunity_id", flat=True)) == {sweden.pk, denmark.pk}
    told = {address for message in mail.outbox for address in message.to}
    assert {world.manager_se.email} <= told  # the Swedish side hears of it too
