"""The duplicates check after an import, a batch of accounts at a time
(``conflicts.check_duplicates`` -> ``situations.sync_duplicates_many``): the same situations,
participants and notifications as one ``sync_duplicates`` per account in id order (the path it
replaces, and what a save runs), over every kind of match, accounts of other companies, another
organization's look-alike, situations that end, change their reasons or were decided, and
accounts with more than ten candidates (where one account's check undoes another's); a second
run finds nothing new; a fixed number of statements per batch."""

from __future__ import annotations

import random
from typing import Any

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.matching import (
    duplicate_candidate_keys,
    duplicate_candidates_many,
    find_duplicate_candidates,
    match_values,
)
from accounts.models import Account, AccountTeamMember, TeamRole
from crm.models import Notification
from crm.scope import OrganizationScopeError, org_scope
from opportunities import conflicts
from opportunities.models import (
    Conflict,
    ConflictKind,
    ConflictParticipant,
    ConflictStatus,
    Resolution,
)
from opportunities.situations import Changes, _candidates_of, _keys_of, sync_duplicates
from tests.accounts.factories import make_account
from tests.conftest import World

pytestmark = pytest.mark.django_db

MEGA = ("AB", "Aktiebolag", "Ltd", "GmbH", "Oy", "AS", "ApS", "Inc", "Corp", "SA", "BV", "AG")


def _dataset(world: World, *, look_alikes: bool = True) -> tuple[list[int], dict[str, Account]]:
    """Accounts with every kind of match, some situations already there; returns the ids the
    check is asked about (not all of them: some candidates are outside the list) and the
    accounts by name."""
    org = world.org

    def add(key: str, company: Any, name: str, **fields: Any) -> Account:
        accounts[key] = make_account(organization=org, home_company=company, name=name, **fields)
        return accounts[key]

    accounts: dict[str, Account] = {}
    # The same registration number and the same domain, in other companies (hidden from a rep).
    add("reg_se", world.se, "Nordlicht Maskin AB", registration_number="556677-8899")
    add("reg_de", world.de, "Nordlicht GmbH", registration_number="5566 77 8899", country="DE")
    add("dom_dk", world.dk, "Blue Harbour ApS", domain="https://www.blueharbour.example/")
    add("dom_se", world.se, "Blåhamn AB", domain="sales@blueharbour.example")
    # The same name in the same country, and in another.
    add("vega_se", world.se, "Vega Logistik AB")
    add("vega_dk", world.dk, "VEGA Logistik", country="SE")
    add("vega_de", world.de, "Vega Logistik GmbH", country="DE")
    # A word prefix in the same country, both ways; not across a border.
    add("orion", world.se, "Orion AB")
    add("orion_nordic", world.se, "Orion Nordic AB")
    add("orion_us", world.de, "Orion Tools Inc", country="US")
    # A group: its subsidiaries are not duplicates of each other, another one's are.
    top = add("kappa", world.se, "Kappa Group AB")
    add("kappa_dk", world.dk, "Kappa Group", parent=top, country="SE")
    add("kappa_other", world.de, "Kappa Group AB", country="SE")
    # Thirteen look-alikes: each has twelve candidates, of which it sees the ten best (by name,
    # then id), so one account's check ends pairs another's opened.
    for i, form in enumerate((*MEGA, "") if look_alikes else ()):
        add(f"mega_{i}", [world.se, world.dk, world.de][i % 3], f"Mega Store {form}", country="SE")
    # Nothing like it; and another organization's copy of a registration number.
    add("alone", world.dk, "Zyxwv Unique")
    make_account(
        organization=world.other_org, home_company=world.other_company,
        name="Nordlicht Maskin AB", registration_number="556677-8899", domain="blueharbour.example",
    )  # fmt: skip
    AccountTeamMember.objects.create(
        organization=org,
        account=top,
        user=world.rep_de,
        sales_company=world.de,
        role=TeamRole.GLOBAL_ACCOUNT_MANAGER,
    )
    with org_scope(org):
        # Situations from before: one that will end (its account was renamed since), one whose
        # reasons are stale, one a person decided (not reopened).
        add("renamed", world.dk, "Vega Logistik", country="SE")
        for key in ("renamed", "reg_se", "vega_se", "dom_dk"):
            sync_duplicates(accounts[key])
        Account.objects.for_org(org).filter(pk=accounts["renamed"].pk).update(
            name="Quokka Travel", normalized_name="quokka travel"
        )
        accounts["renamed"].refresh_from_db()
        dup = Conflict.objects.for_org(org).filter(kind=ConflictKind.DUPLICATE_ACCOUNT)
        dup.filter(account=accounts["reg_se"]).update(params={"reasons": ["domain"]})
        dup.filter(account=accounts["vega_se"], other_account=accounts["vega_dk"]).update(
            status=ConflictStatus.RESOLVED, resolution=Resolution.ACKNOWLEDGED
        )
    skipped = {"vega_de", "orion_nordic", "mega_3"} if look_alikes else {"vega_de", "orion_nordic"}
    ids = [a.pk for key, a in accounts.items() if key not in skipped]
    random.Random(20).shuffle(ids)
    return ids + ids[:4], accounts  # repeated ids are checked once


