"""Domain events: the one function services call when something other systems may want to hear
about happened (``emit``). The kernel names no app above it, so ``emit`` only announces; the
``webhooks`` app (above every domain app) listens and records deliveries.

The announcement waits for the commit: a rolled-back change is never announced, and the
listener's queries never run inside the conflict check or any other write's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.dispatch import Signal

# Sent after commit with organization_id, event_type, obj and extra.
domain_event = Signal()


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


def stage_event(stage: Any) -> str:
    """The event of a move into ``stage`` (a GlobalStage): won, lost, or a plain stage change."""
    if stage.is_won:
        return "opportunity.won"
    return "opportunity.lost" if stage.is_lost else "opportunity.stage_changed"
