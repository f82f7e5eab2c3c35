"""``crm.db.bulk_insert.compiled_insert`` against ``QuerySet.bulk_create`` it replaces in
``opportunity_persist``: the same rows, byte for byte (every column as PostgreSQL's JSON of the
row, generated and trigger-set columns included), and the same history rows; values of other
Python types are prepared by the field as bulk_create prepares them; row-level security and the
organization in scope hold."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pghistory
import pytest
from django.db import DatabaseError, connection, transaction

from crm.db.bulk_insert import compiled_insert
from crm.scope import OrganizationScopeError
from crm.tenancy import org_scope
from opportunities.models import Opportunity, OpportunityLine, OpportunitySplit, StageChange
from opportunities.services import LineInput, OpportunityDraft, opportunity_build
from tests.accounts.factories import make_account
from tests.opportunities.factories import ProductFactory, process_for, stage_for

# Columns that differ between two inserts of the same rows: their own ids and the deal's.
_IDS = ("id", "opportunity_id", "pgh_id", "pgh_obj_id")


def _rows(model: Any, ids: list[int], key: str = "id") -> list[str]:
    """Each row as PostgreSQL's text of its JSON without the ids: numerics keep their scale
    (2.50 is not 2.5), every column is in it."""
    table, pk = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (to_jsonb(t) - %s::text[])::text FROM {table} t "
            f"WHERE {key} = ANY(%s) ORDER BY {key}, {pk}",
            [list(_IDS), ids],
        )
        return [r[0] for r in cursor.fetchall()]


def _drafts(world: Any) -> list[OpportunityDraft]:
    process_for(world.se)
    account = make_account(organization=world.org, home_company=world.se, name="Alfa AB")
    sek = ProductFactory(
        organization=world.org, sku="P-1", list_price=Decimal("100"), currency="SEK"
    )
    eur = ProductFactory(
        organization=world.org, sku="P-2", list_price=Decimal("40"), currency="EUR"
    )
    drafts = []
    for i, lines in enumerate(
        [
            [],
            [LineInput(product=sek, quantity=Decimal(2), unit_price=Decimal("100.50"))],
            [
                LineInput(product=sek, quantity=Decimal("1.5"), discount_percent=Decimal(10)),
                LineInput(product=eur, quantity=Decimal(3), unit_price=Decimal("7")),
            ],
        ]
    ):
        with transaction.atomic():  # the build locks the stage
            draft = opportunity_build(
                acting_user=world.manager_se,
                account=account,
                name=f"Deal {i}  ",
                owner=world.rep_se,
                amount=Decimal("1234.5") if not lines else None,
                local_stage=stage_for(world.se, "Develop"),
                next_step="Call" if i else "",
                delivery_country="de" if i == 2 else None,
                lines=lines,
            )
        drafts.append(draft)
    return drafts


def _write(drafts: list[OpportunityDraft], *, compiled: bool) -> list[int]:
    def insert(model: Any, objs: list[Any]) -> None:
        if compiled:
            compiled_insert(model).insert(objs)
        else:
            model.objects.bulk_create(objs)

    insert(Opportunity, [d.opportunity for d in drafts])
    for d in drafts:
        for line in d.lines:
            line.opportunity = d.opportunity
        d.split.opportunity = d.opportunity
        d.stage_change.opportunity = d.opportunity
    insert(OpportunityLine, [ln for d in drafts for ln in d.lines])
    insert(OpportunitySplit, [d.split for d in drafts])
    insert(StageChange, [d.stage_change for d in drafts])
    return [d.opportunity.pk for d in drafts]


def _left(ids: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {"deals": _rows(Opportunity, ids)}
    for model in (OpportunityLine, OpportunitySplit, StageChange):
        out[model.__name__] = _rows(model, ids, key="opportunity_id")
    for model, key in (
        (Opportunity, "pgh_obj_id"),
        (OpportunityLine, "opportunity_id"),
        (OpportunitySplit, "opportunity_id"),
    ):
        events = model._meta.get_field("events").related_model  # type: ignore[attr-defined]
        out[f"{model.__name__} history"] = _rows(events, ids, key=key)
    return out


@pytest.mark.django_db
def test_compiled_insert_writes_bulk_creates_rows_and_history(world: Any) -> None:
    with org_scope(world.org):
        drafts = _drafts(world)
        twins = copy.deepcopy(drafts)
        with pghistory.context(note="imported from old.csv"):
            old = _write(drafts, compiled=False)
            new = _write(twins, compiled=True)
        assert len(set(old) | set(new)) == 6
        before, after = _left(old), _left(new)
    assert json.loads(before["deals"][2])["delivery_country"] == "DE"
    assert len(before["OpportunityLine"]) == 3 and len(before["Opportunity history"]) == 3
    assert json.loads(before["Opportunity history"][0])["pgh_label"] == "insert"
    assert before == after
    # The instances are saved as after bulk_create: ids, and their lines point at them.
    for d in twins:
        assert d.opportunity.pk and not d.opportunity._state.adding
        assert all(ln.pk and ln.opportunity_id == d.opportunity.pk for ln in d.lines)


@pytest.mark.django_db
def test_values_of_other_types_are_prepared_as_bulk_create_prepares_them(world: Any) -> None:
    """A float, a text or an int where a decimal is due, an int for a text: the field's
    ``get_db_prep_save``, not the value as it is."""
    with org_scope(world.org):
        drafts = _drafts(world)[2:]
        twins = copy.deepcopy(drafts)
        for d in (*drafts, *twins):
            d.opportunity.next_step = 42  # type: ignore[assignment]
            d.lines[0].quantity = 2.5  # type: ignore[assignment]
            d.lines[0].unit_price = "19.90"  # type: ignore[assignment]
            d.lines[1].discount_percent = 5  # type: ignore[assignment]
        before, after = _left(_write(drafts, compiled=False)), _left(_write(twins, compiled=True))
    assert json.loads(before["deals"][0])["next_step"] == "42"
    assert ['"unit_price": 19.90' in ln for ln in before["OpportunityLine"]] == [True, False]
    assert before == after


@pytest.mark.django_db
def test_compiled_insert_refuses_another_organization_and_saved_rows(world: Any) -> None:
    with org_scope(world.org):
        (draft,) = _drafts(world)[:1]
    with org_scope(world.other_org), pytest.raises(OrganizationScopeError):
        compiled_insert(Opportunity).insert([draft.opportunity])
    with org_scope(world.org):
        compiled_insert(Opportunity).insert([draft.opportunity])
        with pytest.raises(ValueError, match="new rows only"):
            compiled_insert(Opportunity).insert([draft.opportunity])


@pytest.mark.django_db(transaction=True)
def test_compiled_insert_holds_under_row_level_security(world: Any) -> None:
    """As the application role: the row goes in with its organization set, and without one
    in scope (the guard of the organization in scope not asked) RLS refuses it."""
    from tests.crm.test_rls import as_app_role

    with org_scope(world.org):
        drafts = _drafts(world)[:2]
    with as_app_role(orm_filter=False):
        with org_scope(world.org):
            compiled_insert(Opportunity).insert([drafts[0].opportunity])
            assert Opportunity.objects.filter(pk=drafts[0].opportunity.pk).exists()
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            compiled_insert(Opportunity).insert([drafts[1].opportunity])
