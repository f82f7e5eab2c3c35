"""Reads of the imports app: a user's jobs, a job's dry-run rows, the rejected rows' file."""

from __future__ import annotations

import csv
import io

from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from crm.ids import parse_id
from crm.models import User
from crm.spreadsheet import csv_text
from imports.models import ImportJob, ImportRow, RowAction
from imports.parsing import read_table


def job_list(user: User) -> QuerySet[ImportJob]:
    return (
        ImportJob.objects.visible_to(user)
        .defer("content", "headers", "mapping", "value_map", "unknown_values")
        .order_by("-created_at", "-pk")
    )


def access_import_by_id(user: User, pk: object) -> ImportJob:
    """The user's own job; missing, another user's and another organization's alike: 404."""
    job_id = parse_id(pk)
    job = ImportJob.objects.visible_to(user).filter(pk=job_id).first() if job_id else None
    if job is None:
        raise Http404("No such import.")
    return job


def job_rows(user: User, job: ImportJob, *, errors_only: bool = False) -> QuerySet[ImportRow]:
    rows = ImportRow.objects.visible_to(user).filter(job=job)
    if errors_only:
        rows = rows.filter(action=RowAction.ERROR)
    return rows.order_by("row_number")


def rejected_rows_csv(user: User, job: ImportJob) -> str:
    """The rejected rows as they were in the file, plus their row number and errors; every
    cell escaped (a file's "=..." must not run in the reader's spreadsheet)."""
    errors = {
        r.row_number: r.errors
        for r in job_rows(user, job, errors_only=True).only("row_number", "errors")
    }
    table = read_table(bytes(job.content), job.file_name)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_text(h) for h in [*table.headers, _("Row"), _("Errors")]])
    for number, row in zip(table.numbers, table.rows, strict=True):
        if number not in errors:
            continue
        text = "; ".join(
            f"{e['column']}: {e['message']}" if e.get("column") else e["message"]
            for e in errors[number]
        )
        writer.writerow([csv_text(c) for c in [*row, number, text]])
    return out.getvalue()
