"""Who may resolve a conflict: one rule, asked for one conflict (``may_resolve``, the service's
check) or for a page of them (``resolvable_ids``, the inbox's resolve buttons)."""

from __future__ import annotations

import pytest

from accounts import services as account_services
from accounts.models import TeamRole
from crm.models import User
from opportunities.conflicts import detect_for_opportunity
from opportunities.models import Conflict
from opportunities.resolution import may_resolve, resolvable_ids
from tests.accounts.factories import AccountFactory
from tests.conftest import World
from tests.factories import UserFactory
from tests.opportunities.factories import OpportunityFactory

pytestmark = pytest.mark.django_db


def _conflict(world: World, home: object, owner: User, other_owner: User, name: str) -> Conflict:
    top = AccountFactory(organization=world.org, home_company=home, name=f"{name} AB")
    sub = AccountFactory(
        organization=world.org,
        home_company=world.dk,
        parent=top,
        name=f"{name} Danmark A/S",
        country="DK",
    )
    OpportunityFactory(account=top, owner=owner)
    denmark = OpportunityFactory(account=sub, owner=other_owner)
    (conflict,) = detect_for_opportunity(opportunity=denmark, acting_user=other_owner)
    return Conflict.objects.for_org(world.org).select_related("account").get(pk=conflict.pk)


def test_the_page_and_the_service_agree_for_every_role(world: World) -> None:
    swedish = _conflict(world, world.se, world.rep_se, world.rep_dk, "Volvera")  # SE vs DK
    german = _conflict(world, world.de, world.rep_de, world.rep_dk, "Bergmann")  # DE vs DK
    account_services.team_member_add(
        group=swedish.account.group,
        user=world.rep_de,
        role=TeamRole.GLOBAL_ACCOUNT_MANAGER,
        acting_user=None,
    )
    retired = UserFactory(
        organization=world.org, role=world.manager_se.role, sales_company=world.se
    )
    retired.is_active = False
    conflicts = [swedish, german]
    expected = {
        "admin": {swedish.pk, german.pk},
        "director": {swedish.pk, german.pk},
        "regional": {swedish.pk, german.pk},  # Nordics: DK is party to both
        "manager_se": {swedish.pk},
        "manager_de": {german.pk},
        "rep_se": set(),
        "rep_dk": set(),
        "rep_de": {swedish.pk},  # the Swedish group's global account manager
        "marketing": set(),
        "marketing_se": set(),
        "stranger": set(),  # another organization
    }
    users = {**world.users(), "retired": retired}
    expected["retired"] = set()
    assert set(users) == set(expected)
    for name, user in users.items():
        one_by_one = {c.pk for c in conflicts if may_resolve(user, c)}
        assert resolvable_ids(user, conflicts) == one_by_one == expected[name], name
