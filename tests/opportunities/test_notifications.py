"""Conflict notifications never fail or half-complete a save (issue 15, hole 4): subjects are
sanitized, mail goes out after commit from a task that retries and is idempotent, and a mail
server that refuses leaves the request complete."""

from __future__ import annotations

from smtplib import SMTPException
from typing import Any

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from rest_framework.test import APIClient

from accounts.models import Account
from crm.mail import mail_subject
from crm.roles import Role
from opportunities.conflicts import detect_for_opportunity
from opportunities.models import Conflict, Opportunity
from opportunities.notifications import conflicts_notify
from tests.accounts.factories import AccountFactory
from tests.conftest import World
from tests.factories import UserFactory
from tests.opportunities.factories import OpportunityFactory, process_for


class RefusingBackend(BaseEmailBackend):
    """A mail server that is down."""

    calls = 0

    def send_messages(self, messages: Any) -> int:
        RefusingBackend.calls += 1
        raise SMTPException("421 service not available")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Volvera\nAB", "Volvera AB"),
        ("A\r\nB\x00C\tD\u2028E", "A B C D E"),
        ("  plain  ", "plain"),
        ("x" * 400, "x" * 149 + "…"),
    ],
)
def test_mail_subject_is_one_clean_line(text: str, expected: str) -> None:
    assert mail_subject(text) == expected


def _group(world: World) -> tuple[Account, Account]:
    process_for(world.se)
    process_for(world.dk)
    top = AccountFactory(organization=world.org, home_company=world.se, name="Volvera AB")
    dk = AccountFactory(
        organization=world.org, home_company=world.dk, parent=top, name="Volvera DK"
    )
    return top, dk


@pytest.mark.django_db
def test_an_account_named_with_a_newline_still_gets_its_mail(
    world: World, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    top, dk = _group(world)
    # Written past the validators, as rows from before them may be.
    # The situation is the group's: the mail names its top account.
    Account.objects.for_org(world.org).filter(pk=top.pk).update(name="Volvera\r\nBcc: x@evil")
    top.refresh_from_db()
    OpportunityFactory(account=top, owner=world.rep_se)
    denmark = OpportunityFactory(account=dk, owner=world.rep_dk)
    with django_capture_on_commit_callbacks(execute=True):
        detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk)
    assert mailoutbox, "the conflict was mailed"
    # In the recipient's language (the Swedish company's); the name made one clean line.
    assert mailoutbox[0].subject == "Meridian: konflikt hos Volvera Bcc: x@evil"
    assert world.manager_se.email in {m.to[0] for m in mailoutbox}


@pytest.mark.django_db
def test_the_notification_is_idempotent(
    world: World, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    top, dk = _group(world)
    OpportunityFactory(account=top, owner=world.rep_se)
    denmark = OpportunityFactory(account=dk, owner=world.rep_dk)
    with django_capture_on_commit_callbacks(execute=True):
        detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk)
    sent = len(mailoutbox)
    assert sent >= 1
    ids = list(Conflict.objects.for_org(world.org).values_list("pk", flat=True))
    # A redelivered task finds the conflicts mailed and sends nothing.
    assert conflicts_notify(organization_id=world.org.pk, conflict_ids=ids) == 0
    assert len(mailoutbox) == sent
    # In the app too, once per person, in the reader's language, linking to the situation.
    from django.utils import translation

    from crm.models import Notification

    (note,) = Notification.objects.for_org(world.org).filter(recipient=world.manager_se)
    assert note.url == f"/opportunities/conflicts/{ids[0]}/"
    with translation.override("en"):
        assert "Volvera" in note.message and world.dk.name in note.message
    with translation.override("de"):
        assert note.message.startswith("Neuer Konflikt bei")


@pytest.mark.django_db(transaction=True)
def test_a_refusing_mail_server_never_fails_the_save(world: World, settings: Any) -> None:
    """Real commits (no test transaction), so the after-commit mail runs inside the request,
    as in production with eager tasks; the server refuses every attempt, retries included."""
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    RefusingBackend.calls = 0
    top, dk = _group(world)
    Account.objects.for_org(world.org).filter(pk=dk.pk).update(name="Volvera\nDK")
    OpportunityFactory(account=top, owner=world.rep_se)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(world.rep_dk)
    for attempt in range(2):  # the second conflict-raising save on the group too
        response = client.post(
            "/api/v1/opportunities/",
            {"account": dk.pk, "name": f"Pumps {attempt}", "amount": "1000.00"},
            format="json",
        )
        assert response.status_code == 201, response.content
    assert RefusingBackend.calls >= 1  # the mail was tried, and failed
    created = Opportunity.objects.for_org(world.org).filter(account=dk)
    assert created.count() == 2
    # Complete: the conflicts of both saves are recorded.
    # Both saves are in the situation they found (the second joined the first's).
    sides = Conflict.objects.for_org(world.org).filter(participants__opportunity__in=created)
    assert sides.distinct().count() >= 1 and sides.count() >= 2


@pytest.mark.django_db
def test_each_recipient_is_mailed_in_their_language(
    world: World, mailoutbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    """The user's own language, else their company's: the Swedish manager (no language of
    their own) reads Swedish, a German-speaking manager of the Danish company reads German."""
    top, dk = _group(world)
    world.se.language = "sv"
    world.se.save(update_fields=["language"])
    world.manager_se.language = ""
    world.manager_se.save(update_fields=["language"])
    manager_dk = UserFactory(
        organization=world.org, role=Role.COUNTRY_MANAGER, sales_company=world.dk, language="de"
    )
    OpportunityFactory(account=top, owner=world.rep_se)
    denmark = OpportunityFactory(account=dk, owner=world.rep_dk)
    with django_capture_on_commit_callbacks(execute=True):
        detect_for_opportunity(opportunity=denmark, acting_user=world.rep_dk)
    by_recipient = {m.to[0]: m for m in mailoutbox}
    swedish = by_recipient[world.manager_se.email]
    german = by_recipient[manager_dk.email]
    assert swedish.subject.startswith("Meridian: konflikt hos Volvera")
    assert "konfliktinkorgen" in swedish.body
    assert german.subject.startswith("Meridian: Konflikt bei Volvera")
    assert "Posteingang" in german.body
