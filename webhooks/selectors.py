"""Reads of webhooks, for the global admin only: anyone else (and another organization) finds
nothing, so pages and API answer 404."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from crm.models import User
from crm.registry import access_by_id
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import may_manage_webhooks


def endpoint_list(user: User) -> QuerySet[WebhookEndpoint]:
    if not may_manage_webhooks(user):
        return WebhookEndpoint.objects.for_org(user.organization_id).none()
    return WebhookEndpoint.objects.for_org(user.organization_id).select_related(
        "region", "sales_company"
    )


def access_endpoint_by_id(user: User, pk: object) -> WebhookEndpoint:
    return access_by_id(endpoint_list(user), pk)


def delivery_list(
    user: User, endpoint: WebhookEndpoint, status: str = "", event_type: str = ""
) -> QuerySet[WebhookDelivery]:
    if not may_manage_webhooks(user) or endpoint.organization_id != user.organization_id:
        raise Http404("No webhook matches the given query.")
    qs = WebhookDelivery.objects.for_org(user.organization_id).filter(endpoint=endpoint)
    if status:
        qs = qs.filter(status=status)
    if event_type:
        qs = qs.filter(event_type=event_type)
    return qs.defer("payload")


def access_delivery_by_id(user: User, pk: object) -> WebhookDelivery:
    if not may_manage_webhooks(user):
        raise Http404("No delivery matches the given query.")
    return access_by_id(
        WebhookDelivery.objects.for_org(user.organization_id).select_related("endpoint"), pk
    )
