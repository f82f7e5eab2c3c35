"""Set-up pages of outbound webhooks (the global admin's; everyone else gets 404)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from crm.forms import apply_validation_error
from crm.http import AuthenticatedHttpRequest
from webhooks import selectors, services
from webhooks.forms import DeliveryFilterForm, EndpointForm
from webhooks.models import DeliveryStatus

PAGE_SIZE = 25


def webhook_admin(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    # 404, not 403: to anyone but the admin the pages do not exist.
    @wraps(view)
    @login_required
    def wrapped(request: AuthenticatedHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not services.may_manage_webhooks(request.user):
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapped


def _fields(form: EndpointForm) -> dict[str, Any]:
    return {k: form.cleaned_data[k] for k in form.Meta.fields}


@webhook_admin
def webhook_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    endpoints = (
        selectors.endpoint_list(request.user)
        .annotate(
            failed=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)),
            sent=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.SUCCEEDED)),
        )
        .order_by("name", "pk")
    )
    page = Paginator(endpoints, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "webhooks/list.html", {"page": page})


@webhook_admin
@require_http_methods(["GET", "POST"])
def webhook_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = EndpointForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.endpoint_create(acting_user=request.user, **_fields(form))
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            # The secret is shown on this answer only: it is not in a URL, a message or a log.
            return render(
                request, "webhooks/secret.html", {"endpoint": endpoint, "secret": endpoint.secret}
            )
    return render(request, "webhooks/form.html", {"form": form, "endpoint": None})


@webhook_admin
@require_http_methods(["GET", "POST"])
def webhook_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    endpoint = selectors.access_endpoint_by_id(request.user, pk)
    form = EndpointForm(request.POST or None, instance=endpoint, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            services.endpoint_update(endpoint=endpoint, acting_user=request.user, **_fields(form))
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("%(name)s is saved.") % {"name": endpoint.name})
            return redirect("setup:webhooks")
    return render(request, "webhooks/form.html", {"form": form, "endpoint": endpoint})


@webhook_admin
@require_http_methods(["GET", "POST"])
def webhook_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    endpoint = selectors.access_endpoint_by_id(request.user, pk)
    if request.method == "POST":
        services.endpoint_delete(endpoint=endpoint, acting_user=request.user)
        messages.success(request, _("%(name)s is deleted.") % {"name": endpoint.name})
        return redirect("setup:webhooks")
    return render(request, "webhooks/delete.html", {"endpoint": endpoint})


@webhook_admin
@require_POST
def webhook_rotate(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    endpoint = selectors.access_endpoint_by_id(request.user, pk)
    secret = services.endpoint_rotate_secret(endpoint=endpoint, acting_user=request.user)
    return render(
        request, "webhooks/secret.html", {"endpoint": endpoint, "secret": secret, "rotated": True}
    )


@webhook_admin
@require_POST
def webhook_ping(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    endpoint = selectors.access_endpoint_by_id(request.user, pk)
    services.endpoint_ping(endpoint=endpoint, acting_user=request.user)
    messages.success(request, _("A test ping is on its way to %(name)s.") % {"name": endpoint.name})
    return redirect("setup:webhook_deliveries", pk=endpoint.pk)


@webhook_admin
def webhook_deliveries(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    endpoint = selectors.access_endpoint_by_id(request.user, pk)
    filters = DeliveryFilterForm(request.GET or None)
    status = event_type = ""
    if filters.is_valid():
        status = filters.cleaned_data["status"]
        event_type = filters.cleaned_data["event_type"]
    deliveries = selectors.delivery_list(request.user, endpoint, status, event_type)
    page = Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in (("status", status), ("event_type", event_type)) if v})
    return render(
        request,
        "webhooks/deliveries.html",
        {"endpoint": endpoint, "page": page, "filters": filters, "query": query},
    )


@webhook_admin
@require_POST
def webhook_redeliver(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    delivery = selectors.access_delivery_by_id(request.user, pk)
    services.delivery_redeliver(delivery=delivery, acting_user=request.user)
    messages.success(request, _("The event is sent again."))
    return redirect("setup:webhook_deliveries", pk=delivery.endpoint_id)
