"""Queueing a Celery task by name.

A service queues the task that will run it; the task module imports the service. Naming the task
instead of importing it keeps that one-way (no import circle): the service publishes work, the
task layer picks it up. Eager mode (tests) runs it in-process all the same, because the name
resolves to the registered task.
"""

from __future__ import annotations

from typing import Any

from celery import current_app


def enqueue(task: str, *args: Any) -> None:
    """Queue ``task`` (its full name, ``"<app>.tasks.<function>"``) with ``args``."""
    current_app.signature(task, args=args).delay()
