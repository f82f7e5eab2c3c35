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
from leads.models import Campaign, CampaignKind, CampaignMember, Lead
from leads.selectors import campaign_member_export, campaign_member_list
from leads.services import lead_convert
from pipeline.models import LocalStage


class LeadSerializer(serializers.ModelSerializer):
    campaign = VisibleRelatedField(Campaign, required=False, allow_null=True)
    owner = VisibleRelatedField(User, required=False, allow_null=True)
    country = serializers.CharField(max_length=2, validators=[validate_country])

    class Meta:
        model = Lead
        fields = [
            "id", "source", "campaign", "company_name", "registration_number", "domain",
            "contact_name", "contact_title", "email", "phone", "country", "sales_company",
            "status", "owner", "disqualified_reason", "converted_account", "converted_contact",
            "converted_opportunity", "created_at", "converted_at",
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

    class Meta:
        model = CampaignMember
        fields = ["id", "contact", "lead", "attended", "added_at"]
        read_only_fields = ["added_at"]


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


def register(router: DefaultRouter) -> None:
    router.register("leads", LeadViewSet, basename="lead")
    router.register("campaigns", CampaignViewSet, basename="campaign")
