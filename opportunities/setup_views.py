"""Set-up page that re-maps a local stage onto another global stage, with the deals in it
(in the ``setup:`` namespace; above the sales process because the deals move too).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.decorators import admin_required
from crm.forms import apply_validation_error
from crm.http import AuthenticatedHttpRequest
from opportunities.forms import PriceBookForm, RemapForm
from opportunities.models import Opportunity, Product, ProductPrice
from opportunities.services import local_stage_remap, product_price_set
from pipeline.selectors import access_local_stage_by_id


@admin_required
@require_http_methods(["GET", "POST"])
def setup_stage_remap(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Two steps: choose the global stage, then confirm seeing how many deals move with it."""
    user = request.user
    stage = access_local_stage_by_id(user, pk)
    form = RemapForm(
        request.POST or None,
        organization_id=user.organization_id,
        initial={"global_stage": stage.global_stage_id},
    )
    affected = Opportunity.objects.for_org(user.organization_id).filter(local_stage=stage)
    context: dict[str, Any] = {"stage": stage, "form": form, "confirming": False}
    if request.method == "POST" and form.is_valid():
        target = form.cleaned_data["global_stage"]
        if target.pk == stage.global_stage_id:
            form.add_error("global_stage", _("The stage is mapped there already."))
        elif not form.cleaned_data["confirmed"]:
            context.update(confirming=True, target=target, affected=affected.count())
        else:
            try:
                moved = local_stage_remap(local_stage=stage, global_stage=target, acting_user=user)
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(
                    request,
                    _("%(stage)s now maps to %(target)s; %(n)s opportunities moved with it.")
                    % {"stage": stage.name, "target": target.name, "n": moved},
                )
                return redirect("setup:processes")
    return render(request, "opportunities/setup/remap.html", context)


@admin_required
@require_http_methods(["GET", "POST"])
def setup_price_book(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The catalog with each product's price book: its own price per currency where a company
    sells it in another currency than the list price's (else the list price is converted at the
    deal date's rate, and the line says so)."""
    user = request.user
    org_id = user.organization_id
    form = PriceBookForm(request.POST or None, organization_id=org_id)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            row = product_price_set(
                product=data["product"],
                currency=data["currency"],
                price=data["price"],
                acting_user=user,
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(
                request,
                _("The price book entry is saved.")
                if row
                else _("The price book entry is removed."),
            )
            return redirect("setup:price_book")
    products = (
        Product.objects.for_org(org_id)
        .prefetch_related(
            Prefetch("prices", queryset=ProductPrice.objects.for_org(org_id).order_by("currency"))
        )
        .order_by("name")
    )
    return render(
        request,
        "opportunities/setup/price_book.html",
        {"form": form, "products": products},
        status=400 if form.errors else 200,
    )
