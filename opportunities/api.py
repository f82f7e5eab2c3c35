"""API v1: products, opportunities (with lines, splits and stage moves) and conflicts."""

from __future__ import annotations

import datetime as dt
from decimal import Context, Decimal
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from accounts.models import Account, Contact
from crm.audit import history_for
from crm.drf import (
    HistoryEntrySerializer,
    KeysetPagination,
    VisibleRelatedField,
    VisibleViewSet,
    money_field,
)
from crm.http import AuthenticatedRequest
from crm.ids import parse_id
from crm.limits import (
    MAX_LINES_PER_OPPORTUNITY,
    MAX_RESOLUTION_NOTE_LENGTH,
    MAX_SPLITS_PER_OPPORTUNITY,
)
from crm.models import SalesCompany, User
from crm.validators import validate_country
from opportunities import api_list, pricing, selectors, services
from opportunities.conflicts import conflict_warnings
from opportunities.models import (
    BuyingRole,
    Conflict,
    ConflictParticipant,
    Opportunity,
    OpportunityContactRole,
    OpportunityLine,
    OpportunitySplit,
    Product,
    ProductPrice,
    Resolution,
    SplitKind,
    StageChange,
)
from opportunities.resolution import conflict_resolve
from pipeline.models import LocalStage


class ProductPriceSerializer(serializers.ModelSerializer):
    price = money_field(read_only=True)

    class Meta:
        model = ProductPrice
        fields = ["currency", "price"]


class ProductSerializer(serializers.ModelSerializer):
    list_price = money_field(read_only=True)
    # The price book: the product's own price per other currency (without an entry a line in
    # another currency converts the list price at the deal date's rate).
    prices = ProductPriceSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = ["id", "sku", "name", "family", "list_price", "currency", "is_active", "prices"]


class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, VisibleViewSet):
    model = Product
    serializer_class = ProductSerializer
    filterset_fields = ["family", "currency", "is_active"]
    ordering_fields = ["name", "sku", "list_price"]

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return Product.objects.none()
        # One query for every listed product's price book entries, whatever the page size.
        prices = ProductPrice.objects.for_org(self.request.user.organization_id)
        return (
            super()
            .get_queryset()
            .prefetch_related(Prefetch("prices", queryset=prices.order_by("currency")))
        )


class LineSerializer(serializers.ModelSerializer):
    product = VisibleRelatedField(Product)
    quantity = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    unit_price = money_field(required=False, allow_null=True, min_value=0)
    discount_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, required=False
    )
    total = money_field(read_only=True)
    # Set by the service when an empty unit price was the list price converted at the rate of
    # the deal's date: the list price and currency, the cross rate and its day.
    converted_from_price = money_field(read_only=True, allow_null=True)
    conversion_rate = serializers.DecimalField(
        max_digits=18, decimal_places=8, read_only=True, allow_null=True
    )

    class Meta:
        model = OpportunityLine
        fields = [
            "id", "product", "quantity", "unit_price", "discount_percent", "total",
            "converted_from_currency", "converted_from_price", "conversion_rate",
            "conversion_date",
        ]  # fmt: skip
        read_only_fields = ["converted_from_currency", "conversion_date"]


class SplitSerializer(serializers.ModelSerializer):
    user = VisibleRelatedField(User)
    sales_company = VisibleRelatedField(SalesCompany, required=False, allow_null=True)
    percent = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100)

    class Meta:
        model = OpportunitySplit
        fields = ["id", "user", "sales_company", "kind", "percent"]


