from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from accounts import services
from accounts.models import Account, AccountTeamMember, ActionStatus, DiscountTier, TeamRole
from crm.tenancy import org_scope
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(world: World) -> Account:
    return make_account(organization=world.org, home_company=world.se, name="Volvera Group AB")


# --- Accounts ----------------------------------------------------------------------------------


def test_account_create_derives_normal_forms_and_group(world: World) -> None:
    top = services.account_create(
        organization=world.org,
        name="  Volvera Group Aktiebolag ",
        home_company=world.se,
        registration_number="SE 556000-0001",
        domain="https://www.volvera.se/en",
        country="se",
        acting_user=world.rep_se,
    )
    assert (top.name, top.normalized_name) == ("Volvera Group Aktiebolag", "volvera group")
    assert (top.registration_key, top.domain, top.country) == ("SE5560000001", "volvera.se", "SE")
    assert top.group_id == top.pk
    assert top.created_by == world.rep_se
    sub = services.account_create(
        organization=world.org,
        name="Volvera DK",
        home_company=world.dk,
        parent=top,
        acting_user=None,
    )
    assert (sub.parent_id, sub.group_id) == (top.pk, top.pk)


def test_account_create_refuses_a_parent_of_another_organization(world: World) -> None:
    foreign = make_account(organization=world.other_org, home_company=world.other_company)
    with pytest.raises(Http404):  # like a missing parent: nothing told about the other one
        services.account_create(
            organization=world.org,
            name="X",
            home_company=world.se,
            parent=foreign,
            acting_user=world.rep_se,
        )


def test_account_create_refuses_a_home_company_of_another_organization(world: World) -> None:
    with pytest.raises(Http404):
        services.account_create(
            organization=world.org, name="X", home_company=world.other_company, acting_user=None
        )


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        ("rep_se", True),  # a customer of their company they create: their own
        ("manager_se", True),
        ("regional", True),  # SE is in the Nordics
        ("admin", True),  # master data steward
        ("rep_dk", False),  # another company's customer
        ("manager_de", False),
        ("marketing", False),  # reads accounts only
        ("marketing_se", False),
        ("director", True),  # global sales management may change every record (issue 15)
    ],
)
def test_who_may_create_and_change_an_se_account(world: World, actor: str, allowed: bool) -> None:
    user = world.users()[actor]
    if allowed:
        account = services.account_create(
            organization=world.org, name="Acme AB", home_company=world.se, acting_user=user
        )
        services.account_update(account=account, industry="Steel", acting_user=user)
        account.refresh_from_db()
        assert account.industry == "Steel"
    else:
        with pytest.raises(PermissionDenied):
            services.account_create(
                organization=world.org, name="Acme AB", home_company=world.se, acting_user=user
            )
        account = make_account(organization=world.org, home_company=world.se)
        # Another company's people do not even see the account: 404; marketing reads it: 403.
        refusal = Http404 if actor in ("rep_dk", "manager_de") else PermissionDenied
        with pytest.raises(refusal):
            services.account_update(account=account, industry="Steel", acting_user=user)
        account.refresh_from_db()
        assert account.industry == ""


def test_stranger_of_the_other_organization_may_not_touch_an_account(
    world: World, group: Account
) -> None:
    with pytest.raises(Http404):
        services.account_update(account=group, name="Hacked", acting_user=world.stranger)
    group.refresh_from_db()
    assert group.name == "Volvera Group AB"


def test_account_update_renormalizes_and_refuses_unknown_fields(
    world: World, group: Account
) -> None:
    services.account_update(
        account=group, name="Volvéra Holding A/S", registration_number="dk-1", acting_user=None
    )
    group.refresh_from_db()
    assert (group.normalized_name, group.registration_key) == ("volvera holding", "DK1")
    with pytest.raises(ValidationError) as err:
        services.account_update(account=group, group=None, acting_user=None)
    assert "group" in err.value.message_dict


