"""The segments report page (``/reports/segments/``) and its file: customer value per segment
and country, for the accounts the user sees within the scope asked for (as the dashboards
pick it). Thin: ``reporting.customer_value`` reads."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.value import may_see_customer_value
from crm.http import AuthenticatedHttpRequest
from crm.models import User
from crm.spreadsheet import export_filename
from reporting import customer_value, selectors
from reporting.exports import file_extension, write_report
from reporting.models import ExportFormat


def require_segments(user: User) -> None:
    if not may_see_customer_value(user):
        raise PermissionDenied("Customer value is the sellers' and their managers'.")


def _scope(request: AuthenticatedHttpRequest) -> selectors.DashboardScope:
    return selectors.dashboard_scope(
        user=request.user,
        region_id=request.GET.get("region"),
        sales_company_id=request.GET.get("company"),
    )


@login_required
@require_GET
def segments(request: AuthenticatedHttpRequest) -> HttpResponse | FileResponse:
    user = request.user
    require_segments(user)
    where = _scope(request)
    file_format = request.GET.get("format")
    if file_format in ExportFormat.values:
        return _download(user, where, file_format)
    report = customer_value.segment_report(user=user, scope=where.scope)
    params = request.GET.copy()
    params.pop("format", None)
    return render(
        request,
        "reporting/segments.html",
        {
            "report": report,
            "where": where,
            "currency": user.organization.corporate_currency,
            "query": params.urlencode(),
        },
    )


def _download(user: User, where: selectors.DashboardScope, file_format: str) -> FileResponse:
    """The page's table as XLSX or a CSV zip, through the report writers (formula cells
    escaped, number formats, totals). A few hundred rows at most: written in the request."""
    today = timezone.localdate()
    section = customer_value.segments_section(user, where.scope, today)
    extension = file_extension(file_format)
    handle = tempfile.NamedTemporaryFile(suffix=f".{extension}")  # noqa: SIM115 (the response closes it)
    write_report(path=Path(handle.name), file_format=file_format, sections=[section])
    handle.seek(0)
    name = export_filename("segments", where.name, date=today, extension=extension)
    return FileResponse(handle, as_attachment=True, filename=name)
