"""Import pages: my imports, upload, column and value mapping, the dry run with its rows,
commit, progress (polled by htmx), cancel and the rejected rows. Thin: the services decide."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from crm.http import AuthenticatedHttpRequest
from crm.spreadsheet import export_filename
from imports import selectors, services
from imports.forms import MappingForm, UploadForm
from imports.models import ImportJob, ImportStatus
from imports.parsing import read_table

PAGE_SIZE = 25
ROWS_PAGE_SIZE = 50


def _require_import_right(request: AuthenticatedHttpRequest) -> None:
    if not services.may_import_anything(request.user):
        raise Http404("No such page.")


@login_required
def import_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_import_right(request)
    page = Paginator(selectors.job_list(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "imports/list.html", {"page": page})


@login_required
@require_http_methods(["GET", "POST"])
def import_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_import_right(request)
    form = UploadForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = services.import_job_create(
                user=request.user,
                kind=form.cleaned_data["kind"],
                file_name=upload.name,
                content=upload.read(),
            )
        except ValidationError as exc:
            form.add_error(
                "file" if "file" in getattr(exc, "error_dict", {}) else None, exc.messages
            )
        except PermissionDenied as exc:
            form.add_error("kind", str(exc))
        else:
            return redirect("imports:mapping", pk=job.pk)
    return render(request, "imports/new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def import_mapping(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    job = selectors.access_import_by_id(request.user, pk)
    form = MappingForm(request.POST or None, job=job)
    if request.method == "POST" and form.is_valid():
        try:
            services.import_job_set_mapping(
                job=job,
                user=request.user,
                mapping=form.mapping(),
                value_map=form.value_map(),
                on_match=form.cleaned_data["on_match"],
                save_template=form.cleaned_data["save_template"],
            )
            services.import_request_dry_run(job=job, user=request.user)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            return redirect("imports:detail", pk=job.pk)
    return render(
        request,
        "imports/mapping.html",
        {
            "job": job,
            "form": form,
            "columns": [form[name] for name in form.column_fields],
            "values": [form[name] for name in form.value_fields],
            "samples": _samples(job),
        },
        status=400 if form.errors else 200,
    )


def _samples(job: ImportJob) -> list[str]:
    """The first data row's cells, shown beside each column's select."""
    table = read_table(bytes(job.content), job.file_name, head=1)
    return table.rows[0] if table.rows else []


@login_required
def import_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    job = selectors.access_import_by_id(request.user, pk)
    errors_only = request.GET.get("show") == "errors"
    rows = selectors.job_rows(request.user, job, errors_only=errors_only)
    page = Paginator(rows, ROWS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "imports/detail.html",
        {
            "job": job,
            "page": page,
            "errors_only": errors_only,
            "query": "show=errors" if errors_only else "",
            "progress": services.job_progress(job),
            "is_done": job.status == ImportStatus.DONE,
            "is_failed": job.status == ImportStatus.FAILED,
            "is_queued": job.status == ImportStatus.QUEUED,
            "show_progress": job.status
            in (ImportStatus.RUNNING, ImportStatus.DRY_RUN, ImportStatus.READY, ImportStatus.DONE),
            "may_commit": job.status == ImportStatus.READY,
            "may_cancel": job.status
            not in (ImportStatus.DONE, ImportStatus.CANCELLED, ImportStatus.FAILED),
            "may_remap": job.status
            in (
                ImportStatus.QUEUED,
                ImportStatus.READY,
                ImportStatus.FAILED,
                ImportStatus.CANCELLED,
            ),
        },
    )


@login_required
def import_progress(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    job = selectors.access_import_by_id(request.user, pk)
    progress = services.job_progress(job)
    response = render(request, "imports/_progress.html", {"job": job, "progress": progress})
    if progress["finished"] and request.headers.get("HX-Request"):
        # The page was rendered while it ran: reload it to show the outcome.
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def import_commit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    job = selectors.access_import_by_id(request.user, pk)
    try:
        services.import_request_commit(job=job, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("imports:detail", pk=job.pk)


@login_required
@require_http_methods(["GET", "POST"])
def import_cancel(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    job = selectors.access_import_by_id(request.user, pk)
    if request.method == "POST":
        try:
            services.import_cancel(job=job, user=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("The import is cancelled; nothing of it is written."))
        return redirect("imports:detail", pk=job.pk)
    return render(request, "imports/cancel.html", {"job": job})


@login_required
def import_rejected(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    job = selectors.access_import_by_id(request.user, pk)
    body = selectors.rejected_rows_csv(request.user, job)
    response = HttpResponse("\ufeff" + body, content_type="text/csv; charset=utf-8")
    name = export_filename(
        "rejected", job.file_name.rsplit(".", 1)[0], date=timezone.localdate(), extension="csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
