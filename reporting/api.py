"""API of reporting: targets (``/api/v1/targets/``). Thin: the service decides who may set what."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView

from accounts.value import may_see_customer_value
from crm.drf import OrgScopedAPIMixin, VisibleRelatedField, VisibleViewSet
from crm.http import AuthenticatedRequest
from crm.models import SalesCompany, User
from reporting import customer_value, deviations, selectors, services
from reporting.models import DeviationAlert, PeriodKind, Target, TargetKind


class TargetSerializer(serializers.ModelSerializer):
    """A target of one sales company or one person (exactly one of the two) for one fiscal
    period, named by its first day. Money kinds are in the corporate currency."""

    sales_company = VisibleRelatedField(SalesCompany, required=False, allow_null=True)
    user = VisibleRelatedField(User, required=False, allow_null=True)
    period_kind = serializers.ChoiceField(choices=PeriodKind.choices)
    kind = serializers.ChoiceField(choices=TargetKind.choices)
    value = serializers.DecimalField(max_digits=16, decimal_places=2, min_value=0)

    class Meta:
        model = Target
        fields = ["id", "sales_company", "user", "period_kind", "period_start", "kind", "value"]
        # Uniqueness is the service's (it replaces the value of an existing target).
        validators: list[Any] = []

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and (attrs.get("sales_company") is None) == (
            attrs.get("user") is None
        ):
            raise serializers.ValidationError(
                {"sales_company": ["Give either a sales company or a user, not both."]}
            )
        return attrs


class TargetValueSerializer(TargetSerializer):
    """An update changes the value only: another company, person, period or kind is another
    target (POST it)."""

    class Meta(TargetSerializer.Meta):
        read_only_fields = ["sales_company", "user", "period_kind", "period_start", "kind"]


class TargetViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    VisibleViewSet,
):
    """Targets the user may see (their own; managers their companies' and people's; the
    director all). ``POST`` sets one (creates it or replaces the value of the same company or
    person, period and kind); ``PATCH``/``PUT`` change the value."""

    model = Target
    select_related = ("sales_company", "user")
    filterset_fields = ["sales_company", "user", "period_kind", "period_start", "kind"]

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Target]]:
        if self.action in ("update", "partial_update"):
            return TargetValueSerializer
        return TargetSerializer

    def perform_create(self, serializer: serializers.BaseSerializer[Target]) -> None:
        serializer.instance = services.target_set(
            organization=self.request.user.organization,
            acting_user=self.request.user,
            **dict(serializer.validated_data),
        )

    def perform_update(self, serializer: serializers.BaseSerializer[Target]) -> None:
        target = serializer.instance
        assert target is not None  # an update's serializer holds the object
        serializer.instance = services.target_set(
            organization=self.request.user.organization,
            acting_user=self.request.user,
            sales_company=target.sales_company,
            user=target.user,
            period_kind=target.period_kind,
            period_start=target.period_start,
            kind=target.kind,
            value=serializer.validated_data.get("value", target.value),
        )


class SegmentRowSerializer(serializers.Serializer):
    segment = serializers.CharField()
    country = serializers.CharField()
    accounts = serializers.IntegerField()
    lifetime_value = serializers.DecimalField(max_digits=20, decimal_places=2)
    open_pipeline = serializers.DecimalField(max_digits=20, decimal_places=2)
    weighted_pipeline = serializers.DecimalField(max_digits=20, decimal_places=2)
    won = serializers.IntegerField()
    lost = serializers.IntegerField()
    win_rate = serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)
    unknown = serializers.IntegerField(
        help_text="Accounts whose value is unknown or not yet computed."
    )


class SegmentReportSerializer(serializers.Serializer):
    scope = serializers.CharField()
    as_of = serializers.DateField(allow_null=True)
    currency = serializers.CharField()
    missing_rates = serializers.ListField(child=serializers.CharField())
    totals = SegmentRowSerializer(many=True)
    rows = SegmentRowSerializer(many=True)


class SegmentReportView(OrgScopedAPIMixin, APIView):
    """The segments report: accounts the user sees, per segment (``totals``) and per segment
    and country (``rows``), from the nightly stored values. ``?region=`` / ``?company=`` pick
    the scope as on the dashboards (404 outside the user's)."""

    request: AuthenticatedRequest

    @extend_schema(
        parameters=[OpenApiParameter("region", int), OpenApiParameter("company", int)],
        responses={200: SegmentReportSerializer},
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        user = request.user
        if not may_see_customer_value(user):
            raise PermissionDenied("Customer value is the sellers' and their managers'.")
        where = selectors.dashboard_scope(
            user=user,
            region_id=request.query_params.get("region"),
            sales_company_id=request.query_params.get("company"),
        )
        report = customer_value.segment_report(user=user, scope=where.scope)
        data = {
            "scope": where.name,
            "as_of": report.as_of,
            "currency": user.organization.corporate_currency,
            "missing_rates": report.missing_rates,
            "totals": report.totals,
            "rows": report.rows,
        }
        return Response(SegmentReportSerializer(data).data)


class DeviationAlertSerializer(serializers.ModelSerializer):
    """A company worse than its own trend or the organization's average in one week (its
    Monday); ``url`` is the page that explains it, ``text`` the sentence in the reader's
    language."""

    sales_company_code = serializers.CharField(source="sales_company.code", read_only=True)
    sales_company_name = serializers.CharField(source="sales_company.name", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = DeviationAlert
        fields = [
            "id", "sales_company", "sales_company_code", "sales_company_name", "measure", "week",
            "comparison", "value", "reference", "unit", "threshold", "status", "created_at",
            "acknowledged_at", "acknowledged_by", "url",
        ]  # fmt: skip
        read_only_fields = fields

    def get_url(self, alert: DeviationAlert) -> str:
        return deviations.drill_down_url(alert)


class DeviationAlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, VisibleViewSet):
    """Deviation alerts the user may see (the director all, a regional manager his region's
    companies, a country manager his company; sellers and marketing none). ``POST
    …/acknowledge/`` acknowledges one."""

    model = DeviationAlert
    serializer_class = DeviationAlertSerializer
    select_related = ("sales_company",)
    filterset_fields = ["sales_company", "measure", "status", "week", "comparison"]
    ordering_fields = ("week", "measure", "sales_company", "created_at")

    @extend_schema(request=None, responses={200: DeviationAlertSerializer})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        alert = deviations.deviation_alert_acknowledge(
            alert=self.get_object(), acting_user=request.user
        )
        return Response(DeviationAlertSerializer(alert).data)


def register(router: DefaultRouter) -> None:
    router.register("targets", TargetViewSet, basename="target")
    router.register("deviation-alerts", DeviationAlertViewSet, basename="deviation-alert")
