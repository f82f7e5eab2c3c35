"""The 360° API's lean path (``account_360(lean=True)``: the timeline and the team as values rows,
every row written by ``customer_api._Writer``, issue 21) answers the same bytes as DRF's
serializers over model instances (the answer as it was built before: ``AccountSerializer`` for
the group and each listed account, ``ActivitySerializer``, ``TeamMemberSerializer``,
``AgreementSerializer``): for the director, a country manager, reps on and off the team, a
user who sees a subsidiary but not the group's top, in several time zones and languages, on
every page of the group's accounts; another organization's user gets the same 404."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate

from accounts import services
from accounts.api import (
    AccountSerializer,
    ActivitySerializer,
    AgreementSerializer,
    TeamMemberSerializer,
)
from accounts.models import Account, AccountValue, TeamRole
from accounts.value import may_see_customer_value
from crm.ids import parse_id
from crm.models import User
from opportunities import customer
from opportunities.customer_api import Account360View, _contacts_by_account
from reporting import customer_value as cv
from tests.conftest import World
from tests.opportunities.test_customer import TODAY, build_group, rates

pytestmark = pytest.mark.django_db


def _reference_answer(view: customer.Account360, user: User) -> dict[str, Any]:
    """The answer through DRF's serializers over model instances (a non-lean 360°, the
    listed accounts read as instances with their stored value joined where the role sees
    it)."""
    assert not view.lean
    page = view.subsidiaries
    assert page is not None
    accounts = Account.objects.for_org(user.organization_id)
    if may_see_customer_value(user):
        accounts = accounts.select_related("value")
    found = accounts.in_bulk([r.id for r in page.rows])
    by_country: dict[str, list[Any]] = {}
    for row in page.rows:
        by_country.setdefault(row.country, []).append(
            AccountSerializer().to_representation(found[row.id])
        )
    plan = view.plan
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
        "contacts_by_account": _contacts_by_account(view),
    }


class _ReferenceView(Account360View):
    """The 360° API through the serializers over instances (the same access and 404s)."""

    def get(self, request: Request, pk: str) -> Response:  # type: ignore[override]
        group = parse_id(pk)
        if group is None:
            raise Http404("No account matches the given query.")
        view = customer.account_360(
            user=request.user,
            group=group,
            subsidiaries_page=request.query_params.get("subsidiaries_page"),
            subsidiaries_per_page=customer.API_SUBSIDIARY_PAGE_SIZE,
            subsidiaries_with_contacts=True,
        )
        return Response(_reference_answer(view, request.user))


VIEWS = {"lean": Account360View.as_view(), "reference": _ReferenceView.as_view()}


def _get(view: str, user: User, pk: object, query: str = "") -> tuple[int, bytes, int]:
    request = APIRequestFactory().get(f"/api/v1/accounts/{pk}/360/{query}")
    force_authenticate(request, user=user)
    with CaptureQueriesContext(connection) as ctx:
        response = VIEWS[view](request, pk=str(pk))
        response.render()
    return response.status_code, response.content, len(ctx.captured_queries)


ZONES = [
    ("UTC", "en"),
    ("Europe/Stockholm", "sv"),
    ("America/New_York", "de"),
    ("Asia/Kolkata", "en"),
]


@pytest.fixture
def top(world: World, monkeypatch: pytest.MonkeyPatch) -> Account:
    rates(world)
    top = build_group(world, 9)
    subs = list(Account.objects.for_org(world.org).filter(parent=top).order_by("pk"))
    # Filled and empty optional fields, text the JSON encoder escapes, a tie of happened_at
    # (ordered by id), timestamps on a DST night and at a microsecond before midnight.
    night = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)
    services.activity_log(
        account=subs[0],
        kind="task",
        subject='Ring "Åsa" \\ 株式会社 📞\u2028',
        notes="line\nline\ttab\x01",
        outcome="Offert <skickad>",
        owner=world.rep_se,
        due_at=night,
        done_at=dt.datetime(2026, 10, 25, 0, 59, 59, 999999, tzinfo=dt.UTC),
        happened_at=night,
        duration_minutes=45,
        acting_user=None,
    )
    services.activity_log(
        account=subs[1],
        kind="meeting",
        subject="Same moment",
        owner=world.rep_dk,
        happened_at=night,
        acting_user=None,
    )
    services.team_member_add(
        group=top, user=world.manager_se, role=TeamRole.KEY_ACCOUNT_MANAGER, acting_user=None
    )
    Account.objects.for_org(world.org).filter(pk=subs[2].pk).update(
        first_won_at=dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC),
        potential=Decimal("12345678.90"),
        registration_number="DK-123",
        domain="example.dk",
        industry="Stål & Järn",
    )
    # A second agreement of the group: three companies (listed by name, not as given), no
    # tiers, notes the encoder escapes; the first (build_group's) has three tiers.
    services.agreement_create(
        group=top,
        name='Ramavtal 2025 — "gamla"',
        valid_from=dt.date(2025, 1, 1),
        valid_to=dt.date(2025, 12, 31),
        covered_companies=[world.se, world.de, world.dk],
        incoterm="EXW",
        payment_terms="30 dagar",
        legal_notes={"SE": "Svensk rätt\n§ 3", "DK": ""},
        acting_user=world.director,
    )
    cv.refresh_account_values(organization=world.org, as_of=TODAY)
    # An account whose stored value has no wins yet and one with none stored at all (before
    # its first nightly refresh): null timestamps and a null value.
    AccountValue.objects.for_org(world.org).filter(account=subs[3]).update(
        first_win_at=None, last_win_at=None
    )
    AccountValue.objects.for_org(world.org).filter(account=subs[4]).delete()
    # Small pages: the walk crosses several of them.
    monkeypatch.setattr(customer, "API_SUBSIDIARY_PAGE_SIZE", 4)
    return top


WHO = ["director", "manager_se", "regional", "rep_se", "rep_dk", "rep_de", "marketing"]


@pytest.mark.parametrize("who", WHO)
def test_every_answer_is_the_serializers_bytes(world: World, top: Account, who: str) -> None:
    user = getattr(world, who)
    subs = Account.objects.for_org(world.org).filter(parent=top).order_by("pk")
    # A subsidiary of the user's own company (a rep off the team sees it, not the top).
    subsidiary = subs.filter(home_company_id=user.sales_company_id).first() or subs.first()
    assert subsidiary is not None
    seen = set()
    for zone, language in ZONES:
        with timezone.override(zone), translation.override(language):
            for pk, query in [
                (top.pk, ""),
                (top.pk, "?subsidiaries_page=2"),
                (top.pk, "?subsidiaries_page=3"),
                (top.pk, "?subsidiaries_page=99"),
                (top.pk, "?subsidiaries_page=x"),
                (subsidiary.pk, ""),
            ]:
                lean = _get("lean", user, pk, query)
                reference = _get("reference", user, pk, query)
                assert lean[:2] == reference[:2], (who, zone, pk, query)
                seen.add(lean[0])
                if lean[0] == 200:
                    body = lean[1].decode()
                    assert '"latest_activities":[{' in body or who.startswith("marketing")
    assert 200 in seen or who == "marketing"
    if who == "rep_de":
        # The need-to-know top: the group shown by name only.
        body = _get("lean", user, subsidiary.pk)[1].decode()
        assert '"group_visible":false' in body


def test_the_answers_hold_what_the_bytes_are_compared_on(world: World, top: Account) -> None:
    # The comparison above is only as good as what the answers contain: here they hold the
    # escapes, nulls, the zone's offsets and a stored value with its group's figures.
    with timezone.override("Asia/Kolkata"):
        answers = [
            _get("lean", world.director, top.pk, f"?subsidiaries_page={n}") for n in (1, 2, 3)
        ]
    assert {status for status, _body, _queries in answers} == {200}
    text = "".join(body.decode() for _status, body, _queries in answers)
    assert "\\u2028" in text and "\\t" in text and "\\u0001" in text and "株式会社" in text
    assert '"done_at":"2026-10-25T06:29:59.999999+05:30"' in text
    assert '"due_at":null' in text and '"duration_minutes":45' in text
    assert '"first_win_at":null' in text and '"value":null' in text
    assert '"group":{"lifetime_value":"' in text and '"potential":"12345678.90"' in text
    assert '"tiers":[]' in text and '"discount_percent":"3.50"' in text
    assert '"threshold":"100000.00"' in text and "Svensk rätt\\n§ 3" in text
    with timezone.override("UTC"):
        text = _get("lean", world.director, top.pk)[1].decode()
    assert '"happened_at":"2026-03-29T00:30:00Z"' in text


@pytest.mark.parametrize("who", ["director", "manager_se", "rep_se"])
def test_the_lean_path_runs_the_same_queries_whatever_the_size(
    world: World, top: Account, who: str
) -> None:
    user = getattr(world, who)
    small = build_group(world, 2)
    counts = {_get("lean", user, group.pk)[2] for group in (top, small)}
    assert len(counts) == 1, counts


def test_another_organizations_user_gets_the_same_404(world: World, top: Account) -> None:
    for pk in (top.pk, 0, 10**9, "x"):
        lean = _get("lean", world.stranger, pk)
        assert lean[0] == 404
        assert lean[:2] == _get("reference", world.stranger, pk)[:2]


def test_the_lean_rows_are_the_instances_fields(world: World, top: Account) -> None:
    # The values rows carry what the instances held, in the same order.
    for user in (world.director, world.manager_se, world.rep_se):
        lean = customer.account_360(user=user, group=top.pk, lean=True)
        full = customer.account_360(user=user, group=top.pk)
        assert lean.lean and not full.lean
        assert [a.id for a in lean.latest_activities] == [a.pk for a in full.latest_activities]
        for row, activity in zip(lean.latest_activities, full.latest_activities, strict=True):
            assert tuple(row) == tuple(getattr(activity, name) for name in customer.TIMELINE_FIELDS)
        assert [tuple(m) for m in lean.team] == [
            tuple(getattr(m, name) for name in customer.TEAM_FIELDS) for m in full.team
        ]
        assert lean.timeline is not None and full.timeline is not None
        assert lean.timeline.has_next == full.timeline.has_next


def test_the_lean_path_past_the_statement_bound_is_the_same(
    world: World, top: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past MAX_STATEMENTS the reads take the ORM path: the same bytes.
    compiled = _get("lean", world.director, top.pk)
    monkeypatch.setattr(customer, "MAX_STATEMENTS", 0)
    monkeypatch.setattr(customer, "_STATEMENTS", {})
    assert _get("lean", world.director, top.pk)[:2] == compiled[:2]
    assert _get("reference", world.director, top.pk)[:2] == compiled[:2]
