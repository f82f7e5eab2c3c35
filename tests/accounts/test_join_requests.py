"""Asking to join a group one cannot see, and deciding it (``accounts.join``): the token is the
only way to name the group, the group-link rule decides, approval links in one transaction,
and every side is told once, without the group's name reaching the account's side."""

from __future__ import annotations

import pytest
from django.core import mail, signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import translation
from django.utils.translation import gettext as _

from accounts import join, selectors, services
from accounts.models import Account, GroupJoinRequest, JoinStatus
from accounts.tokens import SALT, join_token
from crm.models import Notification, NotificationKind
from crm.roles import Role
from tests.accounts.factories import make_account
from tests.accounts.hansa import DOMAIN, NEW_NAME, Hansa, assert_no_secret, make_hansa
from tests.conftest import World
from tests.factories import SalesCompanyFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def hansa(world: World) -> Hansa:
    return make_hansa(world)


@pytest.fixture
def danish(world: World) -> Account:
    """rep.dk's new account, created although it looks like the hidden group (she confirmed)."""
    return services.account_create(
        organization=world.org, name=NEW_NAME, home_company=world.dk, country="DK",
        domain=DOMAIN, acting_user=world.rep_dk, allow_duplicate=True,
    )  # fmt: skip


def _token(world: World, user: object = None) -> str:
    user = user or world.rep_dk
    _shown, (match,) = selectors.duplicate_candidates(user=user, name=NEW_NAME, domain=DOMAIN)
    return match.token


def _ask(world: World, danish: Account, token: str | None = None, reason: str = "") -> object:
    group = join.group_for_token(token=token or _token(world), acting_user=world.rep_dk)
    return join.join_request_create(
        account=danish, group=group, acting_user=world.rep_dk, reason=reason
    )


