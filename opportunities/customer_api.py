"""API v1 of the 360° of an account group (``/api/v1/accounts/<id>/360/``): it reads deals, so it
lives above accounts; the shell routes it beside the accounts router.
"""

from __future__ import annotations

import datetime as dt
from decimal import Context, Decimal
from typing import Any

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import AccountSerializer
from accounts.models import Account
from accounts.value import joined_value
from crm.drf import OrgScopedAPIMixin
from crm.http import AuthenticatedRequest
from crm.ids import parse_id
from crm.money import money
from opportunities import customer
from opportunities.api import iso_datetime
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


def _money(value: Decimal | None) -> str | None:
    # ``accounts.api.value_representation``'s money: rounded to the cent, null where missing.
    return None if value is None else str(money(value))


# ``TierSerializer``'s decimal fields: two places, at most 16 (money) or 5 (a percentage) digits,
# quantized as DRF's ``DecimalField`` does (its context's precision, the default rounding).
_CENTS = Decimal("0.01")
_MONEY_DIGITS = Context(prec=16)
_PERCENT_DIGITS = Context(prec=5)


def _decimal(value: Decimal, context: Context) -> str:
    return f"{value.quantize(_CENTS, context=context):f}"


# The stored value's columns of a subsidiary row (``value__*``), in ``VALUE_FIELDS``' order.
_ROW_VALUE_FIELDS = tuple(f"value__{name}" for name in VALUE_FIELDS)


