from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from accounts import services
from accounts.models import AccountPlan, AccountPlanUserObjectPermission
from accounts.sharing import object_share, object_unshare
from crm.registry import access_by_id
from tests.accounts.factories import make_account
from tests.conftest import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(world: World) -> AccountPlan:
    group = make_account(organization=world.org, home_company=world.se, name="Volvera Group AB")
    return services.account_plan_create(
        group=group, year=2026, revenue_target=Decimal(1000), owner=world.rep_se, acting_user=None
    )


def sees(user, plan: AccountPlan) -> bool:
    return AccountPlan.objects.visible_to(user).filter(pk=plan.pk).exists()


def test_owner_shares_for_view_and_revokes(world: World, plan: AccountPlan) -> None:
    assert not sees(world.rep_dk, plan)
    grant = object_share(
        obj=plan, grantee=world.rep_dk, permission="view", acting_user=world.rep_se
    )
    assert grant.organization_id == world.org.pk
    assert grant.permission.codename == "view_accountplan"
    assert sees(world.rep_dk, plan)
    assert access_by_id(AccountPlan.objects.visible_to(world.rep_dk), plan.pk) == plan
    # View does not let them change it.
    with pytest.raises(PermissionDenied):
        services.account_plan_update(plan=plan, objectives="x", acting_user=world.rep_dk)
    # Sharing twice is one grant.
    object_share(obj=plan, grantee=world.rep_dk, permission="view", acting_user=world.rep_se)
    assert AccountPlanUserObjectPermission.objects.for_org(world.org).count() == 1

    assert object_unshare(obj=plan, grantee=world.rep_dk, acting_user=world.rep_se) == 1
    assert not sees(world.rep_dk, plan)
    with pytest.raises(Http404):
        access_by_id(AccountPlan.objects.visible_to(world.rep_dk), plan.pk)


def test_change_grant_lets_the_colleague_edit_but_not_reshare(
    world: World, plan: AccountPlan
) -> None:
    object_share(obj=plan, grantee=world.rep_de, permission="change", acting_user=world.manager_se)
    services.account_plan_update(plan=plan, objectives="DE input", acting_user=world.rep_de)
    plan.refresh_from_db()
    assert plan.objectives == "DE input"
    with pytest.raises(PermissionDenied):
        object_share(obj=plan, grantee=world.rep_dk, permission="view", acting_user=world.rep_de)
    assert not sees(world.rep_dk, plan)


def test_sharing_across_organizations_is_impossible(world: World, plan: AccountPlan) -> None:
    for actor in (world.rep_se, None):
        with pytest.raises(Http404):  # a colleague of another organization is nobody here
            object_share(obj=plan, grantee=world.stranger, permission="view", acting_user=actor)
    assert not AccountPlanUserObjectPermission.objects.unscoped().exists()
    assert not sees(world.stranger, plan)
    # Nor may the stranger share it into their own organization: to them it does not exist.
    with pytest.raises(Http404):
        object_share(
            obj=plan, grantee=world.stranger, permission="view", acting_user=world.stranger
        )


def test_only_owner_or_a_manager_who_may_change_it_shares(world: World, plan: AccountPlan) -> None:
    for actor in (world.rep_dk, world.manager_de, world.marketing):  # do not see the plan
        with pytest.raises(Http404):
            object_share(obj=plan, grantee=world.rep_de, permission="view", acting_user=actor)
    with pytest.raises(PermissionDenied):  # the admin sees it, but it is not theirs to share
        object_share(obj=plan, grantee=world.rep_de, permission="view", acting_user=world.admin)
    for actor in (world.manager_se, world.regional, world.director):
        object_share(obj=plan, grantee=world.rep_de, permission="view", acting_user=actor)
    with pytest.raises(ValidationError):
        object_share(obj=plan, grantee=world.rep_de, permission="delete", acting_user=None)  # type: ignore[arg-type]


def test_unshare_one_permission_keeps_the_other(world: World, plan: AccountPlan) -> None:
    object_share(obj=plan, grantee=world.rep_dk, permission="view", acting_user=None)
    object_share(obj=plan, grantee=world.rep_dk, permission="change", acting_user=None)
    assert (
        object_unshare(
            obj=plan, grantee=world.rep_dk, permission="change", acting_user=world.rep_se
        )
        == 1
    )
    assert sees(world.rep_dk, plan)
    with pytest.raises(PermissionDenied):
        services.account_plan_update(plan=plan, objectives="x", acting_user=world.rep_dk)
