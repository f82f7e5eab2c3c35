"""Queueing a Celery task by name.

A service queues the task that will run it; the task module imports the service. Naming the task
instead of importing it keeps that one-way (no import circle): the service publishes work, the
task layer picks it up. The task's module is imported on first use (in a web process nothing
else may have loaded it), so the name resolves to the registered task and eager mode (tests,
development without Redis) runs it in-process like an imported one.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from celery import current_app


def enqueue(task: str, *args: Any) -> None:
    """Queue ``task`` (its full name, ``"<app>.tasks.<function>"``) with ``args``."""
    if task not in current_app.tasks:
        import_module(task.rpartition(".")[0])  # registers the module's tasks
    current_app.tasks[task].delay(*args)
