"""Issue 15, hole 3: ``PATCH /api/v1/accounts/<id>/ {"parent": …}`` answered 200 for a rep who
does not own the account, moving a colleague's customer into a global group (and so exposing its
deals to other countries). Edits follow ``may_change_account``, group changes
``may_link_to_group``, both inside the services."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from rest_framework.test import APIClient

from accounts import services
from accounts.models import Account, TeamRole
from tests.accounts.factories import make_account
from tests.conftest import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(world: World) -> dict[str, Account]:
    # A Swedish customer brought in by the manager (a colleague's, for rep_se), a Swedish
    # customer rep_se created, and a Danish global group with a GAM from Denmark.
    colleagues = services.account_create(
        organization=world.org, name="Colleague AB", home_company=world.se,
        acting_user=world.manager_se,
    )  # fmt: skip
    own = services.account_create(
        organization=world.org, name="Own AB", home_company=world.se, acting_user=world.rep_se
    )
    group = make_account(organization=world.org, home_company=world.dk, name="Global A/S")
    services.team_member_add(
        group=group, user=world.rep_dk, role=TeamRole.GLOBAL_ACCOUNT_MANAGER, acting_user=None
    )
    grouped = make_account(
        organization=world.org, home_company=world.se, name="Global SE AB", parent=group
    )
    return {"colleagues": colleagues, "own": own, "group": group, "grouped": grouped}


def _patch(user: Any, account: Account, body: dict[str, Any]) -> int:
    client = APIClient()
    client.force_authenticate(user)
    return client.patch(f"/api/v1/accounts/{account.pk}/", body, format="json").status_code


def test_a_rep_may_not_edit_a_colleagues_account(
    world: World, accounts: dict[str, Account]
) -> None:
    account = accounts["colleagues"]
    assert _patch(world.rep_se, account, {"industry": "Steel"}) == 403
    account.refresh_from_db()
    assert account.industry == ""


def test_a_rep_may_not_regroup_any_account(world: World, accounts: dict[str, Account]) -> None:
    for name in ("colleagues", "own"):
        account = accounts[name]
        assert _patch(world.rep_se, account, {"parent": accounts["grouped"].pk}) == 403, name
        account.refresh_from_db()
        assert account.parent_id is None and account.group_id == account.pk


def test_the_owning_rep_edits_plain_fields(world: World, accounts: dict[str, Account]) -> None:
    account = accounts["own"]
    assert _patch(world.rep_se, account, {"industry": "Steel"}) == 200
    account.refresh_from_db()
    assert account.industry == "Steel"


@pytest.mark.parametrize("actor", ["manager_se", "regional", "director", "admin"])
def test_managers_director_and_admin_edit_and_regroup(
    world: World, accounts: dict[str, Account], actor: str
) -> None:
    user = getattr(world, actor)
    account = accounts["colleagues"]
    assert _patch(user, account, {"industry": "Paper"}) == 200
    # Under a Swedish account they govern too.
    assert _patch(user, account, {"parent": accounts["own"].pk}) == 200
    account.refresh_from_db()
    assert (account.industry, account.parent_id) == ("Paper", accounts["own"].pk)


def test_the_gam_edits_the_groups_accounts(world: World, accounts: dict[str, Account]) -> None:
    account = accounts["grouped"]
    assert _patch(world.rep_dk, account, {"industry": "Trucks"}) == 200
    account.refresh_from_db()
    assert account.industry == "Trucks"
    # ... but may not pull a Swedish customer it does not govern into the group.
    assert _patch(world.rep_dk, accounts["colleagues"], {"parent": accounts["group"].pk}) == 404


def test_the_home_companys_manager_links_into_another_countrys_group(
    world: World, accounts: dict[str, Account]
) -> None:
    # Issue 17: manager_se answers for the Swedish account and may link it into the Danish group
    # he sees (a Swedish seller is on its team), though he does not govern the group's top.
    services.team_member_add(
        group=accounts["group"], user=world.rep_se, role=TeamRole.MEMBER, acting_user=None
    )
    account = accounts["colleagues"]
    assert _patch(world.manager_se, account, {"parent": accounts["group"].pk}) == 200
    account.refresh_from_db()
    assert account.group_id == accounts["group"].pk


def test_another_companys_manager_gets_404_or_403_as_visibility_says(
    world: World, accounts: dict[str, Account]
) -> None:
    # The German manager does not see the Swedish customer: 404, like a missing one.
    assert _patch(world.manager_de, accounts["colleagues"], {"industry": "X"}) == 404
    # The Danish rep sees the Swedish subsidiary through the group's team but is not its GAM
    # here... the GAM is rep_dk; a Swedish colleague of the team sees without governing.
    services.team_member_add(
        group=accounts["group"], user=world.rep_de, role=TeamRole.MEMBER, acting_user=None
    )
    assert _patch(world.rep_de, accounts["grouped"], {"industry": "X"}) == 403
    accounts["grouped"].refresh_from_db()
    assert accounts["grouped"].industry == ""


def test_the_rule_is_in_the_service(world: World, accounts: dict[str, Account]) -> None:
    with pytest.raises(PermissionDenied):
        services.account_update(
            account=accounts["colleagues"], industry="X", acting_user=world.rep_se
        )
    with pytest.raises(PermissionDenied):
        services.account_set_parent(
            account=accounts["own"], parent=accounts["grouped"], acting_user=world.rep_se
        )
    assert services.may_link_to_group(world.manager_se, accounts["own"], None)


def test_who_may_link_an_account_into_a_group(world: World, accounts: dict[str, Account]) -> None:
    """Issue 17: the home company's managers, the joined group's GAM, the director and the
    admin may link; nobody else (a rep, marketing, another company's manager)."""
    own, group = accounts["own"], accounts["group"]
    allowed = {
        name for name, user in world.users().items() if services.may_link_to_group(user, own, group)
    }
    # rep_dk is the GAM of the Danish group; manager_se and regional cover the Swedish account.
    assert allowed == {"admin", "director", "manager_se", "regional", "rep_dk"}
    services.account_set_parent(account=own, parent=group, acting_user=world.director)
    own.refresh_from_db()
    assert own.group_id == group.pk


# --- The page answers as the API ----------------------------------------------------------------


def _page_post(user: Any, account: Account, **changes: Any) -> int:
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(user)
    data = {
        "name": account.name,
        "country": account.country,
        "registration_number": account.registration_number,
        "domain": account.domain,
        "industry": account.industry,
        "segment": account.segment,
        "lifecycle": account.lifecycle,
        "parent": account.parent_id or "",
        **changes,
    }
    return client.post(reverse("accounts:edit", args=[account.pk]), data).status_code


@pytest.mark.parametrize(
    ("actor", "name", "changes", "api", "page"),
    [
        ("rep_se", "colleagues", {"industry": "Steel"}, 403, 403),
        ("rep_se", "own", {"industry": "Steel"}, 200, 302),
        ("rep_se", "own", {"parent": "grouped"}, 403, 403),
        ("manager_se", "colleagues", {"industry": "Paper"}, 200, 302),
        ("manager_se", "colleagues", {"parent": "own"}, 200, 302),
        ("rep_dk", "grouped", {"industry": "Trucks"}, 200, 302),  # the group's GAM
        ("manager_de", "colleagues", {"industry": "X"}, 404, 404),
    ],
)
def test_page_and_api_agree(
    world: World,
    accounts: dict[str, Account],
    actor: str,
    name: str,
    changes: dict[str, str],
    api: int,
    page: int,
) -> None:
    user = getattr(world, actor)
    resolved = {k: accounts[v].pk if k == "parent" else v for k, v in changes.items()}
    assert _patch(user, accounts[name], resolved) == api
    # Undo through the system, then the same change on the page.
    account = accounts[name]
    account.refresh_from_db()
    parent_before = account.parent_id if "parent" not in changes else None
    if "parent" in changes and account.parent_id:
        services.account_set_parent(account=account, parent=None, acting_user=None)
    services.account_update(account=account, industry="", acting_user=None)
    account.refresh_from_db()
    assert _page_post(user, account, **resolved) == page
    account.refresh_from_db()
    changed = account.industry != "" or account.parent_id != parent_before
    assert changed == (page == 302)
