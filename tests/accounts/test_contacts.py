"""Contacts (archive, restore, merge, the list's search/filters/sort), buying-centre roles on
deals, and activities that carry when they happened."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from accounts import selectors, services
from accounts.models import Activity, Contact, TeamRole
from crm.audit import history_for
from opportunities import services as opp_services
from opportunities.models import BuyingRole, OpportunityContactRole
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory

pytestmark = pytest.mark.django_db


def _contact(account: object, name: str, **fields: object) -> Contact:
    return services.contact_create(account=account, full_name=name, acting_user=None, **fields)


def test_archive_hides_from_the_list_and_restore_brings_back(world: World) -> None:
    account = make_account(organization=world.org, home_company=world.se, name="Volvera AB")
    kim = _contact(account, "Kim Berg")
    _contact(account, "Ola Ek")
    services.contact_archive(contact=kim, acting_user=world.rep_se)
    live = selectors.contact_list(user=world.rep_se)
    assert [c.full_name for c in live] == ["Ola Ek"]
    assert [c.full_name for c in selectors.contact_list(user=world.rep_se, archived=True)] == [
        "Kim Berg"
    ]
    services.contact_restore(contact=kim, acting_user=world.rep_se)
    assert {c.full_name for c in selectors.contact_list(user=world.rep_se)} == {
        "Kim Berg",
        "Ola Ek",
    }
    with pytest.raises(Http404):  # the Danish rep does not see a Swedish customer's people
        services.contact_archive(contact=kim, acting_user=world.rep_dk)
    with pytest.raises(Http404):
        services.contact_archive(contact=kim, acting_user=world.stranger)
    with pytest.raises(PermissionDenied):  # marketing reads contacts only
        services.contact_archive(contact=kim, acting_user=world.marketing)


def test_contact_list_search_filters_and_sort(world: World) -> None:
    se = make_account(organization=world.org, home_company=world.se, name="Volvera AB")
    dk = make_account(organization=world.org, home_company=world.dk, name="Dansk Ventil A/S")
    _contact(se, "Anna Holm", email="anna@volvera.example", title="Buyer")
    _contact(se, "Bo Lind", title="CFO")
    _contact(dk, "Carl Dahl")
    director = world.director
    names = lambda qs: [c.full_name for c in qs]  # noqa: E731
    assert names(selectors.contact_list(user=director)) == ["Anna Holm", "Bo Lind", "Carl Dahl"]
    assert names(selectors.contact_list(user=director, sort="-name")) == [
        "Carl Dahl",
        "Bo Lind",
        "Anna Holm",
    ]
    assert names(selectors.contact_list(user=director, sort="account")) == [
        "Carl Dahl",
        "Anna Holm",
        "Bo Lind",
    ]
    assert names(selectors.contact_list(user=director, search="VOLVERA.ex")) == ["Anna Holm"]
    assert names(selectors.contact_list(user=director, search="cfo")) == ["Bo Lind"]
    assert names(selectors.contact_list(user=director, account_id=dk.pk)) == ["Carl Dahl"]
    assert names(selectors.contact_list(user=director, company_id=world.se.pk)) == [
        "Anna Holm",
        "Bo Lind",
    ]
    # A Danish rep sees the Danish customer's people only; another organization none.
    assert names(selectors.contact_list(user=world.rep_dk)) == ["Carl Dahl"]
    assert names(selectors.contact_list(user=world.stranger)) == []


def test_merge_keeps_chosen_values_moves_activities_and_roles(world: World) -> None:
    account = make_account(organization=world.org, home_company=world.se, name="Volvera AB")
    keep = _contact(account, "Kim Berg", email="kim@volvera.example", title="")
    dupe = _contact(account, "Kim Bergström", email="", title="Head of purchasing", phone="+46 1")
    deal = OpportunityFactory(account=account, owner=world.rep_se)
    other_deal = OpportunityFactory(account=account, owner=world.rep_se)
    call = services.activity_log(
        account=account, kind="call", subject="Pricing", contact=dupe, acting_user=world.rep_se
    )
    # The same role twice (on the kept contact and the duplicate) stays once; the other moves.
    for contact in (keep, dupe):
        opp_services.contact_role_add(
            opportunity=deal, contact=contact, role=BuyingRole.DECISION_MAKER, acting_user=None
        )
    opp_services.contact_role_add(
        opportunity=other_deal, contact=dupe, role=BuyingRole.INFLUENCER, acting_user=None
    )
    dupe_id = dupe.pk
    merged = services.contact_merge(
        keep=keep,
        remove=dupe,
        take_from_removed=["title", "phone"],
        acting_user=world.rep_se,
    )
    assert (merged.full_name, merged.email, merged.title, merged.phone) == (
        "Kim Berg",
        "kim@volvera.example",
        "Head of purchasing",
        "+46 1",
    )
    assert not Contact.objects.for_org(world.org).filter(pk=dupe_id).exists()
    assert Activity.objects.for_org(world.org).get(pk=call.pk).contact_id == keep.pk
    roles = OpportunityContactRole.objects.for_org(world.org).order_by("opportunity_id")
    assert [(r.opportunity_id, r.contact_id, r.role) for r in roles] == [
        (deal.pk, keep.pk, BuyingRole.DECISION_MAKER),
        (other_deal.pk, keep.pk, BuyingRole.INFLUENCER),
    ]
    # The history says so: a "merge" entry on the kept contact, the duplicate's removal.
    trail = history_for(user=world.director, obj=account)
    labels = {(e.kind, e.object_id, e.label) for e in trail}
    assert ("contact", keep.pk, "merge") in labels
    assert ("contact", dupe_id, "delete") in labels


def test_merge_refusals(world: World) -> None:
    account = make_account(organization=world.org, home_company=world.se)
    elsewhere = make_account(organization=world.org, home_company=world.se)
    a, b = _contact(account, "A"), _contact(account, "B")
    c = _contact(elsewhere, "C")
    with pytest.raises(ValidationError):
        services.contact_merge(keep=a, remove=a, acting_user=world.rep_se)
    with pytest.raises(ValidationError):  # another account's person is not a duplicate
        services.contact_merge(keep=a, remove=c, acting_user=world.rep_se)
    with pytest.raises(ValidationError):
        services.contact_merge(keep=a, remove=b, take_from_removed=["account"], acting_user=None)
    with pytest.raises(Http404):
        services.contact_merge(keep=a, remove=b, acting_user=world.rep_dk)
    with pytest.raises(PermissionDenied):
        services.contact_merge(keep=a, remove=b, acting_user=world.marketing)
    assert Contact.objects.for_org(world.org).filter(pk__in=[a.pk, b.pk]).count() == 2


def test_contact_roles_rules(world: World) -> None:
    account = make_account(organization=world.org, home_company=world.se)
    sub = make_account(organization=world.org, home_company=world.se, parent=account)
    other = make_account(organization=world.org, home_company=world.se)
    deal = OpportunityFactory(account=account, owner=world.rep_se)
    at_sub = _contact(sub, "Group buyer")
    outsider = _contact(other, "Someone else")
    # A contact anywhere in the deal's group may hold a role; twice the same is one row.
    first = opp_services.contact_role_add(
        opportunity=deal, contact=at_sub, role=BuyingRole.ECONOMIC_BUYER, acting_user=world.rep_se
    )
    again = opp_services.contact_role_add(
        opportunity=deal, contact=at_sub, role=BuyingRole.ECONOMIC_BUYER, acting_user=world.rep_se
    )
    assert first.pk == again.pk
    with pytest.raises(ValidationError) as err:
        opp_services.contact_role_add(
            opportunity=deal, contact=outsider, role="boss", acting_user=world.rep_se
        )
    assert set(err.value.message_dict) == {"contact", "role"}
    services.contact_archive(contact=at_sub, acting_user=None)
    with pytest.raises(ValidationError):
        opp_services.contact_role_add(
            opportunity=deal, contact=at_sub, role=BuyingRole.USER, acting_user=world.rep_se
        )
    with pytest.raises(Http404):  # the German rep does not see the deal
        opp_services.contact_role_remove(role=first, acting_user=world.rep_de)
    # The Danish key account manager reads the group's deals but may not change this one.
    services.team_member_add(
        group=account, user=world.rep_dk, role=TeamRole.KEY_ACCOUNT_MANAGER, acting_user=None
    )
    with pytest.raises(PermissionDenied):
        opp_services.contact_role_remove(role=first, acting_user=world.rep_dk)
    opp_services.contact_role_remove(role=first, acting_user=world.rep_se)
    assert not OpportunityContactRole.objects.for_org(world.org).exists()


def test_activity_happened_at_defaults_and_refuses_the_future(world: World) -> None:
    account = make_account(organization=world.org, home_company=world.se)
    before = timezone.now()
    now_call = services.activity_log(
        account=account, kind="call", subject="Now", acting_user=world.rep_se
    )
    assert now_call.happened_at >= before
    last_week = timezone.now() - dt.timedelta(days=7)
    visit = services.activity_log(
        account=account,
        kind="meeting",
        subject="Visit",
        happened_at=last_week,
        duration_minutes=90,
        outcome="Pilot agreed",
        acting_user=world.rep_se,
    )
    assert (visit.happened_at, visit.duration_minutes, visit.outcome) == (
        last_week,
        90,
        "Pilot agreed",
    )
    due = timezone.now() + dt.timedelta(days=3)
    task = services.activity_log(
        account=account, kind="task", subject="Send offer", due_at=due, acting_user=world.rep_se
    )
    assert task.happened_at == due  # planned: at its due time until done
    services.activity_complete(activity=task, acting_user=world.rep_se)
    task.refresh_from_db()
    assert task.happened_at == task.done_at
    with pytest.raises(ValidationError) as err:
        services.activity_log(
            account=account,
            kind="call",
            subject="Tomorrow",
            happened_at=timezone.now() + dt.timedelta(days=1),
            acting_user=world.rep_se,
        )
    assert set(err.value.message_dict) == {"happened_at"}
    with pytest.raises(ValidationError) as err:
        services.activity_log(
            account=account, kind="call", subject="x", duration_minutes=99999, acting_user=None,
            owner=world.rep_se,
        )  # fmt: skip
    assert set(err.value.message_dict) == {"duration_minutes"}


def test_timeline_newest_first_by_happened_and_paginated(world: World) -> None:
    account = make_account(organization=world.org, home_company=world.se)
    now = timezone.now()
    # Entered in one order, happened in another: the timeline follows when it happened.
    for days in (3, 1, 5, 2, 4):
        services.activity_log(
            account=account,
            kind="call",
            subject=f"{days} days ago",
            happened_at=now - dt.timedelta(days=days),
            acting_user=world.rep_se,
        )
    first = selectors.activity_timeline(user=world.rep_se, account_id=account.pk, per_page=2)
    assert [a.subject for a in first.items] == ["1 days ago", "2 days ago"]
    assert first.has_next and not first.has_previous
    last = selectors.activity_timeline(
        user=world.rep_se, account_id=account.pk, per_page=2, page="3"
    )
    assert [a.subject for a in last.items] == ["5 days ago"] and not last.has_next
    bad = selectors.activity_timeline(user=world.rep_se, account_id=account.pk, page="①")
    assert bad.number == 1
    assert selectors.activity_timeline(user=world.rep_de, account_id=account.pk).items == []