def _per_account(organization_id: int, account_ids: list[int]) -> list[int]:
    """The path the batch replaces: one ``sync_duplicates`` per account, in id order, and the
    news told once."""
    changes = Changes()
    accounts = Account.objects.for_org(organization_id).filter(pk__in=account_ids).order_by("pk")
    for account in accounts:
        changes += sync_duplicates(account)
    conflicts.notify_on_commit(organization_id, changes.news())
    return changes.news()


def _state(organization_id: int, news: list[int]) -> dict[str, Any]:
    """Everything the check writes and tells, without ids of its own (conflicts by their pair,
    status and reasons)."""
    dup = Conflict.objects.for_org(organization_id).filter(kind=ConflictKind.DUPLICATE_ACCOUNT)
    key = {
        c.pk: (c.account_id, c.other_account_id, c.status, c.resolution, c.sales_company_id)
        for c in dup
    }
    situations = sorted(
        (*key[c.pk], c.params["reasons"], c.resolved_at is None) for c in dup.order_by("pk")
    )
    participants = sorted(
        (key[p.conflict_id], p.account_id, p.sales_company_id, p.opportunity_id, p.left_at)
        for p in ConflictParticipant.objects.for_org(organization_id).filter(conflict__in=dup)
    )
    by_url = {reverse("opportunities:conflict", args=[pk]): k for pk, k in key.items()}
    notes = sorted(
        (n.recipient_id, n.kind, sorted(n.params.items()), by_url.get(n.url, n.url))
        for n in Notification.objects.for_org(organization_id)
    )
    mails = sorted((m.subject, m.body, tuple(m.to)) for m in mail.outbox)
    return {
        "situations": situations,
        "participants": participants,
        "notifications": notes,
        "mails": mails,
        "news": sorted(key[pk] for pk in news),
    }


def _run(world: World, check: Any, capture: Any) -> dict[str, Any]:
    """``check`` from the dataset's state, what it tells run as after its commit; the state
    it leaves, then everything rolled back."""
    state: dict[str, Any] = {}
    cache.clear()
    mail.outbox.clear()
    with transaction.atomic():
        sid = transaction.savepoint()
        with org_scope(world.org), capture(execute=True):
            news = check()
        with org_scope(world.org):
            state = _state(world.org.pk, news)
        transaction.savepoint_rollback(sid)
    return state


@pytest.mark.parametrize("batch_size", [4, 2000])
def test_the_batches_write_and_tell_what_one_check_per_account_does(
    world: World, batch_size: int, django_capture_on_commit_callbacks: Any
) -> None:
    ids, accounts = _dataset(world)
    org_id = world.org.pk
    before = _run(world, lambda: _per_account(org_id, ids), django_capture_on_commit_callbacks)
    after = _run(
        world,
        lambda: conflicts.check_duplicates(org_id, ids, batch_size=batch_size),
        django_capture_on_commit_callbacks,
    )
    for part in ("situations", "participants", "notifications", "news"):
        assert after[part] == before[part], part
    # Mails go out once per batch: the same ones when everything is one batch; in several,
    # everyone the one mail reached hears (once per batch that concerns them).
    if batch_size >= len(ids):
        assert after["mails"] == before["mails"]
    else:
        assert {m[2] for m in after["mails"]} == {m[2] for m in before["mails"]}
    # The dataset has every case in it (this is not a comparison of two empty states).
    situations = before["situations"]
    reasons = {r for s in situations for r in s[5]}
    assert {"registration", "domain", "same_name", "same_country", "similar_name"} <= reasons
    a = {key: account.pk for key, account in accounts.items()}
    pairs = {(s[0], s[1]): s for s in situations if s[2] == ConflictStatus.OPEN}
    assert (a["reg_se"], a["reg_de"]) in pairs and (a["dom_dk"], a["dom_se"]) in pairs
    assert pairs[(a["reg_se"], a["reg_de"])][5] == ["registration"]  # stale reasons relabelled
    assert (a["orion"], a["orion_nordic"]) in pairs
    assert not any(a["orion_us"] in p for p in pairs)  # a prefix across a border is not one
    assert (a["kappa"], a["kappa_dk"]) not in pairs and (a["kappa"], a["kappa_other"]) in pairs
    assert (a["vega_se"], a["vega_dk"]) not in pairs  # decided: not reopened
    ended = [s for s in situations if s[3] == Resolution.NO_LONGER_APPLIES]
    assert any(a["renamed"] in s[:2] for s in ended)
    # Among the look-alikes, pairs a later account's ten best left out were ended again.
    megas = {a[f"mega_{i}"] for i in range(len(MEGA) + 1)}
    assert any(s[0] in megas and s[1] in megas for s in ended)
    assert before["notifications"] and before["mails"]
    assert before["news"]


