"""The demo snapshot (tests/demo_snapshot.py) puts back exactly what ``seed_demo`` made: every
table's rows, the sequences, the per-process cache and the seeding's mails, after a flush like
the one pytest-django runs between live-server tests."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.core import mail
from django.core.cache import caches
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from psycopg import sql

from crm.models import Organization
from opportunities.models import Opportunity
from tests import demo_snapshot
from tests.conftest import World


def _database_state() -> dict[str, tuple[int, str]]:
    """Each table's row count and a checksum of its rows (in their text order), and each
    sequence's position."""
    state = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace "
            "AND relkind = 'r' ORDER BY relname"
        )
        for (table,) in cursor.fetchall():
            cursor.execute(
                sql.SQL(
                    "SELECT count(*), "
                    "md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {} AS t"
                )
                .format(sql.Identifier(table))
                .as_string()
            )
            state[table] = cursor.fetchone()
        cursor.execute(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = current_schema()"
        )
        state.update({f"sequence {name}": (value, "") for name, value in cursor.fetchall()})
    return state


def _cache_entries() -> dict[str, bytes]:
    # The per-process cache's keys and pickled values (LocMemCache lists them nowhere public).
    return dict(caches["default"]._cache)


@pytest.mark.django_db(transaction=True)
def test_restoring_the_snapshot_gives_the_freshly_seeded_database() -> None:
    mail.outbox.clear()
    call_command("seed_demo", stdout=StringIO())
    seeded, seeded_cache, seeded_mails = _database_state(), _cache_entries(), len(mail.outbox)
    snapshot = demo_snapshot.take(mails=tuple(mail.outbox))
    assert seeded["crm_organization"][0] == 2 and seeded["opportunities_opportunity"][0] > 20
    assert seeded_cache, "seeding marks its conflicts as mailed in the cache"

    call_command("flush", interactive=False, verbosity=0, reset_sequences=False)
    caches["default"].clear()
    mail.outbox.clear()
    flushed = _database_state()
    assert flushed["opportunities_opportunity"][0] == 0
    # The flush's post-migrate hooks made the content types again, under new ids.
    assert flushed["django_content_type"][0] == seeded["django_content_type"][0]
    assert flushed["django_content_type"][1] != seeded["django_content_type"][1]

    demo_snapshot.restore(snapshot)

    restored = _database_state()
    assert {t: v for t, v in restored.items() if v != seeded[t]} == {}
    assert restored == seeded
    assert _cache_entries() == seeded_cache
    assert len(mail.outbox) == seeded_mails


@pytest.mark.django_db(transaction=True)
def test_triggers_fire_again_after_a_restore() -> None:
    call_command("seed_demo", stdout=StringIO())
    snapshot = demo_snapshot.take()
    call_command("flush", interactive=False, verbosity=0, reset_sequences=False)
    demo_snapshot.restore(snapshot)

    with connection.cursor() as cursor:
        cursor.execute("SHOW session_replication_role")
        assert cursor.fetchone() == ("origin",)
    # The audit trigger and the composite foreign keys' checks are on again.
    deal = Opportunity.objects.unscoped().order_by("pk").first()
    assert deal is not None
    events = apps.get_model("opportunities", "OpportunityEvent").objects.unscoped()
    before = events.filter(pgh_obj_id=deal.pk).count()
    Opportunity.objects.unscoped().filter(pk=deal.pk).update(name="Renamed after the restore")
    assert events.filter(pgh_obj_id=deal.pk).count() == before + 1
    other_org = Organization.objects.exclude(pk=deal.organization_id).get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Opportunity.objects.unscoped().filter(pk=deal.pk).update(organization_id=other_org.pk)


def test_load_demo_refuses_a_database_that_holds_more(world: World) -> None:
    with pytest.raises(RuntimeError, match="empty database"):
        demo_snapshot.load_demo()