class OpportunitySerializer(serializers.ModelSerializer):
    """What a client reads. Writes go through the input serializers and the services."""

    amount = money_field(read_only=True, allow_null=True)
    account_name = serializers.CharField(source="account.name", read_only=True)
    local_stage_name = serializers.CharField(source="local_stage.name", read_only=True)
    global_stage_name = serializers.CharField(source="global_stage.name", read_only=True)

    class Meta:
        model = Opportunity
        fields = [
            "id", "name", "account", "account_name", "sales_company", "owner",
            "local_stage", "local_stage_name", "global_stage", "global_stage_name",
            "amount", "currency", "expected_close_date", "next_step", "lost_reason",
            "campaign", "source_lead", "delivery_country", "created_at", "closed_at", "version",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, instance: Opportunity) -> dict[str, Any]:
        # The hot path of every list (up to 200 rows): the declared fields' output, built
        # directly instead of through DRF's per-field attribute walk (bench/: ~4x less per row).
        # Dates, datetimes (user's time zone) and money still use the declared fields' format.
        o, f = instance, self.fields
        created, closed, close_date = f["created_at"], f["closed_at"], f["expected_close_date"]
        return {
            "id": o.pk,
            "name": o.name,
            "account": o.account_id,
            "account_name": o.account.name,
            "sales_company": o.sales_company_id,
            "owner": o.owner_id,
            "local_stage": o.local_stage_id,
            "local_stage_name": o.local_stage.name,
            "global_stage": o.global_stage_id,
            "global_stage_name": o.global_stage.name,
            "amount": None if o.amount is None else f["amount"].to_representation(o.amount),
            "currency": o.currency,
            "expected_close_date": None
            if o.expected_close_date is None
            else close_date.to_representation(o.expected_close_date),
            "next_step": o.next_step,
            "lost_reason": o.lost_reason,
            "campaign": o.campaign_id,
            "source_lead": o.source_lead_id,
            "delivery_country": o.delivery_country,
            "created_at": created.to_representation(o.created_at),
            "closed_at": None if o.closed_at is None else closed.to_representation(o.closed_at),
            "version": o.version,
        }


# The list's columns as plain values (no model instances): what OpportunitySerializer shows.
_LIST_VALUES = (
    "id", "name", "account_id", "account__name", "sales_company_id", "owner_id",
    "local_stage_id", "local_stage__name", "global_stage_id", "global_stage__name",
    "amount", "currency", "expected_close_date", "next_step", "lost_reason", "campaign_id",
    "source_lead_id", "delivery_country", "created_at", "closed_at", "version",
)  # fmt: skip
# money_field()'s quantization: two places, at most 16 digits (DRF's DecimalField.quantize).
_CENTS = Decimal("0.01")
_MONEY_CONTEXT = Context(prec=16)


