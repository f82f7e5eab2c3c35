"""``crm.db.compiled.CompiledQuery``: a hot query's SQL built once by the ORM and run again with
other values gives what the ORM gives, binds its values (never formats them in), stays inside
the organization in scope, and is rebuilt when wall one's filter is switched off."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import JSONObject

from accounts.models import Account
from crm.db.compiled import CompiledQuery
from crm.scope import OrganizationScopeError, org_scope
from opportunities.models import Opportunity
from opportunities.situations import load_deal
from tests.accounts.factories import AccountFactory
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, OpportunityLineFactory

pytestmark = pytest.mark.django_db


def accounts_named(organization_id: int, prefix: Any) -> QuerySet[Account, Any]:
    return (
        Account.objects.for_org(organization_id)
        .filter(country="SE", name=prefix)
        .order_by("pk")
        .annotate(facts=JSONObject(name="name", country="country"))
        .values_list("pk", "name", "facts")
    )


def test_rows_equal_the_orms_for_other_values(world: World) -> None:
    query = CompiledQuery(accounts_named, "organization_id", "prefix", scope="organization_id")
    mine = [
        AccountFactory(organization=world.org, home_company=world.se, name="Delta", country="SE")
        for _ in range(3)
    ]
    AccountFactory(organization=world.org, home_company=world.se, name="Echo", country="SE")
    with org_scope(world.org):
        for prefix in ("Delta", "Echo", "Nobody"):
            # The JSON column comes back decoded, as the ORM's converters give it.
            assert query.rows(organization_id=world.org.pk, prefix=prefix) == list(
                accounts_named(world.org.pk, prefix)
            )
        # The value is bound, not formatted into the SQL: a quote is just a character.
        assert query.rows(organization_id=world.org.pk, prefix="x' OR '1'='1") == []
    assert len(query.rows.__self__._compiled) == 1  # type: ignore[attr-defined]
    assert {r[0] for r in accounts_named(world.org.pk, "Delta")} == {a.pk for a in mine}


def test_another_organizations_rows_never_come_back(world: World) -> None:
    query = CompiledQuery(accounts_named, "organization_id", "prefix", scope="organization_id")
    AccountFactory(
        organization=world.other_org, home_company=world.other_company, name="Zulu", country="SE"
    )
    with org_scope(world.org):
        assert query.rows(organization_id=world.org.pk, prefix="Zulu") == []
        # Another organization than the one in scope is refused, as by the tenant managers.
        with pytest.raises(OrganizationScopeError):
            query.rows(organization_id=world.other_org.pk, prefix="Zulu")
    with org_scope(world.other_org):
        assert [r[1] for r in query.rows(organization_id=world.other_org.pk, prefix="Zulu")] == [
            "Zulu"
        ]


def test_a_value_formatted_into_the_sql_or_into_a_pattern_is_refused(world: World) -> None:
    def inlined(organization_id: int, other: int) -> QuerySet[Account, Any]:
        return (
            Account.objects.for_org(organization_id)
            .annotate(other=RawSQL(f"{int(other)}", []))
            .values_list("pk", "other")
        )

    def pattern(organization_id: int, prefix: int) -> QuerySet[Account, Any]:
        return Account.objects.for_org(organization_id).filter(name__startswith=prefix)

    for build, name in ((inlined, "other"), (pattern, "prefix")):
        query = CompiledQuery(build, "organization_id", name, scope="organization_id")
        with org_scope(world.org), pytest.raises(ValueError, match=name):
            query.rows(organization_id=world.org.pk, **{name: 3})


def test_the_values_must_all_be_given(world: World) -> None:
    query = CompiledQuery(accounts_named, "organization_id", "prefix", scope="organization_id")
    with org_scope(world.org), pytest.raises(TypeError):
        query.rows(organization_id=world.org.pk)


def test_wall_ones_filter_switched_off_gets_its_own_sql(world: World) -> None:
    query = CompiledQuery(accounts_named, "organization_id", "prefix", scope="organization_id")
    with org_scope(world.org):
        on = query.compiled()
        old = getattr(settings, "MERIDIAN_ORM_TENANT_FILTER", True)
        settings.MERIDIAN_ORM_TENANT_FILTER = False
        try:
            off = query.compiled()
        finally:
            settings.MERIDIAN_ORM_TENANT_FILTER = old
    assert on.slots["organization_id"] and not off.slots["organization_id"]
    assert on.sql != off.sql


def test_load_deal_gives_the_deal_as_select_related_would(world: World) -> None:
    account = AccountFactory(organization=world.org, home_company=world.se)
    opp = OpportunityFactory(account=account, owner=world.rep_se)
    OpportunityLineFactory(opportunity=opp, discount_percent=Decimal("7.50"))
    with org_scope(world.org):
        facts = load_deal(world.org.pk, opp.pk)
        orm = (
            Opportunity.objects.for_org(world.org)
            .select_related("account", "sales_company", "global_stage", "organization")
            .get(pk=opp.pk)
        )
        with pytest.raises(Opportunity.DoesNotExist):
            load_deal(world.org.pk, opp.pk + 10_000)
        line_product = opp.lines.get().product_id
    loaded = facts.opportunity
    for name in ("name", "amount", "currency", "expected_close_date", "version", "created_at"):
        assert getattr(loaded, name) == getattr(orm, name), name
    assert loaded.account.name == orm.account.name
    assert loaded.sales_company.country == orm.sales_company.country
    assert loaded.global_stage.is_won == orm.global_stage.is_won
    assert loaded.organization.corporate_currency == orm.organization.corporate_currency
    assert facts.lines == [(line_product, Decimal("7.50"))]
    assert not loaded._state.adding and loaded._state.db == "default"


def test_dates_and_arrays_are_bound_values(world: World) -> None:
    """A date and a list (one ``= ANY(%s)`` parameter whatever its length) as named values."""
    import datetime as dt

    def created(organization_id: int, since: Any, ids: Any) -> QuerySet[Account, Any]:
        return (
            Account.objects.for_org(organization_id)
            .filter(created_at__date__gte=since, pk__any_of=ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )

    query = CompiledQuery(
        created, "organization_id", "since", "ids", scope="organization_id",
        dates=("since",), arrays=("ids",),
    )  # fmt: skip
    accounts = [AccountFactory(organization=world.org, home_company=world.se) for _ in range(3)]
    today = accounts[0].created_at.date()
    with org_scope(world.org):
        for since, ids in (
            (today, [a.pk for a in accounts]),
            (today, [accounts[1].pk]),
            (today + dt.timedelta(days=1), [a.pk for a in accounts]),
            (today, []),
        ):
            got = query.rows(organization_id=world.org.pk, since=since, ids=ids)
            assert [r[0] for r in got] == list(created(world.org.pk, since, ids)), (since, ids)
        with pytest.raises(TypeError):
            query.rows(organization_id=world.org.pk, since="2026-01-01", ids=[])


def test_datetimes_are_bound_values(world: World) -> None:
    """An aware datetime (a cursor's position) as a named value, bound as ``timestamptz``:
    the same rows as the queryset for positions before, at and after the rows' own times, in
    UTC and in another zone; a naive datetime or text is refused."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    def before(organization_id: int, at: Any) -> QuerySet[Account, Any]:
        return (
            Account.objects.for_org(organization_id)
            .filter(created_at__lt=at)
            .order_by("-created_at", "-pk")
            .values_list("pk", flat=True)
        )

    query = CompiledQuery(before, "organization_id", "at", scope="organization_id",
                          datetimes=("at",))  # fmt: skip
    accounts = [AccountFactory(organization=world.org, home_company=world.se) for _ in range(3)]
    with org_scope(world.org):
        times = sorted(a.created_at for a in Account.objects.for_org(world.org.pk).filter(
            pk__in=[a.pk for a in accounts]))  # fmt: skip
        for at in (
            times[0],
            times[-1],
            times[-1] + dt.timedelta(microseconds=1),
            times[1].astimezone(ZoneInfo("Asia/Kolkata")),
            dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        ):
            got = [r[0] for r in query.rows(organization_id=world.org.pk, at=at)]
            assert got == list(before(world.org.pk, at)), at
        assert len(query.rows(organization_id=world.org.pk, at=times[-1])) >= 2
        for wrong in (dt.datetime(2026, 1, 1), "2026-01-01 00:00:00+00:00", dt.date(2026, 1, 1)):
            with pytest.raises(TypeError):
                query.rows(organization_id=world.org.pk, at=wrong)


def test_count_counts_the_querysets_rows_as_the_orm_does(world: World) -> None:
    """``count=True``: the sliced queryset's rows counted in SQL, as ``QuerySet.count()``."""

    def first_three(organization_id: int, prefix: Any) -> QuerySet[Account, Any]:
        return accounts_named(organization_id, prefix)[:3]

    query = CompiledQuery(
        first_three, "organization_id", "prefix", scope="organization_id", count=True
    )
    for n in range(5):
        AccountFactory(
            organization=world.org, home_company=world.se, name=f"N{n % 2}", country="SE"
        )
    with org_scope(world.org):
        for prefix in ("N0", "N1", "Nobody"):
            assert query.rows(organization_id=world.org.pk, prefix=prefix) == [
                (first_three(world.org.pk, prefix).count(),)
            ]
        assert query.rows(organization_id=world.org.pk, prefix="N0") == [(3,)]  # capped at 3
        assert query.rows(organization_id=world.org.pk, prefix="N1") == [(2,)]
    assert query.compiled().sql.startswith("SELECT COUNT(*) FROM (")


def test_only_the_values_a_run_binds_are_arguments_of_the_execute(world) -> None:
    """A query's constants are written into the PREPARE (as the literal client-side binding
    sent), a typed slot is one argument however often the SQL uses it: the EXECUTE carries
    only the run's values (psycopg formats each argument of each run in Python)."""
    from opportunities.situations import _DEAL_QUERY

    with org_scope(world.org):
        compiled = _DEAL_QUERY.compiled()
    placeholders = compiled.execute_sql.count("%s")
    assert placeholders == len(compiled.arguments)
    assert {name for name, _index in compiled.arguments} == {
        name for name, positions in compiled.slots.items() if positions
    }
    assert placeholders < sum(map(len, compiled.slots.values())) < len(compiled.params)
    assert "$" + str(placeholders + 1) not in compiled.prepare_sql
