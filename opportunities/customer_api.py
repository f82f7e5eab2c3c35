"""API v1 of the 360° of an account group (``/api/v1/accounts/<id>/360/``): it reads deals, so it
lives above accounts; the shell routes it beside the accounts router.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import (
    AccountSerializer,
    AgreementSerializer,
    value_representation,
)
from accounts.models import AccountValue
from crm.drf import OrgScopedAPIMixin
from crm.http import AuthenticatedRequest
from crm.ids import parse_id
from opportunities import customer
from opportunities.customer import VALUE_FIELDS


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


def _contacts_by_account(view: Any) -> dict[str, list[dict[str, Any]]]:
    """The contacts of the accounts listed in full on this page of the group
    (``subsidiaries_by_country`` holds exactly those), read with the page itself
    (``account_360(subsidiaries_with_contacts=True)``) through the contacts' visibility as well:
    a top shown at need-to-know level is not among them, so none of its people are disclosed."""
    return {
        str(row.id): [
            {
                "id": c["id"],
                "full_name": c["full_name"],
                "title": c["title"] or "",
                "email": c["email"] or "",
                "phone": c["phone"] or "",
                "archived": c["archived_at"] is not None,
            }
            for c in row.listed_contacts or ()
        ]
        for row in view.subsidiaries.rows
    }


class SubsidiaryPageSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="This page (``?subsidiaries_page=N``).")
    per_page = serializers.IntegerField()
    count = serializers.IntegerField(help_text="The group's accounts the user sees, in all.")
    next = serializers.IntegerField(allow_null=True, help_text="The next page's number.")
    previous = serializers.IntegerField(allow_null=True)


class Account360Serializer(serializers.Serializer):
    """The schema of the 360° view (amounts in the corporate currency)."""

    group = AccountSerializer(
        help_text="The group's top account; only id, name and home_company when group_visible "
        "is false (the user sees accounts of the group, not its top)."
    )
    group_visible = serializers.BooleanField()
    subsidiaries_by_country = serializers.DictField(
        child=AccountSerializer(many=True),
        help_text="One page of the group's accounts the user sees (the group's top among them "
        "when visible), by country: the most valuable first for the roles that see customer "
        "value, else by name; ``subsidiaries_page`` says which page and how many in all.",
    )
    subsidiaries_page = SubsidiaryPageSerializer()
    accounts_per_country = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Per country, how many of the group's accounts the user sees.",
    )
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


def _value(row: Any) -> dict[str, Any] | None:
    """``accounts.api.value_representation`` of a values row's ``value__*`` columns (None
    before the account's first nightly refresh, or for a role that does not see values)."""
    if not hasattr(row, "value__as_of") or row.value__as_of is None:
        return None
    stored = SimpleNamespace(**{name: getattr(row, f"value__{name}") for name in VALUE_FIELDS})
    return value_representation(cast(AccountValue, stored))


def _account_rows(rows: list[Any]) -> list[dict[str, Any]]:
    """``AccountSerializer``'s representation of values rows (the same keys and formats,
    without a model instance per account)."""
    when = serializers.DateTimeField().to_representation
    return [
        {
            "id": r.id,
            "name": r.name,
            "country": r.country,
            "home_company": r.home_company_id,
            "parent": r.parent_id,
            "group": r.group_id,
            "registration_number": r.registration_number,
            "domain": r.domain,
            "industry": r.industry,
            "segment": r.segment,
            "lifecycle": r.lifecycle,
            "first_won_at": None if r.first_won_at is None else when(r.first_won_at),
            "created_at": when(r.created_at),
            "potential": None if r.potential is None else str(r.potential),
            "potential_source": r.potential_source,
            "segment_override": r.segment_override,
            "segment_reason": r.segment_reason,
            "value": _value(r),
        }
        for r in rows
    ]


def _activity_rows(activities: list[Any]) -> list[dict[str, Any]]:
    """``ActivitySerializer``'s output for the timeline's page (the same keys and formats; a
    test compares them), without building the serializer's fields on every request."""
    when = serializers.DateTimeField().to_representation

    def at(value: Any) -> Any:
        return None if value is None else when(value)

    return [
        {
            "id": a.pk,
            "kind": a.kind,
            "subject": a.subject,
            "notes": a.notes,
            "outcome": a.outcome,
            "happened_at": at(a.happened_at),
            "duration_minutes": a.duration_minutes,
            "due_at": at(a.due_at),
            "done_at": at(a.done_at),
            "owner": a.owner_id,
            "sales_company": a.sales_company_id,
            "account": a.account_id,
            "contact": a.contact_id,
            "opportunity": a.opportunity_id,
            "created_at": at(a.created_at),
        }
        for a in activities
    ]


def _team_rows(team: list[Any]) -> list[dict[str, Any]]:
    """``TeamMemberSerializer``'s output for the group's team (a test compares them)."""
    when = serializers.DateTimeField().to_representation
    return [
        {
            "id": m.pk,
            "account": m.account_id,
            "user": m.user_id,
            "sales_company": m.sales_company_id,
            "role": m.role,
            "added_at": None if m.added_at is None else when(m.added_at),
        }
        for m in team
    ]


def _serialize_360(view: Any) -> dict[str, Any]:
    plan = view.plan
    page = view.subsidiaries
    by_country: dict[str, list[dict[str, Any]]] = {}
    for row, data in zip(page.rows, _account_rows(page.rows), strict=True):
        by_country.setdefault(row.country, []).append(data)
    return {
        "group": AccountSerializer().to_representation(view.group)
        if view.group_visible
        else {
            "id": view.group.pk,
            "name": view.group.name,
            "home_company": view.group.home_company_id,
        },
        "group_visible": view.group_visible,
        "subsidiaries_by_country": by_country,
        "subsidiaries_page": {
            "number": page.number,
            "per_page": page.per_page,
            "count": page.count,
            "next": page.number + 1 if page.has_next else None,
            "previous": page.number - 1 if page.has_previous else None,
        },
        "accounts_per_country": view.accounts_per_country,
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
        "latest_activities": _activity_rows(view.latest_activities),
        "team": _team_rows(view.team),
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

    @extend_schema(
        responses={200: Account360Serializer},
        parameters=[
            OpenApiParameter(
                "subsidiaries_page",
                int,
                description="Which page of the group's accounts (and their contacts) to list.",
            )
        ],
    )
    def get(self, request: AuthenticatedRequest, pk: str) -> Response:
        group = parse_id(pk)
        if group is None:
            raise Http404("No account matches the given query.")
        # The account, its group and its visibility in one query (404 like the accounts API).
        view = customer.account_360(
            user=request.user,
            group=group,
            # The group's accounts a page at a time (the most valuable first): a group of 200
            # is no longer 200 accounts and their contacts in every answer.
            subsidiaries_page=request.query_params.get("subsidiaries_page"),
            subsidiaries_per_page=customer.API_SUBSIDIARY_PAGE_SIZE,
            subsidiaries_with_contacts=True,
        )
        data = _serialize_360(view)
        data["contacts_by_account"] = _contacts_by_account(view)
        return Response(data)
