"""Running an import the way the pages do: upload, map, dry run, commit (tasks run eagerly
inside ``django_capture_on_commit_callbacks``, as after a request's commit)."""

from __future__ import annotations

from typing import Any

from crm.models import User
from imports import services
from imports.models import ImportJob


def upload(user: User, kind: str, text: str | bytes, name: str = "file.csv") -> ImportJob:
    data = text.encode() if isinstance(text, str) else text
    return services.import_job_create(user=user, kind=kind, file_name=name, content=data)


def dry_run(capture: Any, job: ImportJob, user: User, **mapping_options: Any) -> ImportJob:
    if mapping_options:
        services.import_job_set_mapping(
            job=job, user=user, mapping=mapping_options.pop("mapping", job.mapping),
            **mapping_options,
        )  # fmt: skip
    with capture(execute=True):
        services.import_request_dry_run(job=job, user=user)
    job.refresh_from_db()
    return job


def commit(capture: Any, job: ImportJob, user: User) -> ImportJob:
    with capture(execute=True):
        services.import_request_commit(job=job, user=user)
    job.refresh_from_db()
    return job


def verdicts(job: ImportJob) -> dict[int, tuple[str, list[dict[str, str]], str]]:
    return {
        r.row_number: (r.action, r.errors, r.message)
        for r in job.rows.model.objects.for_org(job.organization_id).filter(job=job)
    }
