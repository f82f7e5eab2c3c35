"""API v1 of the 360° of an account group (``/api/v1/accounts/<id>/360/``): it reads deals, so it
lives above accounts; the shell routes it beside the accounts router.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import (
    AccountSerializer,
    ActivitySerializer,
    AgreementSerializer,
    TeamMemberSerializer,
)
from accounts.models import Contact
from crm.drf import OrgScopedAPIMixin
from crm.http import AuthenticatedRequest
from crm.ids import parse_id
from crm.models import User
from opportunities import customer


class CountryFiguresSerializer(serializers.Serializer):
    open_count = serializers.IntegerField()
    open_amount = serializers.DecimalField(max_digits=20, decimal_places=2)
    won_count = serializers.IntegerField()
    won_amount = serializers.DecimalField(max_digits=20, decimal_places=2)


class PlanProgressSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    year = serializers.IntegerField()
    target = serializers.DecimalField(max_digits=20, decimal_places=2)
    won_ytd = serializers.DecimalField(max_digits=20, decimal_places=2)
    open_actions = serializers.IntegerField()
    overdue_actions = serializers.IntegerField()


class Contact360Serializer(serializers.Serializer):
    id = serializers.IntegerField()
    full_name = serializers.CharField()
    title = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()
    archived = serializers.BooleanField()


def _contacts_by_account(user: User, view: Any) -> dict[str, list[dict[str, Any]]]:
    """The contacts of the accounts listed in full (``subsidiaries_by_country`` holds exactly
    those), in one query, through the contacts' visibility as well: a top shown at
    need-to-know level is not among them, so none of its people are disclosed."""
    ids = [a.pk for accounts in view.subsidiaries_by_country.values() for a in accounts]
    by_account: dict[str, list[dict[str, Any]]] = {str(pk): [] for pk in ids}
    rows = (
        Contact.objects.visible_to(user)
        .filter(account_id__in=ids)
        .order_by("account_id", "full_name", "pk")
        .values("id", "account_id", "full_name", "title", "email", "phone", "archived_at")
    )
    for r in rows:
        by_account[str(r["account_id"])].append(
            {
                "id": r["id"],
                "full_name": r["full_name"],
                "title": r["title"] or "",
                "email": r["email"] or "",
                "phone": r["phone"] or "",
                "archived": r["archived_at"] is not None,
            }
        )
    return by_account


class Account360Serializer(serializers.Serializer):
    """The schema of the 360° view (amounts in the corporate currency)."""

    group = AccountSerializer(
        help_text="The group's top account; only id, name and home_company when group_visible "
        "is false (the user sees accounts of the group, not its top)."
    )
    group_visible = serializers.BooleanField()
    subsidiaries_by_country = serializers.DictField(child=AccountSerializer(many=True))
    figures_by_country = serializers.DictField(child=CountryFiguresSerializer())
    corporate_currency = serializers.CharField()
    latest_activities = serializers.ListField(child=serializers.DictField())
    team = serializers.ListField(child=serializers.DictField())
    plan = PlanProgressSerializer(allow_null=True)
    agreements = serializers.ListField(child=serializers.DictField())
    open_conflicts = serializers.ListField(child=serializers.IntegerField())
    contacts_by_account = serializers.DictField(
        child=Contact360Serializer(many=True),
        help_text="Per account id, the contacts (archived ones flagged) of the accounts the user "
        "sees in full; an account shown at need-to-know level (the group's top when "
        "group_visible is false) has none.",
    )


def _serialize_360(view: Any) -> dict[str, Any]:
    plan = view.plan
    # One serializer for every account of the group, not one per country (its fields are
    # built once).
    account = AccountSerializer().to_representation
    return {
        "group": account(view.group)
        if view.group_visible
        else {
            "id": view.group.pk,
            "name": view.group.name,
            "home_company": view.group.home_company_id,
        },
        "group_visible": view.group_visible,
        "subsidiaries_by_country": {
            country: [account(a) for a in accounts]
            for country, accounts in view.subsidiaries_by_country.items()
        },
        "figures_by_country": {
            country: {
                "open_count": f.open_count,
                "open_amount": str(f.open_amount),
                "won_count": f.won_count,
                "won_amount": str(f.won_amount),
            }
            for country, f in view.figures_by_country.items()
        },
        "corporate_currency": view.group.organization.corporate_currency,
        "latest_activities": ActivitySerializer(view.latest_activities, many=True).data,
        "team": TeamMemberSerializer(view.team, many=True).data,
        "plan": None
        if plan is None
        else {
            "id": plan.plan.pk,
            "year": plan.plan.year,
            "target": str(plan.target),
            "won_ytd": str(plan.won_ytd),
            "open_actions": plan.open_actions,
            "overdue_actions": plan.overdue_actions,
        },
        "agreements": AgreementSerializer(view.agreements, many=True).data,
        "open_conflicts": [c.pk for c in view.open_conflicts],
    }


class Account360View(OrgScopedAPIMixin, APIView):
    """The whole group of this account, as the user may see it."""

    @extend_schema(responses={200: Account360Serializer})
    def get(self, request: AuthenticatedRequest, pk: str) -> Response:
        group = parse_id(pk)
        if group is None:
            raise Http404("No account matches the given query.")
        # The account, its group and its visibility in one query (404 like the accounts API).
        view = customer.account_360(user=request.user, group=group)
        data = _serialize_360(view)
        data["contacts_by_account"] = _contacts_by_account(request.user, view)
        return Response(data)
