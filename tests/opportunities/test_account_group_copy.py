"""The opportunity's copy of its account's group (opportunities migration 0004): the database
keeps it whatever writes the rows, and a manager's team visibility follows it at once."""

from __future__ import annotations

import pytest
from django.apps import apps

from accounts import services as account_services
from accounts.models import TeamRole
from crm.models import User
from crm.visibility import apply
from opportunities.models import Opportunity
from tests.accounts.factories import AccountFactory
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory

pytestmark = pytest.mark.django_db


def _copy(opp: Opportunity) -> int | None:
    rows = Opportunity.objects.for_org(opp.organization_id).filter(pk=opp.pk)
    return rows.values_list("account_group_id", flat=True).get()


def _sees(user: User, opp: Opportunity) -> bool:
    return apply(Opportunity.objects.for_org(user.organization_id), user).filter(pk=opp.pk).exists()


@pytest.fixture
def groups(world: World) -> dict[str, object]:
    """A Danish subsidiary with a Danish deal, and a Swedish group on whose team SE sits."""
    sub = AccountFactory(organization=world.org, home_company=world.dk, country="DK")
    swedish = AccountFactory(organization=world.org, home_company=world.se, country="SE")
    account_services.team_member_add(
        group=swedish, user=world.rep_se, role=TeamRole.MEMBER, acting_user=None
    )
    opp = OpportunityFactory(account=sub, owner=world.rep_dk)
    return {"sub": sub, "swedish": swedish, "opp": opp}


def test_a_new_opportunity_copies_its_accounts_group(world: World, groups) -> None:  # type: ignore[no-untyped-def]
    assert _copy(groups["opp"]) == groups["sub"].pk  # a top account is its own group
    child = AccountFactory(
        organization=world.org, home_company=world.dk, country="DK", parent=groups["swedish"]
    )
    assert _copy(OpportunityFactory(account=child, owner=world.rep_dk)) == groups["swedish"].pk


def test_moving_the_account_into_a_group_moves_the_copy_and_the_team_visibility(
    world: World, groups
) -> None:  # type: ignore[no-untyped-def]
    sub, swedish, opp = groups["sub"], groups["swedish"], groups["opp"]
    assert not _sees(world.manager_se, opp)
    event = apps.get_model("opportunities", "OpportunityEvent").objects.for_org(world.org.pk)
    events = event.filter(pgh_obj_id=opp.pk).count()

    account_services.account_set_parent(account=sub, parent=swedish, acting_user=None)
    assert _copy(opp) == swedish.pk
    assert _sees(world.manager_se, opp)  # SE is on the Swedish group's team
    assert not _sees(world.manager_de, opp)  # neither the company nor on the team
    # The copy is bookkeeping, not an edit of the deal: no audit event for it.
    assert event.filter(pgh_obj_id=opp.pk).count() == events

    account_services.account_set_parent(account=sub, parent=None, acting_user=None)
    assert _copy(opp) == sub.pk
    assert not _sees(world.manager_se, opp)


def test_any_write_of_the_account_or_the_copy_is_corrected(world: World, groups) -> None:  # type: ignore[no-untyped-def]
    opp, swedish = groups["opp"], groups["swedish"]
    # A bulk move to another account (as a merge does) takes that account's group.
    Opportunity.objects.for_org(world.org.pk).filter(pk=opp.pk).update(account=swedish)
    assert _copy(opp) == swedish.pk
    # An ORM save from a stale instance, or a made-up value, cannot set the copy.
    opp.refresh_from_db()
    opp.account_group_id = 999_999
    opp.save()
    assert _copy(opp) == swedish.pk
    Opportunity.objects.for_org(world.org.pk).filter(pk=opp.pk).update(account_group_id=None)
    assert _copy(opp) == swedish.pk
