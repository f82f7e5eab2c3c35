"""Lookups that keep PostgreSQL's indexes usable where the stock ones do not.

``field__any_of=subquery``: ``field = ANY(ARRAY(subquery))``; ``field__any_of=[1, 2]``:
``field = ANY(%s::bigint[])``, the list bound as one array parameter.

Why not ``__in``: inside an OR, PostgreSQL plans ``x IN (SELECT …)`` as a hashed SubPlan filter,
which no index can serve, so a visibility rule like "owned by me OR split to me OR on my team's
groups" degrades to a scan of the whole organization. ``= ANY(ARRAY(SELECT …))`` is evaluated once
(an InitPlan) and is an ordinary indexable condition, so each branch of the OR becomes a bitmap
index scan and the planner can combine them (BitmapOr) or still walk an ordered index and filter,
whichever its estimates favour. Use it for subqueries that return a bounded set of ids.

A list: one SQL text whatever its length (``__in`` writes one placeholder per value), which a
statement built once and run again with other values (``crm.db.compiled``) needs. The array is
cast to the column's type: the comparison is then the column's own (indexable) operator.
"""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, Field, ForeignObject, Lookup, TextField


class AnyOf(Lookup):
    lookup_name = "any_of"

    def get_prep_lookup(self) -> Any:
        if isinstance(self.rhs, (list, tuple, set, frozenset)):
            field = self.lhs.output_field
            return [field.get_prep_value(v) for v in self.rhs]
        if not hasattr(self.rhs, "as_sql"):
            raise TypeError("__any_of takes a values() queryset of one column, or a list.")
        # As Django's __in does: a subquery's ordering (a model's default) is wasted work.
        self.rhs.clear_ordering(clear_default=True)
        return super().get_prep_lookup()

    # Params as a list, as Django 5.2 composes them (``lhs_params + rhs_params``); the stubs
    # follow Django 6's tuples.
    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if isinstance(self.rhs, list):
            field = self.lhs.output_field
            values = [field.get_db_prep_value(v, connection, prepared=True) for v in self.rhs]
            # A foreign key's db_type is its target's (bigint for the ids).
            return f"{lhs} = ANY(%s::{field.db_type(connection)}[])", [*lhs_params, values]
        rhs, rhs_params = self.process_rhs(compiler, connection)
        # process_rhs wraps a subquery in parentheses: ARRAY(SELECT …).
        return f"{lhs} = ANY(ARRAY{rhs})", [*lhs_params, *rhs_params]


# Relations keep their own lookup table (ForeignObject does not inherit Field's).
Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)


class _PatternComparison(Lookup):
    """``~>=~`` / ``~<~``: byte-wise comparison, served by a ``varchar_pattern_ops`` index.

    Why not ``__startswith``: its ``LIKE`` operator is not LEAKPROOF, and under row-level
    security PostgreSQL will not evaluate a non-leakproof condition before the policy, so it
    cannot be an index condition: a prefix search read every account of the organization. The
    pattern comparison operators are leakproof; ``x ~>=~ 'p' AND x ~<~ 'p' + 1`` is the prefix.
    """

    operator = ""

    # A list, as AnyOf.as_sql says.
    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} {self.operator} {rhs}", [*lhs_params, *rhs_params]


class PatternGte(_PatternComparison):
    lookup_name = "pattern_gte"
    operator = "~>=~"


class PatternLt(_PatternComparison):
    lookup_name = "pattern_lt"
    operator = "~<~"


for _field in (CharField, TextField):
    _field.register_lookup(PatternGte)
    _field.register_lookup(PatternLt)
