"""Domain events: the one function services call when something other systems may want to hear
about happened (``emit``). The kernel names no app above it, so ``emit`` only announces; the
``webhooks`` app (above every domain app) listens and records deliveries.

The announcement waits for the commit: a rolled-back change is never announced, and the
listener's queries never run inside the conflict check or any other write's transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.db import transaction
from django.dispatch import Signal

from crm.scope import org_scope

# Sent after commit with organization_id, event_type, obj and extra.
domain_event = Signal()
# The same for many objects of one model and one event (``emit_many``): organization_id,
# event_type, objs (a sequence in id order, read on first use) and extra.
domain_events = Signal()

# Objects loaded (and announced together) per batch by ``emit_many``.
EMIT_BATCH = 1000


def emit(
    organization_id: int, event_type: str, obj: Any, extra: Mapping[str, Any] | None = None
) -> None:
    """Announce ``event_type`` about ``obj`` once the current transaction commits."""
    data = dict(extra or {})

    def send() -> None:
        domain_event.send(
            sender=type(obj),
            organization_id=organization_id,
            event_type=event_type,
            obj=obj,
            extra=data,
        )

    # Robust: a listener's failure is logged, it never fails the change it reports.
    transaction.on_commit(send, robust=True)


def emit_many(
    organization_id: int,
    event_type: str,
    model: Any,
    ids: Sequence[int],
    extra: Mapping[str, Any] | None = None,
    *,
    related: Sequence[str] = (),
) -> None:
    """``emit`` for many rows of ``model`` at once (an import's chunk of new deals): one
    callback waits for the commit holding only the ids; it reads the objects then, a batch at a
    time, as committed, and announces each batch in one ``domain_events`` (listeners read what
    they need once per batch, not once per object). Per object the listener sees the same as
    after ``emit``: the object and ``extra``; ``related`` is read with it (``select_related``)."""
    pks, joined = list(ids), list(related)
    if not pks:
        return
    data = dict(extra or {})

    def send() -> None:
        with org_scope(organization_id):
            for start in range(0, len(pks), EMIT_BATCH):
                query = (
                    model.objects.for_org(organization_id)
                    .filter(pk__in=pks[start : start + EMIT_BATCH])
                    .select_related(*joined)
                    .order_by("pk")
                )
                domain_events.send(
                    sender=model,
                    organization_id=organization_id,
                    event_type=event_type,
                    objs=_Batch(query),
                    extra=data,
                )

    transaction.on_commit(send, robust=True)


class _Batch(Sequence[Any]):
    """One batch of ``emit_many``'s objects, read from the database when a listener first
    looks at them (then kept for the other listeners). A listener with nothing to do asks for
    none: the webhooks read their endpoints first, and with no endpoint listening an import's
    commit read its 20,000 new deals back for nothing (5 s of its CPU). Otherwise a list."""

    def __init__(self, query: Any) -> None:
        self._query: Any = query
        self._objs: list[Any] | None = None

    def _loaded(self) -> list[Any]:
        if self._objs is None:
            self._objs = list(self._query)
        return self._objs

    def __len__(self) -> int:
        return len(self._loaded())

    def __getitem__(self, index: Any) -> Any:
        return self._loaded()[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._loaded())


def stage_event(stage: Any) -> str:
    """The event of a move into ``stage`` (a GlobalStage): won, lost, or a plain stage change."""
    if stage.is_won:
        return "opportunity.won"
    return "opportunity.lost" if stage.is_lost else "opportunity.stage_changed"
