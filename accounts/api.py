"""API v1 of customers: accounts (with the 360° view and duplicate candidates), contacts,
activities, global account teams, account plans and framework agreements."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from accounts import join, selectors, services
from accounts.models import (
    MAX_ACTIVITY_MINUTES,
    Account,
    AccountPlan,
    AccountTeamMember,
    AccountValue,
    Activity,
    Contact,
    DiscountTier,
    FrameworkAgreement,
    GroupJoinRequest,
    Lifecycle,
    PlanAction,
    Segment,
    SegmentReason,
    TeamRole,
)
from accounts.segments_api import SegmentRuleViewSet
from accounts.value import joined_value, may_see_customer_value
from crm.audit import history_for
from crm.drf import HistoryEntrySerializer, VisibleRelatedField, VisibleViewSet, money_field
from crm.http import AuthenticatedRequest
from crm.limits import (
    MAX_COMPANIES_PER_LIST,
    MAX_TEXT_LENGTH,
    MAX_TIERS_PER_AGREEMENT,
    check_legal_notes,
    check_payload_counts,
)
from crm.models import SalesCompany, User
from crm.money import money
from crm.validators import validate_country

ACCOUNT_FIELDS = [
    "id", "name", "country", "home_company", "parent", "group", "registration_number",
    "domain", "industry", "segment", "lifecycle", "first_won_at", "created_at",
    "potential", "potential_source", "segment_override", "segment_reason", "value",
]  # fmt: skip


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(money(value))


def _when(value: dt.datetime | None) -> str | None:
    return None if value is None else timezone.localtime(value).isoformat()


def value_representation(v: AccountValue) -> dict[str, Any]:
    """The stored customer value (reporting.customer_value), rounded to the cent; money is
    null where a rate is missing (named in ``missing_rate``)."""
    return {
        "as_of": v.as_of.isoformat(),
        "lifetime_value": _money(v.lifetime_value),
        "won_revenue": _money(v.won_revenue),
        "weighted_pipeline": _money(v.weighted_pipeline),
        "revenue_12m": _money(v.revenue_12m),
        "first_win_at": _when(v.first_win_at),
        "last_win_at": _when(v.last_win_at),
        "missing_rate": v.missing_rate,
        "group": {
            "lifetime_value": _money(v.group_lifetime_value),
            "won_revenue": _money(v.group_won_revenue),
            "weighted_pipeline": _money(v.group_weighted_pipeline),
            "revenue_12m": _money(v.group_revenue_12m),
            "first_win_at": _when(v.group_first_win_at),
            "last_win_at": _when(v.group_last_win_at),
            "missing_rate": v.group_missing_rate,
        },
    }


class AccountValueSerializer(serializers.Serializer):
    """Schema of ``value`` (read-only, in the corporate currency; null before the first
    nightly refresh after the account was created)."""

    as_of = serializers.DateField()
    lifetime_value = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    won_revenue = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    weighted_pipeline = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    revenue_12m = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    first_win_at = serializers.DateTimeField(allow_null=True)
    last_win_at = serializers.DateTimeField(allow_null=True)
    missing_rate = serializers.CharField()
    group = serializers.DictField()


class AccountSerializer(serializers.ModelSerializer):
    value = AccountValueSerializer(read_only=True, allow_null=True)
    # "" when nobody fixed the segment / before the first nightly run: the schema says so.
    segment_override = serializers.ChoiceField(
        choices=Segment.choices, allow_blank=True, read_only=True
    )
    segment_reason = serializers.ChoiceField(
        choices=SegmentReason.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Account
        fields = ACCOUNT_FIELDS
        read_only_fields = ACCOUNT_FIELDS

    def to_representation(self, instance: Account) -> dict[str, Any]:
        # The 360° of a group serializes every subsidiary (200 at the benchmark's scale):
        # the declared fields' output built directly, not through DRF's per-field walk.
        # Datetimes keep the declared fields' format (the user's time zone).
        a, f = instance, self.fields
        return {
            "id": a.pk,
            "name": a.name,
            "country": a.country,
            "home_company": a.home_company_id,
            "parent": a.parent_id,
            "group": a.group_id,
            "registration_number": a.registration_number,
            "domain": a.domain,
            "industry": a.industry,
            "segment": a.segment,
            "lifecycle": a.lifecycle,
            "first_won_at": None
            if a.first_won_at is None
            else f["first_won_at"].to_representation(a.first_won_at),
            "created_at": f["created_at"].to_representation(a.created_at),
            "potential": None if a.potential is None else str(a.potential),
            "potential_source": a.potential_source,
            "segment_override": a.segment_override,
            "segment_reason": a.segment_reason,
            # Only where the caller joined it (the account list, detail and 360°): never a
            # query per account.
            "value": None if (v := joined_value(a)) is None else value_representation(v),
        }


class AccountWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    home_company = VisibleRelatedField(SalesCompany)
    # A declared field (the metaclass takes it off the class), not the stubs' Field.parent.
    parent = VisibleRelatedField(Account, required=False, allow_null=True)  # type: ignore[assignment]
    country = serializers.CharField(
        max_length=2, required=False, allow_blank=True, validators=[validate_country]
    )
    registration_number = serializers.CharField(max_length=40, required=False, allow_blank=True)
    domain = serializers.CharField(max_length=200, required=False, allow_blank=True)
    industry = serializers.CharField(max_length=100, required=False, allow_blank=True)
    segment = serializers.ChoiceField(choices=Segment.choices, required=False)
    lifecycle = serializers.ChoiceField(choices=Lifecycle.choices, required=False)
    potential = serializers.DecimalField(
        max_digits=18,
        decimal_places=2,
        min_value=Decimal(0),
        required=False,
        allow_null=True,
        help_text="Market potential in the corporate currency (an estimate).",
    )
    potential_source = serializers.CharField(max_length=200, required=False, allow_blank=True)
    segment_by_rules = serializers.BooleanField(
        required=False,
        help_text="Hand the segment back to the segment rules (clears a manual override).",
    )
    ignore_duplicates = serializers.BooleanField(
        default=False, help_text="Create even though duplicate candidates were found."
    )


class CandidateSerializer(serializers.Serializer):
    account = AccountSerializer()
    reasons = serializers.ListField(child=serializers.CharField())
    score = serializers.IntegerField()


class HiddenMatchSerializer(serializers.Serializer):
    """A look-alike the user may not see, at need-to-know level: who works it and whom to ask.
    ``token`` names the group in a join request (``POST /api/v1/join-requests/``)."""

    message = serializers.CharField()
    company = serializers.CharField()
    contact_name = serializers.CharField()
    contact_email = serializers.CharField()
    reason = serializers.CharField(source="reason_text")
    token = serializers.CharField()


class DuplicatesSerializer(serializers.Serializer):
    duplicates = CandidateSerializer(many=True)
    hidden_matches = HiddenMatchSerializer(many=True)


class AccountViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    VisibleViewSet,
):
    """Accounts the user may see. ``?group=<id>`` lists one international group."""

    model = Account
    serializer_class = AccountSerializer
    filterset_fields = ["group", "country", "home_company", "parent", "segment", "lifecycle"]
    ordering_fields = ["name", "created_at", "value__lifetime_value"]

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return Account.objects.none()
        qs = super().get_queryset()
        # The stored value rides along in the same query, for those who may read it.
        return qs.select_related("value") if may_see_customer_value(self.request.user) else qs

    @extend_schema(request=AccountWriteSerializer, responses={201: AccountSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = AccountWriteSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        fields.pop("segment_by_rules", None)  # a new account's segment is the rules' anyway
        try:
            account = services.account_create(
                organization=self.request.user.organization,
                acting_user=self.request.user,
                allow_duplicate=fields.pop("ignore_duplicates"),
                **fields,
            )
        except services.DuplicateAccountError as exc:
            return Response(
                {
                    "non_field_errors": [
                        "This account looks like one that exists. Pick it, or send "
                        "ignore_duplicates=true to create a new one."
                    ],
                    "duplicates": CandidateSerializer(exc.candidates, many=True).data,
                    "hidden_matches": HiddenMatchSerializer(exc.hidden_matches, many=True).data,
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(AccountSerializer(account).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AccountWriteSerializer, responses={200: AccountSerializer})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        account = self.get_object()
        partial = kwargs.pop("partial", False)
        data = AccountWriteSerializer(
            data=request.data, partial=partial, context={"request": request}
        )
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        fields.pop("ignore_duplicates", None)
        account = services.account_edit(
            account=account,
            parent=fields.pop("parent", account.parent),
            acting_user=self.request.user,
            **fields,
        )
        return Response(AccountSerializer(account).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("name", str),
            OpenApiParameter("country", str),
            OpenApiParameter("registration_number", str),
            OpenApiParameter("domain", str),
        ],
        responses={200: DuplicatesSerializer},
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def duplicates(self, request: AuthenticatedRequest) -> Response:
        """Candidates an account about to be created may duplicate: the accounts the user may
        see, and need-to-know answers (company, contact, reason, join token) for the others."""
        query = request.query_params
        shown, hidden = selectors.duplicate_candidates(
            user=request.user,
            name=query.get("name", "")[:200],
            country=query.get("country", "")[:200],
            registration_number=query.get("registration_number", "")[:200],
            domain=query.get("domain", "")[:200],
        )
        return Response(
            {
                "duplicates": CandidateSerializer(shown, many=True).data,
                "hidden_matches": HiddenMatchSerializer(hidden, many=True).data,
            }
        )

    @extend_schema(responses={200: HistoryEntrySerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)
    def history(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """The audit trail of the account, its contacts, team and agreements."""
        entries = history_for(user=request.user, obj=self.get_object())
        return Response(HistoryEntrySerializer(entries, many=True).data)


class ContactSerializer(serializers.ModelSerializer):
    account = VisibleRelatedField(Account)

    class Meta:
        model = Contact
        fields = [
            "id",
            "account",
            "full_name",
            "title",
            "email",
            "phone",
            "language",
            "marketing_consent",
            "archived_at",
        ]
        read_only_fields = ["archived_at"]


class ContactMergeSerializer(serializers.Serializer):
    remove = VisibleRelatedField(Contact, help_text="The duplicate: removed after the merge.")
    take_from_removed = serializers.ListField(
        child=serializers.ChoiceField(choices=services.MERGE_FIELDS),
        required=False,
        default=list,
        max_length=len(services.MERGE_FIELDS),
        help_text="Fields whose value survives from the removed contact (else the kept one's).",
    )


class ContactViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    VisibleViewSet,
):
    """Contacts of the accounts the user sees. Lists hold the live ones; ``?archived=true`` the
    archived ones instead (a contact's own URL answers either way)."""

    model = Contact
    serializer_class = ContactSerializer
    filterset_fields = ["account", "language", "marketing_consent"]
    ordering_fields = ["full_name", "created_at"]

    def get_queryset(self) -> Any:
        qs = super().get_queryset()
        if self.action != "list":
            return qs
        archived = self.request.query_params.get("archived", "").lower() in ("1", "true", "yes")
        return qs.filter(archived_at__isnull=not archived)

    @extend_schema(
        parameters=[
            OpenApiParameter("archived", bool, description="Archived contacts instead of live.")
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def perform_create(self, serializer: serializers.BaseSerializer[Contact]) -> None:
        fields = dict(serializer.validated_data)
        serializer.instance = services.contact_create(acting_user=self.request.user, **fields)

    def perform_update(self, serializer: serializers.BaseSerializer[Contact]) -> None:
        fields = dict(serializer.validated_data)
        fields.pop("account", None)  # a contact moves with a merge, not by an edit
        contact = serializer.instance
        assert contact is not None  # an update's serializer holds the object
        serializer.instance = services.contact_update(
            contact=contact, acting_user=self.request.user, **fields
        )

    def _answer(self, contact: Contact) -> Response:
        return Response(ContactSerializer(contact, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses={200: ContactSerializer})
    @action(detail=True, methods=["post"])
    def archive(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        return self._answer(
            services.contact_archive(contact=self.get_object(), acting_user=request.user)
        )

    @extend_schema(request=None, responses={200: ContactSerializer})
    @action(detail=True, methods=["post"])
    def restore(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        return self._answer(
            services.contact_restore(contact=self.get_object(), acting_user=request.user)
        )

    @extend_schema(request=ContactMergeSerializer, responses={200: ContactSerializer})
    @action(detail=True, methods=["post"])
    def merge(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Merge ``remove`` (a contact of the same account) into this one."""
        keep = self.get_object()
        body = ContactMergeSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        merged = services.contact_merge(
            keep=keep,
            remove=body.validated_data["remove"],
            take_from_removed=body.validated_data["take_from_removed"],
            acting_user=request.user,
        )
        return self._answer(merged)


class ActivitySerializer(serializers.ModelSerializer):
    account = VisibleRelatedField(Account)
    contact = VisibleRelatedField(Contact, required=False, allow_null=True)
    # A label: opportunities sit above accounts (as the model's lazy foreign key).
    opportunity = VisibleRelatedField("opportunities.Opportunity", required=False, allow_null=True)
    duration_minutes = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_ACTIVITY_MINUTES
    )

    class Meta:
        model = Activity
        fields = [
            "id", "kind", "subject", "notes", "outcome", "happened_at", "duration_minutes",
            "due_at", "done_at", "owner", "sales_company", "account", "contact", "opportunity",
            "created_at",
        ]  # fmt: skip
        read_only_fields = ["owner", "sales_company", "done_at", "created_at"]
        extra_kwargs = {
            "notes": {"max_length": MAX_TEXT_LENGTH},
            "happened_at": {"required": False},
        }


class ActivityViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, VisibleViewSet
):
    """Activities, newest first by when they happened (``happened_at``; omitted on create:
    now, or the due time of a task)."""

    model = Activity
    serializer_class = ActivitySerializer
    filterset_fields = ["account", "owner", "kind", "opportunity", "contact"]
    ordering_fields = ["happened_at", "created_at", "due_at"]

    def perform_create(self, serializer: serializers.BaseSerializer[Activity]) -> None:
        serializer.instance = services.activity_log(
            acting_user=self.request.user, **serializer.validated_data
        )

    @extend_schema(request=None, responses={200: ActivitySerializer})
    @action(detail=True, methods=["post"])
    def complete(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        activity = services.activity_complete(
            activity=self.get_object(), acting_user=request.user, done_at=timezone.now()
        )
        return Response(ActivitySerializer(activity, context={"request": request}).data)


class TeamMemberSerializer(serializers.ModelSerializer):
    account = VisibleRelatedField(Account)
    user = VisibleRelatedField(User)
    sales_company = VisibleRelatedField(SalesCompany, required=False, allow_null=True)
    role = serializers.ChoiceField(choices=TeamRole.choices)

    class Meta:
        model = AccountTeamMember
        fields = ["id", "account", "user", "sales_company", "role", "added_at"]
        read_only_fields = ["added_at"]


class TeamMemberViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    VisibleViewSet,
):
    """Global account team membership: the grant that opens a whole group to its members."""

    model = AccountTeamMember
    serializer_class = TeamMemberSerializer
    filterset_fields = ["account", "user", "sales_company", "role"]

    def perform_create(self, serializer: serializers.BaseSerializer[AccountTeamMember]) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.team_member_add(
            group=data.pop("account"), acting_user=self.request.user, **data
        )

    def perform_destroy(self, instance: AccountTeamMember) -> None:
        services.team_member_remove(member=instance, acting_user=self.request.user)


class PlanActionSerializer(serializers.ModelSerializer):
    owner = VisibleRelatedField(User)

    class Meta:
        model = PlanAction
        fields = ["id", "title", "owner", "due_date", "status"]


class AccountPlanSerializer(serializers.ModelSerializer):
    account = VisibleRelatedField(Account)
    owner = VisibleRelatedField(User)
    revenue_target = money_field(min_value=0)
    actions = PlanActionSerializer(many=True, read_only=True)

    class Meta:
        model = AccountPlan
        fields = [
            "id",
            "account",
            "year",
            "objectives",
            "revenue_target",
            "status",
            "owner",
            "actions",
        ]
        extra_kwargs = {"objectives": {"max_length": MAX_TEXT_LENGTH}}


class AccountPlanViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    VisibleViewSet,
):
    model = AccountPlan
    serializer_class = AccountPlanSerializer
    prefetch_related = ("actions",)
    filterset_fields = ["account", "year", "status", "owner"]

    def perform_create(self, serializer: serializers.BaseSerializer[AccountPlan]) -> None:
        data = dict(serializer.validated_data)
        serializer.instance = services.account_plan_create(
            group=data.pop("account"), acting_user=self.request.user, **data
        )

    def perform_update(self, serializer: serializers.BaseSerializer[AccountPlan]) -> None:
        data = dict(serializer.validated_data)
        data.pop("account", None)
        plan = serializer.instance
        assert plan is not None  # an update's serializer holds the object
        serializer.instance = services.account_plan_update(
            plan=plan, acting_user=self.request.user, **data
        )

    @extend_schema(request=PlanActionSerializer, responses={201: PlanActionSerializer})
    @action(detail=True, methods=["post"])
    def actions(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        data = PlanActionSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        fields.pop("status", None)
        created = services.plan_action_add(
            plan=self.get_object(), acting_user=request.user, **fields
        )
        return Response(PlanActionSerializer(created).data, status=status.HTTP_201_CREATED)


class PlanActionUpdateSerializer(serializers.ModelSerializer):
    owner = VisibleRelatedField(User)

    class Meta:
        model = PlanAction
        fields = ["id", "plan", "title", "owner", "due_date", "status"]
        read_only_fields = ["plan"]


class PlanActionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    VisibleViewSet,
):
    """The steps of account plans: list (``?plan=``, ``?owner=``, ``?status=``), edit one (its
    title, owner, due date, and done or cancelled). New ones: ``POST
    /account-plans/<id>/actions/``."""

    model = PlanAction
    serializer_class = PlanActionUpdateSerializer
    filterset_fields = ["plan", "owner", "status"]

    def perform_update(self, serializer: serializers.BaseSerializer[PlanAction]) -> None:
        instance = serializer.instance
        assert instance is not None  # an update's serializer holds the object
        serializer.instance = services.plan_action_update(
            action=instance, acting_user=self.request.user, **dict(serializer.validated_data)
        )


class TierSerializer(serializers.ModelSerializer):
    threshold = money_field(min_value=0)
    discount_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100
    )

    class Meta:
        model = DiscountTier
        fields = ["threshold", "discount_percent"]


class AgreementSerializer(serializers.ModelSerializer):
    account = VisibleRelatedField(Account)
    covered_companies = VisibleRelatedField(SalesCompany, many=True)
    tiers = TierSerializer(many=True)

    def to_internal_value(self, data: Any) -> Any:
        check_payload_counts(
            data, {"covered_companies": MAX_COMPANIES_PER_LIST, "tiers": MAX_TIERS_PER_AGREEMENT}
        )
        return super().to_internal_value(data)

    def validate_legal_notes(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise serializers.ValidationError("A mapping of language code to text.")
        check_legal_notes("legal_notes", value)
        return value

    class Meta:
        model = FrameworkAgreement
        fields = [
            "id", "account", "name", "valid_from", "valid_to", "covered_companies", "incoterm",
            "payment_terms", "legal_notes", "tiers",
        ]  # fmt: skip


class AgreementViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, VisibleViewSet
):
    model = FrameworkAgreement
    serializer_class = AgreementSerializer
    prefetch_related = ("tiers", "covered_companies")
    filterset_fields = ["account", "incoterm"]

    def perform_create(self, serializer: serializers.BaseSerializer[FrameworkAgreement]) -> None:
        data = dict(serializer.validated_data)
        tiers = [(t["threshold"], t["discount_percent"]) for t in data.pop("tiers")]
        serializer.instance = services.agreement_create(
            group=data.pop("account"), acting_user=self.request.user, tiers=tiers, **data
        )


class JoinRequestSerializer(serializers.ModelSerializer):
    """A request to link an account into a group. The group is named by the company that works
    it, never by id or name: the requester may not see it."""

    account_name = serializers.CharField(source="account.name", read_only=True)
    group_company = serializers.CharField(source="group.home_company.name", read_only=True)

    class Meta:
        model = GroupJoinRequest
        fields = [
            "id", "account", "account_name", "group_company", "requested_by", "reason", "status",
            "decided_by", "decided_at", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class JoinRequestCreateSerializer(serializers.Serializer):
    account = VisibleRelatedField(Account)
    token = serializers.CharField(
        max_length=1000, help_text="The token of a hidden match (accounts/duplicates/)."
    )
    reason = serializers.CharField(max_length=MAX_TEXT_LENGTH, required=False, allow_blank=True)


class JoinRequestViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, VisibleViewSet
):
    """Requests to join a group: ask with a hidden match's token; the group's GAM, the
    account's home-company managers, the director and the admin approve or decline."""

    model = GroupJoinRequest
    serializer_class = JoinRequestSerializer
    select_related = ("account", "group__home_company")
    filterset_fields = ["status", "account"]
    ordering_fields = ["created_at"]

    @extend_schema(request=JoinRequestCreateSerializer, responses={201: JoinRequestSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = JoinRequestCreateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        user = self.request.user
        group = join.group_for_token(token=fields["token"], acting_user=user)
        created = join.join_request_create(
            account=fields["account"],
            group=group,
            acting_user=user,
            reason=fields.get("reason", ""),
        )
        return Response(JoinRequestSerializer(created).data, status=status.HTTP_201_CREATED)

    def _decide(self, decision: Any) -> Response:
        decided = decision(join_request=self.get_object(), acting_user=self.request.user)
        return Response(JoinRequestSerializer(decided).data)

    @extend_schema(request=None, responses={200: JoinRequestSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Link the account into the group (and re-run conflict detection there)."""
        return self._decide(join.join_request_approve)

    @extend_schema(request=None, responses={200: JoinRequestSerializer})
    @action(detail=True, methods=["post"])
    def decline(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        return self._decide(join.join_request_decline)

    @extend_schema(request=None, responses={200: JoinRequestSerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        return self._decide(join.join_request_withdraw)


def register(router: DefaultRouter) -> None:
    router.register("accounts", AccountViewSet, basename="account")
    router.register("contacts", ContactViewSet, basename="contact")
    router.register("activities", ActivityViewSet, basename="activity")
    router.register("account-teams", TeamMemberViewSet, basename="accountteammember")
    router.register("account-plans", AccountPlanViewSet, basename="accountplan")
    router.register("plan-actions", PlanActionViewSet, basename="planaction")
    router.register("agreements", AgreementViewSet, basename="frameworkagreement")
    router.register("join-requests", JoinRequestViewSet, basename="groupjoinrequest")
    router.register("segment-rules", SegmentRuleViewSet, basename="segmentrule")