def test_a_second_run_finds_nothing_new_and_writes_nothing(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    """Without accounts of more than ten look-alikes: among those, one account's check ends the
    pairs another's opened (each lists its ten best), on every run, batch or not (README)."""
    ids, _accounts = _dataset(world, look_alikes=False)
    with org_scope(world.org):
        first = conflicts.check_duplicates(world.org.pk, ids, batch_size=5)
        assert first
        dup = Conflict.objects.for_org(world.org).filter(kind=ConflictKind.DUPLICATE_ACCOUNT)
        rows = sorted(dup.values_list("pk", "status", "resolution", "params"))
        with django_capture_on_commit_callbacks() as told:
            again = conflicts.check_duplicates(world.org.pk, ids, batch_size=5)
            assert again == [] and told == []
            assert conflicts.check_duplicates(world.org.pk, ids, batch_size=2000) == []
        # Nor does one save's check after it (the batch left what a save would).
        for account in Account.objects.for_org(world.org).filter(pk__in=ids):
            assert sync_duplicates(account).news() == []
        assert sorted(dup.values_list("pk", "status", "resolution", "params")) == rows


def test_the_candidate_keys_are_the_candidates_fields(world: World) -> None:
    """What a save's duplicate check reads (``duplicate_candidate_keys``, no Account built)
    is each candidate's id, group and reasons of ``find_duplicate_candidates``, in its order."""
    _dataset(world)
    with org_scope(world.org):
        fresh = list(Account.objects.for_org(world.org).order_by("pk"))
        seen = 0
        for account in fresh:
            alone = find_duplicate_candidates(**_candidates_of(account))
            keys = duplicate_candidate_keys(**_candidates_of(account))
            assert keys == [(c.account.pk, c.account.group_id, c.reasons) for c in alone]
            seen += len(keys)
        assert seen > len(fresh)


def test_the_batch_candidates_are_each_accounts_own(world: World) -> None:
    """The one statement gives every account the candidates ``find_duplicate_candidates``
    gives it alone, in the same order, never another organization's."""
    _ids, accounts = _dataset(world)
    with org_scope(world.org):
        fresh = list(Account.objects.for_org(world.org).order_by("pk"))
        got = duplicate_candidates_many(
            organization_id=world.org.pk,
            inputs=[(x.pk, match_values(**_keys_of(x))) for x in fresh],
        )
        for account in fresh:
            alone = find_duplicate_candidates(**_candidates_of(account))
            assert [(c.account_id, c.reasons) for c in got[account.pk]] == [
                (c.account.pk, c.reasons) for c in alone
            ], account.name
        theirs = Account.objects.unscoped().filter(organization=world.other_org).get()
        assert all(c.account_id != theirs.pk for cs in got.values() for c in cs)
        assert len(got[accounts["mega_0"].pk]) == 10  # twelve look alike, ten are listed
    with org_scope(world.other_org), pytest.raises(OrganizationScopeError):
        duplicate_candidates_many(
            organization_id=world.org.pk, inputs=[(fresh[0].pk, match_values(name="Vega"))]
        )


def test_a_batch_is_a_fixed_number_of_statements(world: World) -> None:
    ids, _accounts = _dataset(world)
    counts = []
    for size in (3, len(ids)):
        with transaction.atomic():
            sid = transaction.savepoint()
            with org_scope(world.org), CaptureQueriesContext(connection) as queries:
                conflicts.check_duplicates(world.org.pk, ids[:size], batch_size=2000)
            counts.append(len(queries))
            transaction.savepoint_rollback(sid)
    # The accounts, their candidates, their situations; the ended, the relabelled, the new
    # situations and their participants; the batch's savepoint and its release: at most nine,
    # whatever the number of accounts.
    assert counts[1] <= 9 and counts[0] <= counts[1]