def test_account_set_parent_regroups_the_whole_subtree(world: World) -> None:
    a = make_account(organization=world.org, home_company=world.se, name="A")
    b = make_account(organization=world.org, home_company=world.se, name="B", parent=a)
    c = make_account(organization=world.org, home_company=world.se, name="C", parent=b)
    other = make_account(organization=world.org, home_company=world.se, name="Other")
    services.account_set_parent(account=b, parent=other, acting_user=world.manager_se)
    for acc in (b, c):
        acc.refresh_from_db()
        assert acc.group_id == other.pk
    a.refresh_from_db()
    assert a.group_id == a.pk
    # Made a top account again: b heads its own group with c below it.
    services.account_set_parent(account=b, parent=None, acting_user=None)
    c.refresh_from_db()
    b.refresh_from_db()
    assert (b.group_id, c.group_id, c.parent_id) == (b.pk, b.pk, b.pk)


def test_account_set_parent_refuses_cycles(world: World) -> None:
    a = make_account(organization=world.org, home_company=world.se, name="A")
    b = make_account(organization=world.org, home_company=world.se, name="B", parent=a)
    c = make_account(organization=world.org, home_company=world.se, name="C", parent=b)
    for parent in (c, b, a):  # under its grandchild, its child, or itself
        with pytest.raises(ValidationError) as err:
            services.account_set_parent(account=a, parent=parent, acting_user=None)
        assert "parent" in err.value.message_dict
    a.refresh_from_db()
    assert a.parent_id is None


def test_account_set_parent_needs_rights_on_both_sides(world: World) -> None:
    mine = make_account(organization=world.org, home_company=world.se, name="Mine")
    theirs = make_account(organization=world.org, home_company=world.de, name="Theirs")
    with pytest.raises(Http404):  # a parent the rep cannot see is as good as missing
        services.account_set_parent(account=mine, parent=theirs, acting_user=world.rep_se)
    with pytest.raises(PermissionDenied):  # marketing sees both, governs neither
        services.account_set_parent(account=mine, parent=theirs, acting_user=world.marketing)
    mine.refresh_from_db()
    assert mine.parent_id is None


# --- Contacts and activities -------------------------------------------------------------------


def test_contact_create_and_update(world: World, group: Account) -> None:
    contact = services.contact_create(
        account=group, full_name="Eva Ek", email="Eva@Volvera.SE", acting_user=world.rep_se
    )
    assert (contact.organization_id, contact.email) == (world.org.pk, "eva@volvera.se")
    services.contact_update(contact=contact, title="CPO", acting_user=world.manager_se)
    contact.refresh_from_db()
    assert contact.title == "CPO"
    with pytest.raises(Http404):  # the DK rep does not see the Swedish customer's people
        services.contact_update(contact=contact, title="X", acting_user=world.rep_dk)
    with pytest.raises(PermissionDenied):
        services.contact_create(account=group, full_name="Y", acting_user=world.marketing)
    with pytest.raises(ValidationError) as err:
        services.contact_create(account=group, full_name="Z", email="nope", acting_user=None)
    assert "email" in err.value.message_dict


def test_activity_log_defaults_owner_and_company_and_completes(
    world: World, group: Account
) -> None:
    activity = services.activity_log(
        account=group, kind="call", subject="Intro call", acting_user=world.rep_se
    )
    assert (activity.owner, activity.sales_company) == (world.rep_se, world.se)
    assert activity.done_at is None
    with pytest.raises(Http404):  # the German rep does not see it
        services.activity_complete(activity=activity, acting_user=world.rep_de)
    services.activity_complete(activity=activity, acting_user=world.manager_se)
    activity.refresh_from_db()
    first = activity.done_at
    assert first is not None
    services.activity_complete(activity=activity, acting_user=world.rep_se)
    activity.refresh_from_db()
    assert activity.done_at == first


