"""API v1 of lead management: leads (with qualification and conversion) and campaigns (with
members).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from accounts.api import CandidateSerializer, HiddenMatchSerializer
from accounts.models import Account, Contact
from accounts.services import DuplicateAccountError
from crm.drf import VisibleRelatedField, VisibleViewSet, money_field
from crm.http import AuthenticatedRequest, signed_in_user
from crm.limits import MAX_COMPANIES_PER_LIST, check_payload_counts
from crm.models import SalesCompany, User
from crm.validators import validate_country
from leads import services
from leads.models import Campaign, CampaignKind, CampaignMember, Lead, MarketingPause
from leads.selectors import MEMBER_ACCOUNT_PATHS, campaign_member_export, campaign_member_list
from leads.services import lead_convert
from leads.suppression import annotate_suppression, lead_suppression, suppression_reason
from pipeline.models import LocalStage


class LeadSerializer(serializers.ModelSerializer):
    campaign = VisibleRelatedField(Campaign, required=False, allow_null=True)
    owner = VisibleRelatedField(User, required=False, allow_null=True)
    country = serializers.CharField(max_length=2, validators=[validate_country])
    # "Do not market" through the customer the lead matched at entry (leads.suppression):
    # from the list's annotations, or one query for a lead just written.
    do_not_market = serializers.SerializerMethodField()
    suppression_reason = serializers.SerializerMethodField()

    def _held(self, lead: Lead) -> tuple[bool, str]:
        if hasattr(lead, "do_not_market"):
            return bool(lead.do_not_market), suppression_reason(lead)
        held = lead_suppression(lead)
        return held.do_not_market, held.reason

    def get_do_not_market(self, lead: Lead) -> bool:
        return self._held(lead)[0]

    def get_suppression_reason(self, lead: Lead) -> str:
        return self._held(lead)[1]

    class Meta:
        model = Lead
        fields = [
            "id", "source", "campaign", "company_name", "registration_number", "domain",
            "contact_name", "contact_title", "email", "phone", "country", "sales_company",
            "status", "owner", "disqualified_reason", "converted_account", "converted_contact",
            "converted_opportunity", "created_at", "converted_at", "do_not_market",
            "suppression_reason",
        ]  # fmt: skip
        read_only_fields = [
            "sales_company", "status", "disqualified_reason", "converted_account",
            "converted_contact", "converted_opportunity", "created_at", "converted_at",
        ]  # fmt: skip


class DisqualifySerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200)


class ConvertSerializer(serializers.Serializer):
    account = VisibleRelatedField(Account, required=False, allow_null=True)
    create_account = serializers.BooleanField(default=False)
    opportunity_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    owner = VisibleRelatedField(User, required=False, allow_null=True)
    amount = money_field(required=False, allow_null=True, min_value=0)
    expected_close_date = serializers.DateField(required=False, allow_null=True)
    local_stage = VisibleRelatedField(LocalStage, required=False, allow_null=True)


class ConversionSerializer(serializers.Serializer):
    lead = serializers.IntegerField(source="lead.pk")
    account = serializers.IntegerField(source="account.pk")
    contact = serializers.IntegerField(source="contact.pk")
    opportunity = serializers.IntegerField(source="opportunity.pk")
    account_created = serializers.BooleanField()


_LEAD_ACTIONS = {
    "list": services.LeadAction.VIEW,
    "retrieve": services.LeadAction.VIEW,
    "create": services.LeadAction.CREATE,
    "qualify": services.LeadAction.WORK,
    "disqualify": services.LeadAction.WORK,
    "convert": services.LeadAction.CONVERT,
}


class MayLead(IsAuthenticated):
    """The pages' rule (``services.may_lead``) for the role, before any lead is read; the
    services check each lead again (its company, its owner)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        action = _LEAD_ACTIONS.get(view.action)
        # Anything not listed (OPTIONS, an unknown method) needs at least the right to read.
        return services.may_lead(signed_in_user(request), action or services.LeadAction.VIEW)


class LeadViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, VisibleViewSet
):
    """Marketing's leads, routed by country to the sales company. Sellers read and convert the
    leads assigned to them, as on the pages; creating and working leads answers them 403."""

    model = Lead
    permission_classes = [MayLead]
    serializer_class = LeadSerializer
    filterset_fields = ["status", "sales_company", "owner", "campaign", "country"]
    ordering_fields = ["created_at", "company_name"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return Lead.objects.none()
        qs = super().get_queryset()
        return annotate_suppression(qs, self.request.user.organization_id, ["matched_account"])

    def perform_create(self, serializer: serializers.BaseSerializer[Lead]) -> None:
        serializer.instance = services.lead_create(
            organization=self.request.user.organization,
            acting_user=self.request.user,
            **serializer.validated_data,
        )

    @extend_schema(request=None, responses={200: LeadSerializer})
    @action(detail=True, methods=["post"])
    def qualify(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        lead = services.lead_qualify(lead=self.get_object(), acting_user=request.user)
        return Response(LeadSerializer(lead, context={"request": request}).data)

    @extend_schema(request=DisqualifySerializer, responses={200: LeadSerializer})
    @action(detail=True, methods=["post"])
    def disqualify(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        data = DisqualifySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lead = services.lead_disqualify(
            lead=self.get_object(), acting_user=request.user, reason=data.validated_data["reason"]
        )
        return Response(LeadSerializer(lead, context={"request": request}).data)

    @extend_schema(request=ConvertSerializer, responses={201: ConversionSerializer})
    @action(detail=True, methods=["post"])
    def convert(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Create or match the account, then the contact and the opportunity, all or nothing.
        Duplicate candidates answer 400 listing them unless an account or create_account is
        given."""
        data = ConvertSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        try:
            result = lead_convert(
                lead=self.get_object(), acting_user=request.user, **data.validated_data
            )
        except DuplicateAccountError as exc:
            # As the accounts API answers a duplicate: only the look-alikes the user may see.
            return Response(
                {
                    "non_field_errors": [
                        "The company looks like an existing customer. Send its id as account, "
                        "or create_account=true to create a new one."
                    ],
                    "duplicates": CandidateSerializer(exc.candidates, many=True).data,
                    "hidden_duplicates": exc.hidden,
                    "hidden_matches": HiddenMatchSerializer(exc.hidden_matches, many=True).data,
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(ConversionSerializer(result).data, status=status.HTTP_201_CREATED)


class CampaignSerializer(serializers.ModelSerializer):
    sales_companies = VisibleRelatedField(SalesCompany, many=True, required=False)
    owner = VisibleRelatedField(User, required=False, allow_null=True)
    kind = serializers.ChoiceField(choices=CampaignKind.choices)
    budget = money_field(min_value=0, required=False)

    def to_internal_value(self, data: Any) -> Any:
        check_payload_counts(data, {"sales_companies": MAX_COMPANIES_PER_LIST})
        return super().to_internal_value(data)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "kind",
            "starts_on",
            "ends_on",
            "sales_companies",
            "budget",
            "currency",
            "owner",
        ]


class CampaignMemberSerializer(serializers.ModelSerializer):
    contact = VisibleRelatedField(Contact, required=False, allow_null=True)
    lead = VisibleRelatedField(Lead, required=False, allow_null=True)
    do_not_market = serializers.SerializerMethodField()
    suppression_reason = serializers.SerializerMethodField()

    class Meta:
        model = CampaignMember
        fields = [
            "id", "contact", "lead", "attended", "added_at", "do_not_market",
            "suppression_reason",
        ]  # fmt: skip
        read_only_fields = ["added_at"]

    # Read from the list's annotations (leads.suppression): no query per member. A member just
    # added has none and answers from one query of its own.
    def _held(self, member: CampaignMember) -> tuple[bool, str]:
        if not hasattr(member, "do_not_market"):
            annotated = annotate_suppression(
                CampaignMember.objects.for_org(member.organization_id).filter(pk=member.pk),
                member.organization_id,
                MEMBER_ACCOUNT_PATHS,
            ).first()
            member = annotated or member
        return bool(getattr(member, "do_not_market", False)), suppression_reason(member)

    def get_do_not_market(self, member: CampaignMember) -> bool:
        return self._held(member)[0]

    def get_suppression_reason(self, member: CampaignMember) -> str:
        return self._held(member)[1]


class CampaignViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, VisibleViewSet
):
    model = Campaign
    serializer_class = CampaignSerializer
    prefetch_related = ("sales_companies",)
    filterset_fields = ["kind", "owner"]
    ordering_fields = ["starts_on", "name"]

    def perform_create(self, serializer: serializers.BaseSerializer[Campaign]) -> None:
        serializer.instance = services.campaign_create(
            organization=self.request.user.organization,
            acting_user=self.request.user,
            **serializer.validated_data,
        )

    @extend_schema(methods=["GET"], responses={200: CampaignMemberSerializer(many=True)})
    @extend_schema(
        methods=["POST"],
        request=CampaignMemberSerializer,
        responses={201: CampaignMemberSerializer},
    )
    @action(detail=True, methods=["get", "post"])
    def members(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """Members the user may see; ``?export=1`` leaves out suppressed contacts (an
        opportunity of theirs is in negotiation)."""
        campaign = self.get_object()
        if request.method == "POST":
            data = CampaignMemberSerializer(data=request.data, context={"request": request})
            data.is_valid(raise_exception=True)
            member = services.campaign_member_add(
                campaign=campaign, acting_user=request.user, **data.validated_data
            )
            return Response(CampaignMemberSerializer(member).data, status=status.HTTP_201_CREATED)
        select: Any = (
            campaign_member_export if request.query_params.get("export") else campaign_member_list
        )
        rows = select(campaign=campaign, user=request.user)
        return Response(CampaignMemberSerializer(rows, many=True).data)


class MarketingPauseSerializer(serializers.ModelSerializer):
    account = VisibleRelatedField(Account)
    whole_group = serializers.BooleanField(default=False, write_only=True)
    reason = serializers.CharField(max_length=services.PAUSE_REASON_MAX)

    class Meta:
        model = MarketingPause
        fields = [
            "id", "account", "group", "whole_group", "reason", "until", "created_by",
            "created_at", "ended_at", "ended_by",
        ]  # fmt: skip
        read_only_fields = ["group", "created_by", "created_at", "ended_at", "ended_by"]


class MarketingPauseViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, VisibleViewSet
):
    """Manual "pause marketing" switches per account or group (``whole_group``), with a reason
    and the last paused day; ``POST …/end/`` ends one early. Seen by whoever sees the
    account; set by marketing, the managers and whoever may change the account."""

    model = MarketingPause
    serializer_class = MarketingPauseSerializer
    filterset_fields = ["account"]
    ordering_fields = ["until", "created_at"]

    def get_queryset(self) -> Any:
        return super().get_queryset().order_by("-created_at", "-id")

    def perform_create(self, serializer: serializers.BaseSerializer[MarketingPause]) -> None:
        serializer.instance = services.marketing_pause_create(
            acting_user=self.request.user, **serializer.validated_data
        )

    @extend_schema(request=None, responses={200: MarketingPauseSerializer})
    @action(detail=True, methods=["post"])
    def end(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        pause = services.marketing_pause_end(pause=self.get_object(), acting_user=request.user)
        return Response(MarketingPauseSerializer(pause, context={"request": request}).data)


def register(router: DefaultRouter) -> None:
    router.register("leads", LeadViewSet, basename="lead")
    router.register("campaigns", CampaignViewSet, basename="campaign")
    router.register("marketing-pauses", MarketingPauseViewSet, basename="marketingpause")