def iso_datetime(value: dt.datetime, zone: dt.tzinfo) -> str:
    """DRF's DateTimeField with DATETIME_FORMAT iso-8601: in ``zone`` (the active one), UTC
    as "Z" (the list's and the 360°'s rows)."""
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def opportunity_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The list's page as OpportunitySerializer writes it, from ``.values(*_LIST_VALUES)`` rows:
    the same keys in the same order, money, dates and datetimes (the user's zone) formatted as
    the declared fields do (tests/api/test_list_bytes.py compares the rendered bytes). A page of
    200 rows costs no model instance, no field look-up and no serializer."""
    zone = timezone.get_current_timezone()
    cents, context = _CENTS, _MONEY_CONTEXT
    return [
        {
            "id": r["id"],
            "name": r["name"],
            "account": r["account_id"],
            "account_name": r["account__name"],
            "sales_company": r["sales_company_id"],
            "owner": r["owner_id"],
            "local_stage": r["local_stage_id"],
            "local_stage_name": r["local_stage__name"],
            "global_stage": r["global_stage_id"],
            "global_stage_name": r["global_stage__name"],
            "amount": None
            if (amount := r["amount"]) is None
            else f"{amount.quantize(cents, context=context):f}",
            "currency": r["currency"],
            "expected_close_date": None
            if (close := r["expected_close_date"]) is None
            else close.isoformat(),
            "next_step": r["next_step"],
            "lost_reason": r["lost_reason"],
            "campaign": r["campaign_id"],
            "source_lead": r["source_lead_id"],
            "delivery_country": r["delivery_country"],
            "created_at": iso_datetime(r["created_at"], zone),
            "closed_at": None if (closed := r["closed_at"]) is None else iso_datetime(closed, zone),
            "version": r["version"],
        }
        for r in rows
    ]


class _CurrencyWithRate:
    """The deal form's rule (``pricing.has_rate``): a currency the organization cannot convert
    is refused with a field error naming it, not saved to break every report later."""

    context: dict[str, Any]

    def validate_currency(self, value: str | None) -> str | None:
        if value is None:
            return None
        currency = value.upper()
        organization = self.context["request"].user.organization
        if not pricing.has_rate(organization=organization, currency=currency):
            raise serializers.ValidationError(pricing.no_rate_message(currency))
        return currency


class OpportunityCreateSerializer(_CurrencyWithRate, serializers.Serializer):
    account = VisibleRelatedField(Account)
    name = serializers.CharField(max_length=200)
    local_stage = VisibleRelatedField(LocalStage, required=False, allow_null=True)
    sales_company = VisibleRelatedField(SalesCompany, required=False, allow_null=True)
    owner = VisibleRelatedField(User, required=False, allow_null=True)
    amount = money_field(required=False, allow_null=True, min_value=0)
    currency = serializers.CharField(max_length=3, required=False, allow_null=True)
    expected_close_date = serializers.DateField(required=False, allow_null=True)
    next_step = serializers.CharField(max_length=200, required=False, allow_blank=True)
    campaign = VisibleRelatedField("leads.Campaign", required=False, allow_null=True)
    delivery_country = serializers.CharField(
        max_length=2,
        required=False,
        allow_null=True,
        validators=[validate_country],
        help_text="Ship-to country (ISO 3166 alpha-2); empty: the booking company's.",
    )
    # many=True makes a ListSerializer, which takes max_length; the stubs type the child's init.
    lines = LineSerializer(  # type: ignore[call-arg]
        many=True, required=False, max_length=MAX_LINES_PER_OPPORTUNITY
    )


class OpportunityUpdateSerializer(_CurrencyWithRate, serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1, help_text="The version you read (409 if stale)."
    )
    name = serializers.CharField(max_length=200, required=False)
    account = VisibleRelatedField(Account, required=False)
    owner = VisibleRelatedField(User, required=False)
    amount = money_field(required=False, allow_null=True, min_value=0)
    currency = serializers.CharField(max_length=3, required=False)
    expected_close_date = serializers.DateField(required=False, allow_null=True)
    next_step = serializers.CharField(max_length=200, required=False, allow_blank=True)
    campaign = VisibleRelatedField("leads.Campaign", required=False, allow_null=True)
    delivery_country = serializers.CharField(
        max_length=2, required=False, allow_null=True, validators=[validate_country]
    )


class MoveStageSerializer(serializers.Serializer):
    local_stage = VisibleRelatedField(LocalStage)
    version = serializers.IntegerField(min_value=1)
    lost_reason = serializers.CharField(max_length=200, required=False, allow_blank=True)


class LinesInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    lines = LineSerializer(many=True, max_length=MAX_LINES_PER_OPPORTUNITY)  # type: ignore[call-arg]


class SplitsInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1, help_text="The opportunity's version you read (409 if stale)."
    )
    splits = SplitSerializer(many=True, max_length=MAX_SPLITS_PER_OPPORTUNITY)  # type: ignore[call-arg]


class StageChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = StageChange
        fields = [
            "id", "from_local_stage", "to_local_stage", "from_global_stage", "to_global_stage",
            "changed_at", "changed_by",
        ]  # fmt: skip


def _line_inputs(rows: list[dict[str, Any]]) -> list[services.LineInput]:
    return [
        services.LineInput(
            product=row["product"],
            quantity=row["quantity"],
            unit_price=row.get("unit_price"),
            discount_percent=row.get("discount_percent") or Decimal(0),
        )
        for row in rows
    ]


class OpportunityViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, VisibleViewSet
):
    """Opportunities the user may see. Updates carry the ``version`` read; a stale one answers
    409 with the current version and changes nothing."""

    model = Opportunity
    serializer_class = OpportunitySerializer
    select_related = ("account", "local_stage", "global_stage")
    # A million rows per organization: keyset pages, never OFFSET or COUNT(*) (bench/).
    pagination_class = KeysetPagination
    filterset_fields = ["sales_company", "owner", "account", "global_stage", "local_stage"]
    ordering_fields = ["created_at", "expected_close_date", "amount", "name"]

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # The hot list (bench/: 1M rows): the page read as values and written by
        # opportunity_rows, the same JSON as the serializer's over instances. The filters, the
        # ordering and the cursor apply to the values queryset exactly as to the instances';
        # without a filter the page is one statement compiled per shape (api_list).
        rows = api_list.page_rows(self, _LIST_VALUES)
        # ListRows is what CursorPagination calls on a queryset (order_by, filter, a slice).
        page = self.paginate_queryset(rows)  # type: ignore[arg-type]
        assert page is not None  # KeysetPagination always pages
        return self.get_paginated_response(opportunity_rows(page))

    @extend_schema(request=OpportunityCreateSerializer, responses={201: OpportunitySerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = OpportunityCreateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        fields["lines"] = _line_inputs(fields.pop("lines", []))
        opp = services.opportunity_create(acting_user=self.request.user, **fields)
        return Response(OpportunitySerializer(opp).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=OpportunityUpdateSerializer, responses={200: OpportunitySerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        opp = self.get_object()
        data = OpportunityUpdateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        version = fields.pop("version")
        opp = services.opportunity_update(
            opportunity=opp, acting_user=self.request.user, expected_version=version, **fields
        )
        return Response(OpportunitySerializer(opp).data)

    @extend_schema(request=MoveStageSerializer, responses={200: OpportunitySerializer})
    @action(detail=True, methods=["post"], url_path="move-stage")
    def move_stage(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        opp = self.get_object()
        data = MoveStageSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        opp = services.opportunity_move_stage(
            opportunity=opp,
            local_stage=data.validated_data["local_stage"],
            expected_version=data.validated_data["version"],
            lost_reason=data.validated_data.get("lost_reason", ""),
            acting_user=request.user,
        )
        return Response(OpportunitySerializer(opp).data)

    @extend_schema(methods=["GET"], responses={200: LineSerializer(many=True)})
    @extend_schema(
        methods=["PUT"], request=LinesInputSerializer, responses={200: OpportunitySerializer}
    )
    @action(detail=True, methods=["get", "put"])
    def lines(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        opp = self.get_object()
        if request.method == "GET":
            rows = OpportunityLine.objects.visible_to(request.user).filter(opportunity=opp)
            return Response(LineSerializer(rows.order_by("pk"), many=True).data)
        data = LinesInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        opp = services.opportunity_set_lines(
            opportunity=opp,
            lines=_line_inputs(data.validated_data["lines"]),
            expected_version=data.validated_data["version"],
            acting_user=request.user,
        )
        return Response(OpportunitySerializer(opp).data)

    @extend_schema(methods=["GET"], responses={200: SplitSerializer(many=True)})
    @extend_schema(
        methods=["PUT"], request=SplitsInputSerializer, responses={200: SplitSerializer(many=True)}
    )
    @action(detail=True, methods=["get", "put"])
    def splits(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        opp = self.get_object()
        if request.method == "PUT":
            data = SplitsInputSerializer(data=request.data, context={"request": request})
            data.is_valid(raise_exception=True)
            services.opportunity_set_splits(
                opportunity=opp,
                expected_version=data.validated_data["version"],
                splits=[
                    (
                        s["user"],
                        s.get("sales_company"),
                        s.get("kind", SplitKind.REVENUE),
                        s["percent"],
                    )
                    for s in data.validated_data["splits"]
                ],
                acting_user=request.user,
            )
        rows = OpportunitySplit.objects.visible_to(request.user).filter(opportunity=opp)
        return Response(SplitSerializer(rows.order_by("pk"), many=True).data)

    @extend_schema(responses={200: StageChangeSerializer(many=True)})
    @action(detail=True, methods=["get"], url_path="stage-history", pagination_class=None)
    def stage_history(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        opp = self.get_object()
        rows = selectors.stage_history(user=request.user, opportunity=opp)
        return Response(StageChangeSerializer(rows, many=True).data)

    @extend_schema(responses={200: HistoryEntrySerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)
    def history(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """The audit trail: every change to the opportunity, its lines and splits, with who
        made it and the request id."""
        entries = history_for(user=request.user, obj=self.get_object())
        return Response(HistoryEntrySerializer(entries, many=True).data)


class ConflictParticipantSerializer(serializers.Serializer):
    """One side of a situation: its company and a person to call always; the deal (or the
    duplicate's account) only when the reader may see it."""

    company = serializers.IntegerField(source="company.id")
    company_name = serializers.CharField(source="company.name")
    contact_person_name = serializers.CharField(source="contact.full_name", default=None)
    contact_person_email = serializers.CharField(source="contact.email", default=None)
    opportunity = OpportunitySerializer(allow_null=True)
    account = serializers.IntegerField(source="account.id", allow_null=True, default=None)
    coordinated = serializers.BooleanField()
    joined_at = serializers.DateTimeField(source="participant.joined_at")
    left_at = serializers.DateTimeField(allow_null=True)


class ConflictSerializer(serializers.Serializer):
    """A situation with need-to-know disclosure: the other deals' details only when visible;
    ``text`` in the reader's language. ``other_*``: the first other side, for one-to-one use."""

    id = serializers.IntegerField(source="conflict.id")
    kind = serializers.CharField(source="conflict.kind")
    kind_label = serializers.CharField()
    text = serializers.CharField()
    status = serializers.CharField(source="conflict.status")
    account = serializers.IntegerField(source="conflict.account_id")
    account_name = serializers.CharField(source="conflict.account.name")
    opportunity = serializers.IntegerField(source="conflict.opportunity_id", allow_null=True)
    product = serializers.IntegerField(source="conflict.product_id", allow_null=True)
    sales_company = serializers.IntegerField(source="conflict.sales_company_id")
    other_company_name = serializers.CharField(
        source="other_company.name", allow_null=True, default=None
    )
    contact_person_name = serializers.CharField(source="contact_person.full_name", default=None)
    contact_person_email = serializers.CharField(source="contact_person.email", default=None)
    other_opportunity = OpportunitySerializer(allow_null=True)
    other_account = serializers.IntegerField(source="conflict.other_account_id", allow_null=True)
    participants = ConflictParticipantSerializer(many=True)
    resolution = serializers.CharField(source="conflict.resolution")
    resolved_at = serializers.DateTimeField(source="conflict.resolved_at", allow_null=True)
    created_at = serializers.DateTimeField(source="conflict.created_at")
    age_days = serializers.IntegerField()


class ResolveSerializer(serializers.Serializer):
    resolution = serializers.ChoiceField(choices=Resolution.choices)
    owner = VisibleRelatedField(User, required=False, allow_null=True)
    # A deal of the situation (visible to the resolver); default as in conflict_resolve.
    opportunity = VisibleRelatedField(Opportunity, required=False, allow_null=True)
    other_opportunity = VisibleRelatedField(Opportunity, required=False, allow_null=True)
    keep_account = VisibleRelatedField(Account, required=False, allow_null=True)
    split_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, required=False, allow_null=True
    )
    note = serializers.CharField(
        max_length=MAX_RESOLUTION_NOTE_LENGTH, required=False, allow_blank=True
    )


class ConflictViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, VisibleViewSet):
    """Situations. ``?company=<id>``: a company on any side."""

    model = Conflict
    serializer_class = ConflictSerializer
    select_related = ("account", "sales_company", "product", "agreement")
    filterset_fields = ["status", "kind", "sales_company", "account"]
    # The serializer's sources go through the warning ("conflict.id"), not the model's columns.
    ordering_fields = ["created_at", "resolved_at"]

    def get_queryset(self) -> Any:
        qs = super().get_queryset()
        company = parse_id(self.request.query_params.get("company"))
        if company is not None:
            sides = ConflictParticipant.objects.for_org(self.request.user.organization_id)
            qs = qs.filter(pk__in=sides.filter(sales_company_id=company).values("conflict_id"))
        return qs

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        assert page is not None  # the viewset pages (MeridianPagination)
        warnings = conflict_warnings(user=self.request.user, conflicts=page)
        return self.get_paginated_response(ConflictSerializer(warnings, many=True).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        (warning,) = conflict_warnings(user=self.request.user, conflicts=[self.get_object()])
        return Response(ConflictSerializer(warning).data)

    @extend_schema(request=ResolveSerializer, responses={200: ConflictSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        conflict = self.get_object()
        data = ResolveSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        resolved = conflict_resolve(
            conflict_id=conflict.pk, acting_user=request.user, **data.validated_data
        )
        (warning,) = conflict_warnings(user=request.user, conflicts=[resolved])
        return Response(ConflictSerializer(warning).data)


class ContactRoleSerializer(serializers.ModelSerializer):
    opportunity = VisibleRelatedField(Opportunity)
    contact = VisibleRelatedField(Contact)
    role = serializers.ChoiceField(choices=BuyingRole.choices)

    class Meta:
        model = OpportunityContactRole
        fields = ["id", "opportunity", "contact", "role", "added_at", "added_by"]
        read_only_fields = ["added_at", "added_by"]


class ContactRoleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    VisibleViewSet,
):
    """Buying-centre roles of contacts on deals, seen as their deal is. Whoever may change the
    deal adds (a contact of the deal's account group) and removes them."""

    model = OpportunityContactRole
    serializer_class = ContactRoleSerializer
    select_related = ("opportunity",)
    filterset_fields = ["opportunity", "contact", "role"]

    def perform_create(
        self, serializer: serializers.BaseSerializer[OpportunityContactRole]
    ) -> None:
        serializer.instance = services.contact_role_add(
            acting_user=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance: OpportunityContactRole) -> None:
        services.contact_role_remove(role=instance, acting_user=self.request.user)


def register(router: DefaultRouter) -> None:
    router.register("contact-roles", ContactRoleViewSet, basename="contact-role")
    router.register("products", ProductViewSet, basename="product")
    router.register("opportunities", OpportunityViewSet, basename="opportunity")
    router.register("conflicts", ConflictViewSet, basename="conflict")
