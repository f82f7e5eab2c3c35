"""Who sees which accounts, contacts and activities (ARCHITECTURE.md, role table)."""

from __future__ import annotations

import pytest
from django.http import Http404

from accounts import selectors, services
from accounts.models import Account, Activity, Contact, TeamRole
from tests.accounts.factories import make_account
from tests.conftest import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def volvera(world: World) -> dict[str, Account]:
    """An SE-homed group with subsidiaries in DK, DE and US (US booked by DE here)."""
    top = make_account(organization=world.org, home_company=world.se, name="Volvera Group AB")
    return {
        "top": top,
        "dk": make_account(
            organization=world.org, home_company=world.dk, name="Volvera A/S", parent=top
        ),
        "de": make_account(
            organization=world.org, home_company=world.de, name="Volvera GmbH", parent=top
        ),
        "us": make_account(
            organization=world.org,
            home_company=world.de,
            name="Volvera Inc",
            country="US",
            parent=top,
        ),
    }


def visible(user, model=Account) -> set[str]:
    field = {Account: "name", Contact: "full_name", Activity: "subject"}[model]
    return set(model.objects.unscoped().visible_to(user).values_list(field, flat=True))


ALL = {"Volvera Group AB", "Volvera A/S", "Volvera GmbH", "Volvera Inc"}


def test_accounts_per_role_without_a_team(world: World, volvera: dict[str, Account]) -> None:
    expected = {
        "admin": ALL,
        "director": ALL,
        "regional": {"Volvera Group AB", "Volvera A/S"},  # Nordics: SE + DK
        "manager_se": {"Volvera Group AB"},
        "manager_de": {"Volvera GmbH", "Volvera Inc"},
        "rep_se": {"Volvera Group AB"},
        "rep_dk": {"Volvera A/S"},
        "rep_de": {"Volvera GmbH", "Volvera Inc"},
        "marketing": ALL,  # global marketing, read-only
        "marketing_se": {"Volvera Group AB"},
        "stranger": set(),
    }
    assert set(expected) == set(world.users())
    for name, user in world.users().items():
        assert visible(user) == expected[name], name


def test_a_dk_rep_on_the_team_sees_the_whole_group_until_removed(
    world: World, volvera: dict[str, Account]
) -> None:
    activity = services.activity_log(
        account=volvera["de"], kind="meeting", subject="Hamburg QBR", acting_user=world.rep_de
    )
    services.contact_create(account=volvera["us"], full_name="Ulla US", acting_user=None)
    assert visible(world.rep_dk) == {"Volvera A/S"}
    assert visible(world.rep_dk, Activity) == set()
    with pytest.raises(Http404):
        selectors.access_account_by_id(world.rep_dk, volvera["us"].pk)

    member = services.team_member_add(
        group=volvera["top"],
        user=world.rep_dk,
        role=TeamRole.KEY_ACCOUNT_MANAGER,
        acting_user=world.manager_se,
    )
    assert visible(world.rep_dk) == ALL
    assert visible(world.rep_dk, Activity) == {"Hamburg QBR"}
    assert visible(world.rep_dk, Contact) == {"Ulla US"}
    assert selectors.access_account_by_id(world.rep_dk, volvera["us"].pk) == volvera["us"]
    # The team gives visibility to the member, not to their colleagues in the same company...
    assert visible(world.users()["rep_se"]) == {"Volvera Group AB"}
    # ...but a manager sees the groups their company has a member on (to support the member).
    assert visible(world.regional) == ALL

    services.team_member_remove(member=member, acting_user=world.manager_se)
    assert visible(world.rep_dk) == {"Volvera A/S"}
    assert visible(world.rep_dk, Activity) == set()
    with pytest.raises(Http404):
        selectors.access_account_by_id(world.rep_dk, volvera["us"].pk)
    assert activity.pk  # the activity itself is untouched


def test_contacts_follow_the_account(world: World, volvera: dict[str, Account]) -> None:
    services.contact_create(account=volvera["top"], full_name="Stina SE", acting_user=None)
    services.contact_create(account=volvera["de"], full_name="Dirk DE", acting_user=None)
    assert visible(world.rep_se, Contact) == {"Stina SE"}
    assert visible(world.rep_de, Contact) == {"Dirk DE"}
    assert visible(world.marketing, Contact) == {"Stina SE", "Dirk DE"}
    assert visible(world.director, Contact) == {"Stina SE", "Dirk DE"}
    assert visible(world.stranger, Contact) == set()


def test_activities_own_or_on_visible_accounts(world: World, volvera: dict[str, Account]) -> None:
    services.activity_log(
        account=volvera["top"], kind="call", subject="SE call", acting_user=world.rep_se
    )
    # A DE rep working the group (via the team) logs on the SE top; then leaves the team.
    member = services.team_member_add(
        group=volvera["top"], user=world.rep_de, role="member", acting_user=None
    )
    services.activity_log(
        account=volvera["top"], kind="call", subject="DE call on SE", acting_user=world.rep_de
    )
    services.team_member_remove(member=member, acting_user=None)
    assert visible(world.rep_se, Activity) == {"SE call", "DE call on SE"}
    assert visible(world.rep_de, Activity) == {"DE call on SE"}  # own activity stays visible
    assert visible(world.rep_dk, Activity) == set()
    assert visible(world.manager_de, Activity) == set()
    assert visible(world.stranger, Activity) == set()
    assert visible(world.director, Activity) == {"SE call", "DE call on SE"}


def test_account_list_and_get_three_actors(world: World, volvera: dict[str, Account]) -> None:
    top = volvera["top"]
    # owner's company, a reader colleague (marketing, read-only), strangers
    assert top in selectors.account_list(user=world.rep_se)
    assert top in selectors.account_list(user=world.marketing_se)
    assert selectors.access_account_by_id(world.marketing_se, top.pk) == top
    for stranger in (world.rep_de, world.stranger):
        assert top not in selectors.account_list(user=stranger)
        with pytest.raises(Http404):
            selectors.access_account_by_id(stranger, top.pk)
    with pytest.raises(Http404):
        selectors.access_account_by_id(world.rep_se, 10**9)
    # Search is by normalized name prefix: legal forms and accents do not matter.
    assert list(selectors.account_list(user=world.director, search="VOLVÉRA gr")) == [top]
    assert len(selectors.account_list(user=world.director, search="volvera a/s")) == 4


def test_account_list_is_one_query(world: World, django_assert_num_queries) -> None:
    for i in range(5):
        make_account(organization=world.org, home_company=world.se, name=f"A{i}")
    with django_assert_num_queries(1):
        rows = list(selectors.account_list(user=world.manager_se))
        [r.home_company.code for r in rows]
    assert len(rows) == 5