def test_activity_log_refusals(world: World, group: Account) -> None:
    other = make_account(organization=world.org, home_company=world.se)
    contact = services.contact_create(account=other, full_name="Elsewhere", acting_user=None)
    with pytest.raises(Http404):  # DK rep does not see an SE account
        services.activity_log(account=group, kind="call", subject="x", acting_user=world.rep_dk)
    with pytest.raises(PermissionDenied):
        services.activity_log(account=group, kind="call", subject="x", acting_user=world.marketing)
    with pytest.raises(PermissionDenied):  # a rep logs only for themselves
        services.activity_log(
            account=group,
            kind="call",
            subject="x",
            owner=world.manager_se,
            acting_user=world.rep_se,
        )
    with pytest.raises(ValidationError) as err:
        services.activity_log(
            account=group, kind="dance", subject="x", contact=contact, acting_user=world.rep_se
        )
    assert set(err.value.message_dict) == {"kind", "contact"}
    # A manager may log for a rep of the company.
    logged = services.activity_log(
        account=group, kind="task", subject="y", owner=world.rep_se, acting_user=world.manager_se
    )
    assert logged.owner == world.rep_se


# --- Teams -------------------------------------------------------------------------------------


def test_team_rules(world: World, group: Account) -> None:
    gam = services.team_member_add(
        group=group,
        user=world.rep_se,
        role=TeamRole.GLOBAL_ACCOUNT_MANAGER,
        acting_user=world.manager_se,
    )
    assert gam.sales_company == world.se
    with pytest.raises(ValidationError) as err:  # exactly one GAM
        services.team_member_add(
            group=group, user=world.rep_dk, role=TeamRole.GLOBAL_ACCOUNT_MANAGER, acting_user=None
        )
    assert "role" in err.value.message_dict
    services.team_member_add(
        group=group, user=world.rep_dk, role=TeamRole.KEY_ACCOUNT_MANAGER, acting_user=world.rep_se
    )  # the GAM manages the team
    second_dk = UserFactory(organization=world.org, sales_company=world.dk)
    with pytest.raises(ValidationError):  # one KAM per sales company
        services.team_member_add(
            group=group, user=second_dk, role=TeamRole.KEY_ACCOUNT_MANAGER, acting_user=None
        )
    services.team_member_add(group=group, user=second_dk, role=TeamRole.MEMBER, acting_user=None)
    with pytest.raises(Http404):  # never someone of another organization
        services.team_member_add(
            group=group, user=world.stranger, role=TeamRole.MEMBER, acting_user=None
        )
    with pytest.raises(ValidationError):  # already on the team
        services.team_member_add(group=group, user=world.rep_dk, role="member", acting_user=None)
    assert AccountTeamMember.objects.for_org(world.org).filter(account=group).count() == 3


def test_team_lives_on_the_top_account_and_needs_a_team_manager(
    world: World, group: Account
) -> None:
    sub = make_account(organization=world.org, home_company=world.dk, parent=group)
    with pytest.raises(ValidationError) as err:
        services.team_member_add(group=sub, user=world.rep_dk, role="member", acting_user=None)
    assert "group" in err.value.message_dict
    for actor in (world.rep_se, world.marketing):  # see the group, may not manage it
        with pytest.raises(PermissionDenied):
            services.team_member_add(
                group=group, user=world.rep_de, role="member", acting_user=actor
            )
    for actor in (world.rep_dk, world.manager_de, world.stranger):  # do not see it
        with pytest.raises(Http404):
            services.team_member_add(
                group=group, user=world.rep_de, role="member", acting_user=actor
            )
    member = services.team_member_add(
        group=group, user=world.rep_de, role="member", acting_user=world.director
    )
    with pytest.raises(PermissionDenied):
        services.team_member_remove(member=member, acting_user=world.rep_de)
    services.team_member_remove(member=member, acting_user=world.regional)
    assert not AccountTeamMember.objects.for_org(world.org).filter(pk=member.pk).exists()


# --- Plans and agreements ----------------------------------------------------------------------


