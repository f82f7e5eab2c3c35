"""Deviation alert pages: the list (filters, sort, pages, acknowledge with confirmation) and
the organization's thresholds. Thin: selectors read, ``reporting.deviations`` writes.

Who sees alerts: the director and admin all, a regional manager his region's companies, a
country manager his company (the policy); sellers and marketing have no such page (404, like
an alert of another organization)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.http import AuthenticatedHttpRequest
from crm.roles import MANAGER_ROLES, ORG_WIDE_ROLES
from reporting import deviation_selectors as selectors
from reporting import deviations
from reporting.deviation_forms import SORTS, AlertFilterForm, ThresholdsForm

PAGE_SIZE = 25


def _require_alert_reader(request: AuthenticatedHttpRequest) -> None:
    if request.user.role not in ORG_WIDE_ROLES | MANAGER_ROLES:
        raise Http404("No alerts for this role.")


@login_required
@require_http_methods(["GET"])
def alert_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require_alert_reader(request)
    user = request.user
    form = AlertFilterForm(request.GET or None, user=user)
    qs = selectors.visible_alerts(user)
    sort = "newest"
    if form.is_valid():
        data = form.cleaned_data
        if data["company"] is not None:
            qs = qs.filter(sales_company=data["company"])
        if data["measure"]:
            qs = qs.filter(measure=data["measure"])
        if data["status"]:
            qs = qs.filter(status=data["status"])
        sort = data["sort"] or sort
    page = Paginator(qs.order_by(*SORTS[sort]), PAGE_SIZE).get_page(request.GET.get("page"))
    deviations.alert_measures_for_rows(page.object_list)
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "reporting/alerts.html",
        {
            "form": form,
            "page": page,
            "query": params.urlencode(),
            "may_configure": deviations.may_configure_deviations(user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def alert_acknowledge(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation, POST acknowledges (the list's next step)."""
    _require_alert_reader(request)
    alert = selectors.access_alert_by_id(request.user, pk)
    query = request.POST.get("query", request.GET.get("query", ""))
    if request.method == "POST":
        deviations.deviation_alert_acknowledge(alert=alert, acting_user=request.user)
        messages.success(request, _("Alert acknowledged."))
        target = redirect("reporting:alerts")
        if query:
            target["Location"] += "?" + query
        return target
    deviations.alert_measures_for_rows([alert])
    return render(request, "reporting/alert_confirm.html", {"alert": alert, "query": query})


@login_required
@require_http_methods(["GET", "POST"])
def deviation_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The organization's thresholds per measure: the director's and the admin's."""
    user = request.user
    if not deviations.may_configure_deviations(user):
        raise Http404("Alert settings are global sales management's.")
    rules = deviations.rules_for(user.organization_id)
    form = ThresholdsForm(request.POST or None, rules=rules)
    if request.method == "POST" and form.is_valid():
        deviations.deviation_thresholds_set(organization=user.organization, rules=form.rules())
        messages.success(request, _("Alert settings saved."))
        return redirect("setup:deviation_alerts")
    status = 400 if request.method == "POST" else 200
    return render(request, "reporting/deviation_settings.html", {"form": form}, status=status)
