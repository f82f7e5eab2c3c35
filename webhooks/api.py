"""API v1 of webhooks, for the global admin only: everyone else, and any other organization's
endpoint, answers 404."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.viewsets import GenericViewSet

from crm.drf import MeridianPagination, OrgScopedAPIMixin
from crm.http import AuthenticatedRequest
from crm.models import Region, SalesCompany
from webhooks import selectors, services
from webhooks.models import (
    SUBSCRIBABLE,
    DeliveryStatus,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
)


class _OrgRelated(serializers.PrimaryKeyRelatedField):
    """A region or company of the requesting user's organization (another's: "does not exist")."""

    def get_queryset(self) -> Any:
        queryset: Any = getattr(self, "queryset")  # noqa: B009 (the stubs type it as a manager)
        return queryset.model.objects.for_org(self.context["request"].user.organization_id)


class EndpointSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE), allow_empty=False
    )
    region = _OrgRelated(queryset=Region.objects.none(), required=False, allow_null=True)
    sales_company = _OrgRelated(
        queryset=SalesCompany.objects.none(), required=False, allow_null=True
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id", "name", "url", "event_types", "scope", "region", "sales_company", "is_active",
            "consecutive_failures", "disabled_at", "disabled_reason", "created_at",
        ]  # fmt: skip
        read_only_fields = ["consecutive_failures", "disabled_at", "disabled_reason", "created_at"]


class CreatedEndpointSerializer(EndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown this once.")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "endpoint", "event_id", "delivery_id", "event_type", "status", "attempts",
            "response_code", "response_excerpt", "error", "duration_ms", "next_attempt_at",
            "created_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class _AdminOnly(OrgScopedAPIMixin, GenericViewSet):
    request: AuthenticatedRequest
    pagination_class = MeridianPagination

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        method = (request.method or "").lower()
        # A method the endpoint lacks stays 405 for everyone (it says nothing about rows).
        handled = method in self.http_method_names and hasattr(self, method)
        if handled and not services.may_manage_webhooks(request.user):  # type: ignore[arg-type]
            raise Http404("Not found.")


class WebhookViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    _AdminOnly,
):
    """The organization's webhook endpoints. ``POST`` answers the secret once;
    ``/rotate-secret/`` makes a new one; ``/ping/`` sends a test event; ``/deliveries/`` is the
    log (``?status=``, ``?event_type=``)."""

    model = WebhookEndpoint
    serializer_class = EndpointSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return WebhookEndpoint.objects.none()
        return selectors.endpoint_list(self.request.user).order_by("name", "pk")

    def get_object(self) -> WebhookEndpoint:
        return selectors.access_endpoint_by_id(self.request.user, self.kwargs["pk"])

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(
            acting_user=self.request.user, **dict(serializer.validated_data)
        )
        return Response(
            CreatedEndpointSerializer(endpoint, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.endpoint_update(
            endpoint=serializer.instance,
            acting_user=self.request.user,
            **dict(serializer.validated_data),
        )

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        services.endpoint_delete(endpoint=instance, acting_user=self.request.user)

    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        secret = services.endpoint_rotate_secret(
            endpoint=self.get_object(), acting_user=self.request.user
        )
        return Response({"secret": secret})

    @action(detail=True, methods=["post"])
    def ping(self, request: Request, pk: str | None = None) -> Response:
        delivery = services.endpoint_ping(endpoint=self.get_object(), acting_user=self.request.user)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["get"], serializer_class=DeliverySerializer)
    def deliveries(self, request: Request, pk: str | None = None) -> Response:
        status_filter = request.query_params.get("status", "")
        event_filter = request.query_params.get("event_type", "")
        if status_filter not in ("", *DeliveryStatus.values):
            raise serializers.ValidationError({"status": "Unknown status."})
        if event_filter not in ("", *EventType.values):
            raise serializers.ValidationError({"event_type": "Unknown event type."})
        qs = selectors.delivery_list(
            self.request.user, self.get_object(), status_filter, event_filter
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)


class DeliveryViewSet(mixins.RetrieveModelMixin, _AdminOnly):
    """One delivery; ``/redeliver/`` sends its event again (same event id, a new delivery)."""

    model = WebhookDelivery
    serializer_class = DeliverySerializer

    def get_object(self) -> WebhookDelivery:
        return selectors.access_delivery_by_id(self.request.user, self.kwargs["pk"])

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return WebhookDelivery.objects.none()
        return WebhookDelivery.objects.for_org(self.request.user.organization_id).none()

    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, pk: str | None = None) -> Response:
        again = services.delivery_redeliver(delivery=self.get_object(), acting_user=request.user)  # type: ignore[arg-type]
        return Response(DeliverySerializer(again).data, status=status.HTTP_202_ACCEPTED)


def register(router: DefaultRouter) -> None:
    router.register("webhooks", WebhookViewSet, basename="webhook")
    router.register("webhook-deliveries", DeliveryViewSet, basename="webhook-delivery")
