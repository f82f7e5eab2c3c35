"""Celery tasks of imports: ids in (the organization explicit), one service call."""

from __future__ import annotations

from celery import shared_task

from imports import services


@shared_task(name="imports.tasks.run_import", acks_late=True)
def run_import(job_id: int, organization_id: int, commit: bool) -> str:
    # Idempotent: a redelivered message finds the job no longer waiting and does nothing.
    return services.import_run(job_id=job_id, organization_id=organization_id, commit=commit)
