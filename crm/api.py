"""API v1 of the kernel: sign-in for tokens, the organization's structure, people and rates,
and the user's own notifications."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.utils import translation
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from crm import services
from crm.api_auth import HashedTokenAuthentication
from crm.drf import OrgScopedAPIMixin, VisibleViewSet
from crm.http import AuthenticatedRequest
from crm.identity import PASSWORD_LOGIN_OFF_ATTR
from crm.ids import MAX_ID
from crm.middleware import supported_language
from crm.models import ApiToken, ExchangeRate, Notification, Region, SalesCompany, User
from crm.notifications import ALL, mark_read
from crm.parsers import SafeJSONParser
from crm.scope import org_scope
from crm.selectors import access_api_token_by_id, own_api_tokens, unread_count


class TokenRequestSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField()
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    name = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        help_text="What the token is for, as your token list shows it (default: API).",
    )


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    """A token as its owner's list shows it: never the key, nor its hash."""

    class Meta:
        model = ApiToken
        fields = ["id", "name", "created_at", "last_used_at", "expires_at"]
        read_only_fields = fields


class IssuedTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(help_text="The key, shown this once: only its hash is stored.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class TokenView(APIView):
    """``POST``: exchange e-mail and password for an API token (``Authorization: Token
    <token>``). ``DELETE``: revoke the token this request is authenticated with (sign-out)."""

    throttle_classes = [AnonRateThrottle]

    def _revoking(self) -> bool:
        # The request is set by Django's View.setup() before DRF authenticates (the schema
        # generator asks without one).
        return getattr(self, "request", None) is not None and self.request.method == "DELETE"

    def get_authenticators(self) -> list[Any]:
        return [HashedTokenAuthentication()] if self._revoking() else []

    def get_permissions(self) -> list[Any]:
        return [IsAuthenticated()] if self._revoking() else [AllowAny()]

    def get_throttles(self) -> list[Any]:
        # Only the password exchange is anonymous; a signed-in DELETE is not throttled as such.
        return [] if self._revoking() else super().get_throttles()

    @extend_schema(request=TokenRequestSerializer, responses={200: IssuedTokenSerializer})
    def post(self, request: Request) -> Response:
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=data.validated_data["email"].lower(),
            password=data.validated_data["password"],
        )
        if user is None and getattr(request._request, PASSWORD_LOGIN_OFF_ATTR, None):
            return Response(
                {"non_field_errors": [_("Your organization signs in with single sign-on only.")]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        if user is None or not user.is_active:
            return Response(
                {"non_field_errors": [_("E-mail and password do not match an active user.")]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        token, key = services.api_token_issue(
            user=user, name=data.validated_data.get("name") or "API"
        )
        return Response({**ApiTokenSerializer(token).data, "token": key})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: AuthenticatedRequest) -> Response:
        token = request.auth
        if not isinstance(token, ApiToken):  # pragma: no cover - only token auth reaches here
            raise exceptions.NotAuthenticated()
        with org_scope(token.organization_id):
            services.api_token_revoke(token=token, acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenListView(OrgScopedAPIMixin, APIView):
    """Your own API tokens, newest first (expired ones too, until you revoke them)."""

    @extend_schema(responses={200: ApiTokenSerializer(many=True)})
    def get(self, request: AuthenticatedRequest) -> Response:
        tokens = own_api_tokens(user=request.user)
        return Response(ApiTokenSerializer(tokens, many=True).data)


class TokenDetailView(OrgScopedAPIMixin, APIView):
    """Revoke one of your own tokens; another user's token answers 404 like a missing one."""

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: AuthenticatedRequest, pk: int) -> Response:
        token = access_api_token_by_id(request.user, pk)
        services.api_token_revoke(token=token, acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RegionSerializer(serializers.ModelSerializer[Region]):
    class Meta:
        model = Region
        fields = ["id", "name"]


class SalesCompanySerializer(serializers.ModelSerializer[SalesCompany]):
    class Meta:
        model = SalesCompany
        fields = ["id", "code", "name", "region", "country", "currency", "language", "timezone"]


class UserSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ["id", "email", "full_name", "role", "sales_company", "region", "is_active"]


class ExchangeRateSerializer(serializers.ModelSerializer[ExchangeRate]):
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

    def perform_create(self, serializer: serializers.BaseSerializer[ExchangeRate]) -> None:
        user = self.request.user
        serializer.instance = services.exchange_rate_set(
            organization=user.organization,
            currency=serializer.validated_data["currency"],
            rate=serializer.validated_data["rate"],
            valid_from=serializer.validated_data["valid_from"],
            acting_user=user,
        )


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    message = serializers.SerializerMethodField(
        help_text="The sentence, in your language (your own, else your sales company's)."
    )
    is_read = serializers.BooleanField(read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "params", "url", "created_at", "read_at", "is_read"]
        read_only_fields = fields

    def get_message(self, notification: Notification) -> str:
        # A token request is authenticated after the locale middleware ran (which then saw no
        # user): the reader's language is set here, for the sentence at least.
        language = self.context.get("language")
        if not language:
            return notification.message
        with translation.override(language):
            return notification.message


class NotificationReadSerializer(serializers.Serializer[Any]):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=1000,
        help_text="Your notifications to mark read; ids that are not yours are ignored.",
    )
    all = serializers.BooleanField(required=False, help_text="true: mark all of yours read.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        everything = attrs.get("all", False)
        if everything and "ids" in attrs:
            raise serializers.ValidationError(_("Give either ids or all, not both."))
        if not everything and "ids" not in attrs:
            raise serializers.ValidationError(_("Give the ids to mark as read, or all: true."))
        return attrs


class NotificationReadResultSerializer(serializers.Serializer[Any]):
    marked = serializers.IntegerField(help_text="How many of yours were unread and are now read.")
    unread = serializers.IntegerField(help_text="How many of yours are still unread.")


class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, VisibleViewSet):
    """Your own notifications, newest first: nobody else's, whatever the role. ``message`` is
    rendered in your language; ``url`` is the page inside Meridian it is about."""

    model = Notification
    serializer_class = NotificationSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        user = getattr(self.request, "user", None)
        if user is not None and user.is_authenticated:
            context["language"] = supported_language(user.effective_language)
        return context

    @extend_schema(
        request=NotificationReadSerializer, responses={200: NotificationReadResultSerializer}
    )
    # JSON only: a form would send each id as a field of its own, and Django refuses more than
    # DATA_UPLOAD_MAX_NUMBER_FIELDS of them before DRF could answer in JSON.
    @action(detail=False, methods=["post"], pagination_class=None, parser_classes=[SafeJSONParser])
    def read(self, request: AuthenticatedRequest) -> Response:
        """Mark some (``{"ids": [...]}``) or all (``{"all": true}``) of your notifications read."""
        data = NotificationReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = ALL if data.validated_data.get("all") else data.validated_data["ids"]
        marked = mark_read(user=request.user, ids=ids)
        return Response({"marked": marked, "unread": unread_count(user=request.user)})


def register(router: DefaultRouter) -> None:
    router.register("regions", RegionViewSet, basename="region")
    router.register("sales-companies", SalesCompanyViewSet, basename="salescompany")
    router.register("users", UserViewSet, basename="user")
    router.register("exchange-rates", ExchangeRateViewSet, basename="exchangerate")
    router.register("notifications", NotificationViewSet, basename="notification")