def test_plan_and_actions(world: World, group: Account) -> None:
    plan = services.account_plan_create(
        group=group,
        year=2026,
        revenue_target=Decimal("1000000"),
        owner=world.rep_se,
        acting_user=world.manager_se,
    )
    with pytest.raises(PermissionDenied):
        services.account_plan_create(
            group=group,
            year=2027,
            revenue_target=Decimal(1),
            owner=world.rep_se,
            acting_user=world.rep_se,
        )
    services.account_plan_update(plan=plan, objectives="Grow DE", acting_user=world.rep_se)  # owner
    with pytest.raises(Http404):  # the DK rep does not see the Swedish group's plan
        services.account_plan_update(plan=plan, objectives="x", acting_user=world.rep_dk)
    with pytest.raises(ValidationError) as err:
        services.account_plan_update(plan=plan, revenue_target=Decimal(-1), acting_user=None)
    assert "revenue_target" in err.value.message_dict
    action = services.plan_action_add(
        plan=plan,
        title="Visit Hamburg",
        owner=world.rep_de,
        due_date=dt.date(2026, 3, 1),
        acting_user=world.rep_se,
    )
    services.plan_action_update(action=action, status=ActionStatus.DONE, acting_user=world.rep_de)
    action.refresh_from_db()
    assert action.status == ActionStatus.DONE
    with pytest.raises(Http404):  # neither its owner nor one who sees the plan
        services.plan_action_update(action=action, title="x", acting_user=world.rep_dk)


def test_agreement_create_validates_tiers(world: World, group: Account) -> None:
    def create(tiers, actor=world.director):
        return services.agreement_create(
            group=group,
            name="FA",
            valid_from=dt.date(2026, 1, 1),
            valid_to=dt.date(2026, 12, 31),
            covered_companies=[world.se, world.dk],
            incoterm="DAP",
            payment_terms="60 days",
            tiers=tiers,
            acting_user=actor,
        )

    bad = [
        [(Decimal(0), Decimal(2)), (Decimal(0), Decimal(3))],  # duplicate threshold
        [(Decimal(100), Decimal(2)), (Decimal(50), Decimal(3))],  # not ascending
        [(Decimal(0), Decimal(5)), (Decimal(100), Decimal(3))],  # discount going down
        [(Decimal(0), Decimal(5)), (Decimal(100), Decimal(5))],  # discount not rising
        [(Decimal(0), Decimal(101))],
    ]
    for tiers in bad:
        with pytest.raises(ValidationError) as err:
            create(tiers)
        assert "tiers" in err.value.message_dict, tiers
    with pytest.raises(PermissionDenied):
        create([], actor=world.manager_se)
    agreement = create([(Decimal(0), Decimal(2)), (Decimal(500000), Decimal(4))])
    with org_scope(world.org):
        codes = sorted(agreement.covered_companies.values_list("code", flat=True))
    assert codes == ["DK", "SE"]
    assert list(
        DiscountTier.objects.for_org(world.org)
        .filter(agreement=agreement)
        .values_list("threshold", "discount_percent")
    ) == [(Decimal("0.00"), Decimal("2.00")), (Decimal("500000.00"), Decimal("4.00"))]
    with pytest.raises(ValidationError) as err:
        services.agreement_create(
            group=group,
            name="FA",
            valid_from=dt.date(2026, 1, 1),
            valid_to=dt.date(2025, 1, 1),
            covered_companies=[],
            incoterm="DAP",
            payment_terms="x",
            acting_user=None,
        )
    assert {"valid_to", "covered_companies"} <= set(err.value.message_dict)
    with pytest.raises(Http404):  # another organization's company is missing here
        services.agreement_create(
            group=group,
            name="FA",
            valid_from=dt.date(2026, 1, 1),
            valid_to=dt.date(2026, 12, 31),
            covered_companies=[world.other_company],
            incoterm="DAP",
            payment_terms="x",
            acting_user=None,
        )


def test_the_groups_gam_may_add_a_subsidiary_in_another_country(
    world: World, group: Account
) -> None:
    services.team_member_add(
        group=group, user=world.rep_se, role=TeamRole.GLOBAL_ACCOUNT_MANAGER, acting_user=None
    )
    sub = services.account_create(
        organization=world.org,
        name="Volvera GmbH",
        home_company=world.de,
        parent=group,
        acting_user=world.rep_se,
        allow_duplicate=True,  # it looks like the group's top, by name: confirmed as new
    )
    assert sub.group_id == group.pk
    with pytest.raises(PermissionDenied):  # without the group, a DE customer is not theirs
        services.account_create(
            organization=world.org,
            name="Other GmbH",
            home_company=world.de,
            acting_user=world.rep_se,
        )
