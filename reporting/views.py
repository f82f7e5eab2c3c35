"""Reporting pages: the dashboard and the report exports. Thin: selectors read, services write."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.decorators import roles_required
from crm.forms import apply_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.ids import parse_id
from crm.models import Region, SalesCompany, User
from crm.money import MissingExchangeRateError
from crm.selectors import access_region_by_id, access_scoped_company_by_id
from leads.selectors import access_campaign_by_id
from leads.services import LEAD_ROLES
from reporting import figures, selectors, services, smarketing
from reporting.forms import TargetForm, target_periods, target_subjects
from reporting.models import ExportFormat, TargetKind


def _require_reports(user: User) -> None:
    if user.role not in services.REPORT_ROLES:
        raise PermissionDenied("Reports are for managers and the global sales director.")


@login_required
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_reports(request.user)
    scope = selectors.dashboard_scope(
        user=request.user,
        region_id=request.GET.get("region"),
        sales_company_id=request.GET.get("company"),
    )
    try:
        shown = figures.show(user=request.user, where=scope, as_of=timezone.localdate())
    except MissingExchangeRateError as exc:
        # Figures without the rate would be wrong: the page says which rate is missing.
        context = {"where": scope, "rate_error": exc.user_message}
        return render(request, "reporting/dashboard_missing_rate.html", context)
    # The drill-down crumbs offer only the levels dashboard_scope would show this user.
    crumbs = {
        "may_see_organization": selectors.may_see_organization_dashboard(request.user),
        "may_see_region": selectors.may_see_region_dashboard(request.user, scope.region_id),
    }
    return render(
        request, "reporting/dashboard.html", {"d": shown.dashboard, "shown": shown, **crumbs}
    )


def _parse_scope(user: User, value: str) -> tuple[Region | None, SalesCompany | None]:
    kind, _, raw = value.partition(":")
    pk = parse_id(raw)
    if kind == "region" and pk is not None:
        return access_region_by_id(user, pk), None
    if kind == "company" and pk is not None:
        return None, access_scoped_company_by_id(user, pk)
    return None, None


@login_required
@require_http_methods(["GET", "POST"])
def export_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    _require_reports(user)
    if request.method == "POST":
        region, company = _parse_scope(user, request.POST.get("scope", ""))
        try:
            export = services.export_request(
                acting_user=user,
                file_format=request.POST.get("format", ExportFormat.XLSX),
                region=region,
                sales_company=company,
            )
        except ValidationError as exc:
            raise PermissionDenied(str(exc)) from exc
        return redirect("reporting:export_detail", uuid=export.uuid)
    return render(
        request,
        "reporting/exports.html",
        {
            "scopes": selectors.export_scopes(user=user),
            "formats": ExportFormat.choices,
            "exports": selectors.recent_exports(user=user),
        },
    )


@login_required
def export_detail(request: AuthenticatedHttpRequest, uuid: UUID) -> HttpResponse:
    export = selectors.access_export_by_uuid(request.user, uuid)
    return render(request, "reporting/export_detail.html", {"export": export})


@login_required
def export_status(request: AuthenticatedHttpRequest, uuid: UUID) -> HttpResponse:
    export = selectors.access_export_by_uuid(request.user, uuid)
    return render(request, "reporting/_export_status.html", {"export": export})


@login_required
def export_download(request: AuthenticatedHttpRequest, uuid: UUID) -> FileResponse:
    export = selectors.access_export_by_uuid(request.user, uuid)
    if not services.export_is_downloadable(export):
        raise Http404("This export is not available (expired, failed or not ready).")
    path = Path(settings.MEDIA_ROOT) / export.file_path
    name = services.export_download_name(export)
    return FileResponse(path.open("rb"), as_attachment=True, filename=name)


# --- Targets -------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def targets(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Targets of this fiscal year and the next, and the form that sets one (``?edit=<id>``
    fills it with that target). For those who set targets (``services.may_set_target``): the
    director and admin everywhere, managers in their scope; a rep or marketing gets 403."""
    user = request.user
    if not services.may_set_target(user):
        raise PermissionDenied(_("Targets are set by managers and the global sales director."))
    today = timezone.localdate()
    subjects = target_subjects(user)
    initial: dict[str, object] = {}
    if request.method == "GET" and request.GET.get("edit"):
        editing = selectors.access_target_by_id(user, request.GET["edit"])
        who = (
            f"company:{editing.sales_company_id}"
            if editing.sales_company_id
            else f"user:{editing.user_id}"
        )
        initial = {
            "who": who,
            "period": f"{editing.period_kind}:{editing.period_start.isoformat()}",
            "kind": editing.kind,
            "value": editing.value,
        }
    form = TargetForm(
        request.POST or None, user=user, today=today, subjects=subjects, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        try:
            target = services.target_set(
                organization=user.organization, acting_user=user, **form.target_fields()
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("Target saved."))
            return redirect(f"{reverse('reporting:targets')}#target-{target.pk}")
    periods = target_periods(user, today)
    rows = list(selectors.target_list(user=user, period_starts=[p.start for p in periods]))
    labels = {(p.kind, p.start): p.label for p in periods}
    return render(
        request,
        "reporting/targets.html",
        {
            "form": form,
            "rows": [(t, labels.get((t.period_kind, t.period_start), "")) for t in rows],
            "corporate_currency": user.organization.corporate_currency,
            "money_kinds": {
                TargetKind.REVENUE,
                TargetKind.PIPELINE_GENERATED,
                TargetKind.OVERLAY,
            },
        },
        status=400 if form.errors else 200,
    )


# --- Campaign figures ----------------------------------------------------------------------------


@roles_required(LEAD_ROLES)
def campaign_figures(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A campaign's own smarketing figures, loaded into its page (htmx) or shown alone: its leads
    and the deals they became, of what the viewer may see (reporting.smarketing)."""
    campaign = access_campaign_by_id(request.user, pk)
    try:
        c = smarketing.campaign_figures(
            user=request.user, campaign_id=campaign.pk, as_of=timezone.localdate()
        )
    except MissingExchangeRateError as exc:
        c, rate_error = None, exc.user_message
    else:
        rate_error = ""
    context = {
        "campaign": campaign,
        "c": c,
        "rate_error": rate_error,
        "currency": request.user.organization.corporate_currency,
    }
    if getattr(request, "htmx", False):
        return render(request, "reporting/_campaign_figures.html", context)
    return render(request, "reporting/campaign_figures.html", context)
