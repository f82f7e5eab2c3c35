"""The one idiom for tenant reads: ``Model.objects.visible_to(user)`` scopes by the user's own
organization and the model's policy; ``access_by_id`` answers the same 404 for missing, foreign,
invisible and malformed ids."""

from __future__ import annotations

import pytest
from django.http import Http404

from accounts.models import Account
from crm.scope import OrganizationScopeError, org_scope
from crm.visibility import access_by_id
from tests.conftest import World
from tests.opportunities.factories import account_for

pytestmark = pytest.mark.django_db


def test_visible_to_needs_no_scope_and_keeps_to_the_users_organization(world: World) -> None:
    own = account_for(world.se)
    foreign = account_for(world.other_company)
    ids = set(Account.objects.visible_to(world.director).values_list("id", flat=True))
    assert own.pk in ids and foreign.pk not in ids
    # Another organization in scope is a programming error, not an empty answer.
    with org_scope(world.other_org.pk), pytest.raises(OrganizationScopeError):
        list(Account.objects.visible_to(world.director))


def test_visible_to_applies_the_policy(world: World) -> None:
    se, de = account_for(world.se), account_for(world.de)
    ids = set(Account.objects.visible_to(world.rep_se).values_list("id", flat=True))
    assert se.pk in ids and de.pk not in ids


@pytest.mark.parametrize("bad", [None, "", "abc", "-1", "0", "1.0", "²", 2**63, True])
def test_access_by_id_answers_404_for_malformed_ids(world: World, bad: object) -> None:
    with pytest.raises(Http404):
        access_by_id(Account.objects.visible_to(world.director), bad)


def test_access_by_id_answers_the_same_404_for_invisible_and_missing(world: World) -> None:
    de = account_for(world.de)
    visible = Account.objects.visible_to(world.rep_se)
    with pytest.raises(Http404) as invisible:
        access_by_id(visible, de.pk)
    with pytest.raises(Http404) as missing:
        access_by_id(visible, 10**12)
    assert str(invisible.value) == str(missing.value)
    assert access_by_id(Account.objects.visible_to(world.director), de.pk) == de