def test_asking_tells_the_gam_and_both_sides_managers_once_each(
    world: World, hansa: Hansa, danish: Account, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        request = _ask(world, danish, reason="Same trucks, same buyer in Hamburg")
    assert request.status == JoinStatus.PENDING and request.group == hansa.top
    recipients = sorted(address for m in mail.outbox for address in m.to)
    assert recipients == sorted([hansa.gam.email, hansa.manager_dk.email, world.manager_de.email])
    for message in mail.outbox:
        assert NEW_NAME in message.subject + message.body
        assert world.de.name in message.body and "Same trucks" in message.body
        assert_no_secret(message.subject + message.body)  # no group name, deal or amount
    # The same people in the app, once each, with a sentence that names no group either.
    told = _in_app(world, NotificationKind.JOIN_REQUEST)
    assert sorted(told) == sorted([hansa.gam.pk, hansa.manager_dk.pk, world.manager_de.pk])
    for notification in told.values():
        assert notification.url == join.JOIN_REQUESTS_PATH
        assert NEW_NAME in notification.message and world.de.name in notification.message
        assert_no_secret(notification.message)


def _in_app(world: World, kind: str) -> dict[int, Notification]:
    rows = list(Notification.objects.for_org(world.org).filter(kind=kind))
    by_recipient = {n.recipient_id: n for n in rows}
    assert len(by_recipient) == len(rows)  # once each
    return by_recipient


def test_tampered_foreign_and_expired_tokens_are_refused_clearly(
    world: World, hansa: Hansa, danish: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = _token(world)
    payload = signing.loads(token, salt=SALT)
    forged = token.replace(signing.dumps(payload, salt=SALT).split(":")[0], "x")
    other_group = make_account(organization=world.org, home_company=world.de)
    guessed = signing.dumps({**payload, "g": other_group.pk}, salt="wrong-salt")
    for bad in (forged, guessed, "", "123"):
        with pytest.raises(ValidationError, match="not valid"):
            join.group_for_token(token=bad, acting_user=world.rep_dk)
    # A token shown to rep.se does not work for rep.dk.
    theirs = join_token(
        organization_id=world.org.pk, user_id=world.rep_se.pk, group_id=hansa.top.pk
    )
    with pytest.raises(PermissionDenied, match="made for someone else"):
        join.group_for_token(token=theirs, acting_user=world.rep_dk)
    monkeypatch.setattr("accounts.tokens.MAX_AGE_SECONDS", -1)
    with pytest.raises(ValidationError, match="expired"):
        join.group_for_token(token=token, acting_user=world.rep_dk)


def test_one_pending_request_per_account_and_group(
    world: World, hansa: Hansa, danish: Account
) -> None:
    _ask(world, danish)
    with pytest.raises(ValidationError, match="already waiting for a decision"):
        _ask(world, danish)
    assert GroupJoinRequest.objects.for_org(world.org).count() == 1


def test_only_who_may_change_the_account_may_ask(
    world: World, hansa: Hansa, danish: Account
) -> None:
    colleague = UserFactory(organization=world.org, role=Role.SALES_REP, sales_company=world.dk)
    group = join.group_for_token(token=_token(world, colleague), acting_user=colleague)
    with pytest.raises(PermissionDenied, match="may not ask for this account"):
        join.join_request_create(account=danish, group=group, acting_user=colleague)
    with pytest.raises(Http404):  # an account out of sight is missing
        join.join_request_create(account=hansa.se, group=group, acting_user=world.rep_dk)


@pytest.mark.parametrize(
    ("who", "outcome"),
    [
        ("gam", "ok"),
        ("manager_dk", "ok"),
        ("director", "ok"),
        ("admin", "ok"),
        ("manager_de", 403),  # sees it (the group's home company), may not link the account
        ("rep_dk", 403),  # the requester
        ("manager_no", 404),  # a manager of an unrelated company
        ("rep_se", 404),
        ("stranger", 404),
    ],
)
def test_approve_permissions(
    world: World, hansa: Hansa, danish: Account, who: str, outcome: object
) -> None:
    request = _ask(world, danish)
    no = SalesCompanyFactory(organization=world.org, region=world.nordics, code="NO")
    users = {
        "gam": hansa.gam,
        "manager_dk": hansa.manager_dk,
        "manager_no": UserFactory(
            organization=world.org, role=Role.COUNTRY_MANAGER, sales_company=no
        ),
        **world.users(),
    }
    user = users[who]
    if outcome == "ok":
        join.join_request_approve(join_request=request, acting_user=user)
        danish.refresh_from_db()
        assert danish.parent_id == hansa.top.pk and danish.group_id == hansa.top.pk
        request.refresh_from_db()
        assert (request.status, request.decided_by) == (JoinStatus.APPROVED, user)
        return
    expected = PermissionDenied if outcome == 403 else Http404
    with pytest.raises(expected) as exc:
        join.join_request_approve(join_request=request, acting_user=user)
    if outcome == 403:
        assert "global account manager" in str(exc.value)
    danish.refresh_from_db()
    assert danish.parent_id is None
    assert GroupJoinRequest.objects.for_org(world.org).get().status == JoinStatus.PENDING


def test_decisions_tell_the_requester_without_the_group_name(
    world: World, hansa: Hansa, danish: Account, django_capture_on_commit_callbacks
) -> None:
    request = _ask(world, danish)
    with django_capture_on_commit_callbacks(execute=True):
        join.join_request_decline(join_request=request, acting_user=hansa.gam)
    (declined,) = mail.outbox
    # In the requester's own language.
    with translation.override(world.rep_dk.effective_language):
        expected = _("Meridian: request for %(account)s declined") % {"account": NEW_NAME}
    assert declined.to == [world.rep_dk.email] and declined.subject == expected
    assert_no_secret(declined.subject + declined.body)
    (told,) = _in_app(world, NotificationKind.JOIN_REQUEST_DECLINED).values()
    assert told.recipient_id == world.rep_dk.pk and NEW_NAME in told.message
    assert_no_secret(told.message)
    with pytest.raises(ValidationError, match="already decided"):
        join.join_request_approve(join_request=request, acting_user=hansa.gam)
    # A new request after a decline is allowed, and approving it tells the requester.
    again = _ask(world, danish)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        join.join_request_approve(join_request=again, acting_user=hansa.manager_dk)
    # (Conflict detection re-runs for the group and mails its own news; that is not ours.)
    with translation.override(world.rep_dk.effective_language):
        joined = _("Meridian: %(account)s joined the group") % {"account": NEW_NAME}
    (approved,) = [m for m in mail.outbox if m.subject == joined]
    assert approved.to == [world.rep_dk.email] and NEW_NAME in approved.subject
    assert_no_secret(approved.subject + approved.body)
    (told,) = _in_app(world, NotificationKind.JOIN_REQUEST_APPROVED).values()
    assert told.recipient_id == world.rep_dk.pk and world.de.name in told.message
    assert_no_secret(told.message)


def test_the_request_is_seen_by_both_sides_and_no_one_else(
    world: World, hansa: Hansa, danish: Account
) -> None:
    request = _ask(world, danish)
    sees = {
        name
        for name, user in {**world.users(), "gam": hansa.gam, "dk": hansa.manager_dk}.items()
        if GroupJoinRequest.objects.visible_to(user).filter(pk=request.pk).exists()
    }
    assert sees == {"admin", "director", "regional", "manager_de", "rep_dk", "rep_de", "gam", "dk"}


def test_approval_re_runs_detection_and_tells_every_side_of_the_conflict_once(
    world: World, hansa: Hansa, danish: Account, django_capture_on_commit_callbacks
) -> None:
    """The Hansa case end to end: rep.dk's deal on her new account, her request, the GAM's
    approval; the group's check finds Denmark working it beside Sweden and Germany and mails
    the SE, DE and DK managers and the GAM once each about it."""
    from opportunities.models import Conflict, ConflictKind, ConflictParticipant, ConflictStatus
    from tests.opportunities.factories import OpportunityFactory

    danish_deal = OpportunityFactory(account=danish, owner=world.rep_dk, name="DK trucks")
    with django_capture_on_commit_callbacks(execute=True):
        request = _ask(world, danish)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        join.join_request_approve(join_request=request, acting_user=hansa.gam)
    (situation,) = Conflict.objects.for_org(world.org).filter(
        kind=ConflictKind.GROUP_OTHER_COMPANY, status=ConflictStatus.OPEN
    )
    assert situation.account_id == hansa.top.pk
    deals = set(
        ConflictParticipant.objects.for_org(world.org)
        .filter(conflict=situation)
        .values_list("opportunity_id", flat=True)
    )
    assert deals == {danish_deal.pk, *(d.pk for d in hansa.deals)}
    conflict_mail = [
        m for m in mail.outbox if "konflikt" in m.subject.lower() or "conflict" in m.subject.lower()
    ]
    told = sorted(address for m in conflict_mail for address in m.to)
    assert told == sorted(
        [world.manager_se.email, world.manager_de.email, hansa.manager_dk.email, hansa.gam.email]
    )
