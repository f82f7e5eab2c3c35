"""accounts 0006 gives existing activities the time they happened: when done, an open task at
its due time, else when it was entered."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import Activity
from tests.accounts.factories import make_account
from tests.conftest import World

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("accounts", "0005_group_join_request")]


def _migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _leaves() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _activity(cursor: Any, w: World, account_id: int, subject: str, kind: str, **at: Any) -> None:
    cursor.execute(
        "INSERT INTO accounts_activity (organization_id, kind, subject, notes, owner_id, "
        "sales_company_id, account_id, created_at, due_at, done_at) "
        "VALUES (%s, %s, %s, '', %s, %s, %s, %s, %s, %s)",
        [
            w.org.pk, kind, subject, w.rep_se.pk, w.se.pk, account_id,
            at["created"], at.get("due"), at.get("done"),
        ],
    )  # fmt: skip


def test_existing_activities_get_when_they_happened(world: World) -> None:
    account = make_account(organization=world.org, home_company=world.se)
    entered = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    done = dt.datetime(2026, 3, 5, 15, 0, tzinfo=dt.UTC)
    due = dt.datetime(2026, 4, 1, 12, 0, tzinfo=dt.UTC)
    _migrate(BEFORE)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('app.org_id', %s, false)", [str(world.org.pk)])
            _activity(cursor, world, account.pk, "done call", "call", created=entered, done=done)
            _activity(cursor, world, account.pk, "open task", "task", created=entered, due=due)
            _activity(cursor, world, account.pk, "plain call", "call", created=entered, due=due)
    finally:
        _migrate(_leaves())
        emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    happened = dict(Activity.objects.for_org(world.org).values_list("subject", "happened_at"))
    assert happened == {"done call": done, "open task": due, "plain call": entered}