class _Writer:
    """The 360° answer's rows as DRF's serializers write them (``AccountSerializer``,
    ``ActivitySerializer``, ``TeamMemberSerializer``: the same keys, order and formats; a test
    compares the rendered bytes), from values rows and the pair's instances, without a
    serializer's fields. Each distinct timestamp and stored value is written once per answer:
    the group's own figures ride along on every listed account's stored value."""

    def __init__(self) -> None:
        self.zone = timezone.get_current_timezone()
        self._drf: dict[dt.datetime, str] = {}
        self._local: dict[dt.datetime, str] = {}
        self._group_values: dict[tuple[Any, ...], dict[str, Any]] = {}

    def at(self, value: dt.datetime | None) -> str | None:
        """DRF's ``DateTimeField`` (iso-8601): the active zone, UTC written as "Z"."""
        if value is None:
            return None
        text = self._drf.get(value)
        if text is None:
            text = self._drf[value] = iso_datetime(value, self.zone)
        return text

    def _local_at(self, value: dt.datetime | None) -> str | None:
        """``accounts.api.value_representation``'s timestamps: the active zone, "+00:00"."""
        if value is None:
            return None
        text = self._local.get(value)
        if text is None:
            text = self._local[value] = value.astimezone(self.zone).isoformat()
        return text

    def value(self, stored: tuple[Any, ...]) -> dict[str, Any] | None:
        """``value_representation`` of the stored value's ``VALUE_FIELDS`` (None before the
        account's first nightly refresh: no ``as_of``)."""
        (as_of, lifetime, won, weighted, r12, first, last, missing, *group) = stored
        if as_of is None:
            return None
        key = tuple(group)
        group_part = self._group_values.get(key)
        if group_part is None:
            g_lifetime, g_won, g_weighted, g_r12, g_first, g_last, g_missing = group
            group_part = self._group_values[key] = {
                "lifetime_value": _money(g_lifetime),
                "won_revenue": _money(g_won),
                "weighted_pipeline": _money(g_weighted),
                "revenue_12m": _money(g_r12),
                "first_win_at": self._local_at(g_first),
                "last_win_at": self._local_at(g_last),
                "missing_rate": g_missing,
            }
        return {
            "as_of": as_of.isoformat(),
            "lifetime_value": _money(lifetime),
            "won_revenue": _money(won),
            "weighted_pipeline": _money(weighted),
            "revenue_12m": _money(r12),
            "first_win_at": self._local_at(first),
            "last_win_at": self._local_at(last),
            "missing_rate": missing,
            # One dict for the whole group: the renderer writes it out for each account.
            "group": group_part,
        }

    def account(self, a: Any, value: dict[str, Any] | None) -> dict[str, Any]:
        """``AccountSerializer``'s representation of an account (an instance, or a values row
        of ``SUBSIDIARY_FIELDS``: the same attribute names)."""
        at = self.at
        return {
            "id": a.id,
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
            "first_won_at": at(a.first_won_at),
            "created_at": at(a.created_at),
            "potential": None if a.potential is None else str(a.potential),
            "potential_source": a.potential_source,
            "segment_override": a.segment_override,
            "segment_reason": a.segment_reason,
            "value": value,
        }

    def group(self, account: Account) -> dict[str, Any]:
        """The group's top (the pair's instance, its stored value joined or not at all)."""
        stored = joined_value(account)
        value = (
            None
            if stored is None
            else self.value(tuple(getattr(stored, name) for name in VALUE_FIELDS))
        )
        return self.account(account, value)

    def accounts(self, rows: list[Any]) -> list[dict[str, Any]]:
        """The page's values rows (``value__*`` only for the roles that see customer value)."""
        if rows and not hasattr(rows[0], "value__as_of"):
            return [self.account(r, None) for r in rows]
        fields = _ROW_VALUE_FIELDS
        return [self.account(r, self.value(tuple(getattr(r, f) for f in fields))) for r in rows]

    def activities(self, rows: list[Any]) -> list[dict[str, Any]]:
        """``ActivitySerializer``'s output for ``TIMELINE_FIELDS`` rows."""
        at = self.at
        return [
            {
                "id": a.id,
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
            for a in rows
        ]

    def agreements(self, view: Any) -> list[dict[str, Any]]:
        """``AgreementSerializer``'s output for a lean 360°'s agreements (their tiers and
        companies read beside them): dates ISO, the tiers' decimals as its fields quantize."""
        tiers, covered = view.agreement_tiers, view.agreement_companies
        return [
            {
                "id": a.pk,
                "account": a.account_id,
                "name": a.name,
                "valid_from": a.valid_from.isoformat(),
                "valid_to": a.valid_to.isoformat(),
                "covered_companies": covered[a.pk],
                "incoterm": a.incoterm,
                "payment_terms": a.payment_terms,
                "legal_notes": a.legal_notes,
                "tiers": [
                    {
                        "threshold": _decimal(threshold, _MONEY_DIGITS),
                        "discount_percent": _decimal(percent, _PERCENT_DIGITS),
                    }
                    for threshold, percent in tiers[a.pk]
                ],
            }
            for a in view.agreements
        ]

    def team(self, rows: list[Any]) -> list[dict[str, Any]]:
        """``TeamMemberSerializer``'s output for ``TEAM_FIELDS`` rows."""
        at = self.at
        return [
            {
                "id": m.id,
                "account": m.account_id,
                "user": m.user_id,
                "sales_company": m.sales_company_id,
                "role": m.role,
                "added_at": at(m.added_at),
            }
            for m in rows
        ]


def _serialize_360(view: Any) -> dict[str, Any]:
    """The answer of a ``lean`` 360° (its timeline and team values rows)."""
    if not view.lean:
        raise ValueError("The API writes a lean 360° (account_360(lean=True)).")
    write = _Writer()
    plan = view.plan
    page = view.subsidiaries
    by_country: dict[str, list[dict[str, Any]]] = {}
    for row, data in zip(page.rows, write.accounts(page.rows), strict=True):
        by_country.setdefault(row.country, []).append(data)
    return {
        "group": write.group(view.group)
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
        "latest_activities": write.activities(view.latest_activities),
        "team": write.team(view.team),
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
        "agreements": write.agreements(view),
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
            # The timeline and the team as values: the answer writes their fields, no more.
            lean=True,
        )
        data = _serialize_360(view)
        data["contacts_by_account"] = _contacts_by_account(view)
        return Response(data)
