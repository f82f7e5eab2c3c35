"""API v1 of the kernel: sign-in for tokens, the organization's structure, people and rates."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from crm import services
from crm.api_auth import api_token_create
from crm.drf import VisibleViewSet
from crm.models import ExchangeRate, Region, SalesCompany, User


class TokenRequestSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class TokenView(APIView):
    """Exchange e-mail and password for an API token (``Authorization: Token <token>``)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonRateThrottle]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
    )
    def post(self, request: Request) -> Response:
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=data.validated_data["email"].lower(),
            password=data.validated_data["password"],
        )
        if user is None or not user.is_active:
            return Response(
                {"non_field_errors": ["E-mail and password do not match an active user."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response({"token": api_token_create(user=user)})


class RegionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Region
        fields = ["id", "name"]


class SalesCompanySerializer(serializers.ModelSerializer):
    class Meta:
        model = SalesCompany
        fields = ["id", "code", "name", "region", "country", "currency", "language", "timezone"]


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "full_name", "role", "sales_company", "region", "is_active"]


class ExchangeRateSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExchangeRate
        fields = ["id", "currency", "rate", "valid_from"]


class RegionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, VisibleViewSet):
    model = Region
    serializer_class = RegionSerializer


class SalesCompanyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, VisibleViewSet):
    model = SalesCompany
    serializer_class = SalesCompanySerializer
    filterset_fields = ["region", "country", "currency"]


class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, VisibleViewSet):
    model = User
    serializer_class = UserSerializer
    filterset_fields = ["role", "sales_company", "region", "is_active"]


class ExchangeRateViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, VisibleViewSet
):
    """Rates to the corporate currency. Creating one for an existing currency and date corrects
    it (global admin only)."""

    model = ExchangeRate
    serializer_class = ExchangeRateSerializer
    filterset_fields = ["currency", "valid_from"]

    def perform_create(self, serializer: ExchangeRateSerializer) -> None:
        user = self.request.user
        serializer.instance = services.exchange_rate_set(
            organization=user.organization,
            currency=serializer.validated_data["currency"],
            rate=serializer.validated_data["rate"],
            valid_from=serializer.validated_data["valid_from"],
            acting_user=user,
        )


def register(router: DefaultRouter) -> None:
    router.register("regions", RegionViewSet, basename="region")
    router.register("sales-companies", SalesCompanyViewSet, basename="salescompany")
    router.register("users", UserViewSet, basename="user")
    router.register("exchange-rates", ExchangeRateViewSet, basename="exchangerate")
