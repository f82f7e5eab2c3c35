"""Audit history: trigger-based (django-pghistory), so bulk updates and raw SQL are recorded
too. Every request runs in a history context carrying the acting user and a request id."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pghistory
from django.db import connection, models
from django.db.models import Model
from django.http import HttpRequest, HttpResponse

from crm.tenancy import TenantManager

M = TypeVar("M", bound=Model)


def audit_events() -> tuple[pghistory.Tracker, ...]:
    """Inserts, updates and deletes (lines, splits and team rows are replaced or removed, so
    deletes matter). New instances per model: a tracker is bound to the model it tracks."""
    return (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())


def audited(*trackers: pghistory.Tracker, **options: Any) -> Callable[[type[M]], type[M]]:
    """``pghistory.track`` for a tenant model: inserts, updates and deletes by default, and the
    event table gets the same fail-closed, org-scoped manager as every tenant table."""
    attrs = {"objects": TenantManager(), **options.pop("attrs", {})}
    # A record's history is read by organization and record, newest last.
    meta = {"indexes": [models.Index(fields=["organization", "pgh_obj", "pgh_id"])]}
    track: Callable[[type[M]], type[M]] = pghistory.track(
        *(trackers or audit_events()), attrs=attrs, meta=meta, **options
    )
    return track


# What a client may send as its own correlation id: a plain token, nothing that could smuggle
# markup or separators into logs and headers.
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def quiet_trigger_checks() -> None:
    """Let a long transaction's history triggers run without a subtransaction abort per row.

    Every pgtrigger trigger (so every pghistory one) first asks ``_pgtrigger_should_ignore()``,
    which reads ``CURRENT_SETTING('pgtrigger.ignore')`` inside a PL/pgSQL ``BEGIN … EXCEPTION``
    block. Unset (or the empty string pgtrigger leaves after ``pgtrigger.ignore()``) it raises,
    so each inserted row aborts a subtransaction, and PostgreSQL's ``AfterTriggerEndSubXact``
    then walks the transaction's whole queue of deferred trigger events (our foreign keys are
    ``DEFERRABLE INITIALLY DEFERRED``: several queued checks per inserted row) to un-mark them.
    The cost per row grows with the rows written so far: the 20,000-row import spent 3-5 s in
    the history trigger per 1,000-row INSERT late in its one transaction. With the setting an
    empty array (ignore no trigger), the read succeeds, the block's subtransaction is released,
    not aborted, and the walk never happens. Local to the transaction (``is_local``). A
    ``pgtrigger.ignore()`` inside still works (it sets its own list per statement), but leaves
    the setting empty after it, so call this again after one.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('pgtrigger.ignore', '{}', true)")


class RequestIdMiddleware:
    """Tags the request (and its audit events) with a request id generated here, always: the
    audit trail must not carry ids a client chose (one could make its changes look like another
    request's). The caller's X-Request-ID, when it is a sane token, is kept beside it as the
    separate, marked ``client_request_id`` and echoed in X-Client-Request-ID; the server's id is
    echoed in X-Request-ID."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = uuid.uuid4().hex
        given = request.headers.get("X-Request-ID", "")
        client_id = given if _CLIENT_REQUEST_ID.fullmatch(given) else ""
        request.request_id = request_id  # type: ignore[attr-defined]
        request.client_request_id = client_id  # type: ignore[attr-defined]
        context: dict[str, str] = {"request_id": request_id}
        if client_id:
            context["client_request_id"] = client_id
        with pghistory.context(**context):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        if client_id:
            response["X-Client-Request-ID"] = client_id
        return response


@dataclass(frozen=True)
class HistoryEntry:
    """One change of a record or of one of its parts, as the History tab and API show it."""

    at: dt.datetime
    kind: str  # the changed model, e.g. "opportunity", "opportunity line"
    object_id: int
    label: str  # insert / update / delete
    user_id: int | None
    request_id: str  # the server's, always
    changes: dict[str, tuple[Any, Any]]  # field -> (before, after); all fields for an insert
    snapshot: dict[str, Any] = field(default_factory=dict)
    client_request_id: str = ""  # what the client sent as X-Request-ID: its claim, unverified
    # The tracked model (its fields' labels, choices and relations, for a readable History).
    model: type[Model] | None = None


# Which event tables make up a record's history, and how each points at the record.
# Per record with a History page: the event tables that make up its trail, each with the column
# that points at the record. Registered by the apps (``register_history``), so the kernel names
# no model above it.
_HISTORY_SOURCES: dict[str, list[tuple[type[Model], str]]] = {}


def register_history(record: type[Model], *sources: tuple[type[Model], str]) -> None:
    """The history of ``record`` is read from ``sources``: (event model, pointer column).
    Adds to what is registered: an app above the record's may add its own events (a marketing
    pause is part of the account's History)."""
    registered = _HISTORY_SOURCES.setdefault(record._meta.label, [])
    registered.extend(s for s in sources if s not in registered)


_META_FIELDS = {"pgh_id", "pgh_created_at", "pgh_label", "pgh_obj", "pgh_context", "organization"}


def history_for(*, user: Any, obj: Model, limit: int = 200) -> list[HistoryEntry]:
    """The audit trail of ``obj`` (already fetched through the visibility policy), oldest
    first: one query per event table, each narrowed by the same policy."""
    entries: list[HistoryEntry] = []
    for model, pointer in _HISTORY_SOURCES[obj._meta.label]:
        fields = [f for f in model._meta.concrete_fields if f.name not in _META_FIELDS]
        rows = (
            # Event models are made by pghistory at run time, with audited()'s TenantManager.
            model.objects.visible_to(user)  # type: ignore[attr-defined]
            .filter(**{pointer: obj.pk})
            .select_related("pgh_context")
            .order_by("pgh_obj_id", "pgh_id")[:limit]
        )
        previous: dict[int, dict[str, Any]] = {}
        kind = str(model._meta.verbose_name).removesuffix(" event")
        for row in rows:
            snapshot = {f.attname: getattr(row, f.attname) for f in fields}
            before = previous.get(row.pgh_obj_id, {})
            changes = {k: (before.get(k), v) for k, v in snapshot.items() if before.get(k) != v}
            previous[row.pgh_obj_id] = snapshot
            metadata = row.pgh_context.metadata if row.pgh_context_id else {}
            entries.append(
                HistoryEntry(
                    at=row.pgh_created_at,
                    kind=kind,
                    object_id=row.pgh_obj_id,
                    label=row.pgh_label,
                    user_id=metadata.get("user"),
                    request_id=metadata.get("request_id", ""),
                    client_request_id=metadata.get("client_request_id", ""),
                    changes={} if row.pgh_label == "delete" else changes,
                    snapshot=snapshot,
                    model=getattr(model, "pgh_tracked_model", None),
                )
            )
    return sorted(entries, key=lambda e: e.at)
