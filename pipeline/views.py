"""Pages of the process set-up: global stages, local processes and their mapping.

Thin views: forms validate, ``pipeline.services`` writes, selectors and visibility-backed querysets
read. Lists run a constant number of queries whatever their length.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.decorators import admin_required
from crm.forms import apply_validation_error
from crm.http import AuthenticatedHttpRequest
from crm.ids import parse_id
from crm.models import SalesCompany
from crm.selectors import access_sales_company_by_id
from pipeline import selectors, services
from pipeline.forms import (
    GlobalStageForm,
    LocalStageRowFormSet,
    ProcessForm,
)
from pipeline.models import LocalStage, SalesProcess

# --- Set-up: stages and processes (global admin) -----------------------------------------------


@admin_required
def setup_stages(request: AuthenticatedHttpRequest) -> HttpResponse:
    if request.method == "POST":
        services.global_stages_ensure_default(
            organization=request.user.organization, acting_user=request.user
        )
        messages.success(request, _("The default global stages are in place."))
        return redirect("setup:stages")
    stages = selectors.global_stage_list(organization=request.user.organization_id).annotate(
        local_count=Count("local_stages")
    )
    return render(request, "pipeline/setup/stages.html", {"stages": stages})


@admin_required
@require_http_methods(["GET", "POST"])
def setup_stage_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    user = request.user
    stage = selectors.access_global_stage_by_id(user, pk)
    form = GlobalStageForm(
        request.POST or None,
        initial={
            "name": stage.name,
            "probability": stage.probability,
            "forecast_category": stage.forecast_category,
            "suppresses_marketing": stage.suppresses_marketing,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.global_stage_update(stage=stage, acting_user=user, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("%(name)s is saved.") % {"name": saved.name})
            return redirect("setup:stages")
    return render(request, "pipeline/setup/stage_form.html", {"stage": stage, "form": form})


@admin_required
def setup_processes(request: AuthenticatedHttpRequest) -> HttpResponse:
    processes = (
        SalesProcess.objects.visible_to(request.user)
        .select_related("sales_company")
        .prefetch_related(
            Prefetch(
                "stages",
                queryset=LocalStage.objects.visible_to(request.user)
                .select_related("global_stage")
                .order_by("order"),
            )
        )
        .order_by("sales_company__code")
    )
    without = (
        SalesCompany.objects.visible_to(request.user)
        .filter(processes__isnull=True)
        .order_by("code")
    )
    return render(
        request,
        "pipeline/setup/processes.html",
        {"processes": processes, "without_process": without},
    )


@admin_required
@require_http_methods(["GET", "POST"])
def setup_process_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A process for a company without one, pre-filled with one local stage per global stage
    (named and ordered as the global one), which the admin renames, drops or refines."""
    user = request.user
    org_id = user.organization_id
    company = None
    requested = parse_id(request.GET.get("company", ""))
    if requested is not None:
        # Another organization's company is missing here, as everywhere.
        company = access_sales_company_by_id(user, requested)
    global_stages = list(selectors.global_stage_list(organization=org_id))
    form = ProcessForm(
        request.POST or None,
        user=user,
        initial={"sales_company": company.pk, "name": company.name} if company else {},
    )
    rows = LocalStageRowFormSet(
        request.POST or None,
        initial=[
            {"name": gs.name, "order": gs.order, "global_stage": gs.pk} for gs in global_stages
        ],
        form_kwargs={"organization_id": org_id},
        prefix="stages",
    )
    # Both validated (no short-circuit), so one post shows the errors of the process and rows.
    valid = [form.is_valid(), rows.is_valid()] if request.method == "POST" else [False]
    if all(valid):
        stages = [spec for row in rows for spec in [row.stage()] if spec is not None]
        try:
            process = services.sales_process_create(
                sales_company=form.cleaned_data["sales_company"],
                name=form.cleaned_data["name"],
                stages=stages,
                acting_user=user,
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(
                request,
                _("%(company)s has the sales process %(name)s now.")
                % {"company": process.sales_company.name, "name": process.name},
            )
            return redirect("setup:processes")
    return render(
        request,
        "pipeline/setup/process_form.html",
        {"form": form, "rows": rows, "has_global_stages": bool(global_stages)},
    )
