"""``AnyOfSources``: "the row comes from one of these sources", ranked per source before the join.

A sales rep sees a few thousand deals of the organization's million, gathered from several
sources: owned, split to, on a team group, shared. As one OR (a BitmapOr of index scans), every
candidate row is fetched from the heap and joined to its account and stages before the sort
keeps the first page: at 1M that was the rep's list floor of 58-86 ms, for 50 rows.

When the query asking is sliced and ordered (a page: ``[offset:offset + n]``, a cursor page),
only the first ``offset + n`` rows of each source can reach the page, whatever
the other sources hold: a row on the page is also among the first ``offset + n`` of every source
that holds it, in the same order and under the same filters. So each source is asked for its own
first ``k = offset + n`` ids under the page's filters and ordering (an ordered index scan that
stops after k rows), the union of those few ids is sorted and cut to k, and only then does the
page's query join and filter them, as before. A source can also be split per value of a small
set (the rep's team groups: one ordered scan per group, ``LATERAL``), where one ordered scan
cannot serve the whole set. The result is the same rows in the same order: the page's own
conditions still apply to the candidates.

Unsliced or unordered (a capped count: no source can stop early, and the plain OR counted
faster at 1M), or where the rewrite cannot be sure to hold (grouped, distinct or extra-ordered
queries, ordering by expressions, the condition not at the top level of the WHERE, a correlated
subquery), it compiles to the plain OR of the sources, which is what the policy was before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import BooleanField, Expression, F, Q, QuerySet
from django.db.models.expressions import Col, RawSQL
from django.db.models.sql.query import Query
from django.db.models.sql.where import AND, WhereNode


@dataclass(frozen=True)
class Source:
    """The rows of one source: ``q`` on the model; or, with ``per``, one ordered scan per
    value of the values() queryset ``per`` (few values), matched by ``field`` (which the
    model's index leads with, after the organization), while ``q`` is the same set as a
    condition (what the unsliced form uses)."""

    q: Q
    field: str = ""
    per: QuerySet[Any] | None = None


class AnyOfSources(Expression):
    conditional = True
    output_field = BooleanField()

    def __init__(self, *sources: Source) -> None:
        super().__init__(output_field=BooleanField())
        self.sources = sources
        self.fallback: Any = None

    def __repr__(self) -> str:
        return f"AnyOfSources({len(self.sources)} sources)"

    # The resolved plain form is the source expression: relabeling (this query used as a
    # subquery, its aliases renamed) must reach it.
    def get_source_expressions(self) -> list[Any]:
        return [] if self.fallback is None else [self.fallback]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        if exprs:
            (self.fallback,) = exprs

    def resolve_expression(
        self,
        query: Any = None,
        allow_joins: bool = True,
        reuse: Any = None,
        summarize: bool = False,
        for_save: bool = False,
    ) -> AnyOfSources:
        if self.fallback is not None:
            # Resolved already, in its own query: a queryset used as a subquery is resolved
            # again against the outer query (for its OuterRefs), which the sources hold none of.
            return self
        clone = self.copy()
        either = Q()
        for source in self.sources:
            either |= source.q
        # The plain OR, resolved as a filter of this query would be (its joins, its aliases).
        clone.fallback = either.resolve_expression(query, allow_joins, reuse, summarize)
        return clone

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        ranked = self._ranked(compiler, connection)
        if ranked is not None:
            return ranked
        sql, params = compiler.compile(self.fallback)
        return sql, list(params)

    # --- The ranked form ---------------------------------------------------------------------

    def _ranked(self, compiler: Any, connection: Any) -> tuple[str, list[Any]] | None:
        query = compiler.query
        k = query.high_mark
        where = query.where
        if (
            k is None
            or where.connector != AND
            or where.negated
            or query.combinator
            or query.distinct
            or query.group_by is not None
            or query.extra_order_by
            or query.select_for_update
            or not any(self._is_us(child) for child in where.children)
        ):
            return None
        ordering = _ordering(query)
        if not ordering:
            # Unordered (a capped count): every source yields up to k rows whichever they are,
            # so nothing stops early; measured at 1M, the plain OR counts faster.
            return None
        base = query.clone()
        base.clear_limits()
        base.where.children = [c for c in base.where.children if not self._is_us(c)]
        base.select_related = False
        if not _drop_unused_joins(base):
            return None
        keys = {f"_k{i}": F(name.lstrip("-")) for i, (name, _desc) in enumerate(ordering)}
        columns = ["_pk", *keys]
        branches: list[str] = []
        params: list[Any] = []
        for source in self.sources:
            rows: QuerySet[Any] = QuerySet(model=query.model, query=base.clone())
            if source.per is not None:
                rows = rows.filter(**{source.field: RawSQL('"_g"."v"', ())})
            else:
                rows = rows.filter(source.q)
            rows = (
                rows.annotate(_pk=F("pk"), **keys)
                .order_by(*(name for name, _desc in ordering))
                .values_list(*columns)[:k]
            )
            sql, branch_params = rows.query.get_compiler(connection=connection).as_sql()
            if source.per is not None:
                per_sql, per_params = source.per.query.get_compiler(connection=connection).as_sql()
                # Compiled SQL of our own querysets; their values travel as parameters.
                sql = (
                    f'SELECT "_t".* FROM (SELECT DISTINCT "_g0"."v" FROM ({per_sql}) "_g0"("v"))'  # noqa: S608
                    f' "_g" CROSS JOIN LATERAL ({sql}) "_t"'
                )
                params += [*per_params, *branch_params]
            else:
                params += list(branch_params)
            branches.append(f"({sql})")
        names = ", ".join(f'"{c}"' for c in columns)
        order = ", ".join(
            f'"_u"."_k{i}" {"DESC" if desc else "ASC"}' for i, (_n, desc) in enumerate(ordering)
        )
        pk = compiler.compile(query.model._meta.pk.get_col(query.get_initial_alias()))[0]
        # UNION, not UNION ALL: a row of two sources takes one of the k places.
        candidates = (
            f'SELECT "_u"."_pk" FROM ({" UNION ".join(branches)}) "_u"({names})'  # noqa: S608
            f" ORDER BY {order} LIMIT {int(k)}"
        )
        return f"{pk} IN ({candidates})", params

    @staticmethod
    def _is_us(child: Any) -> bool:
        # filter(expression) wraps it in ``Exact(expression, True)``.
        return isinstance(child, AnyOfSources) or isinstance(
            getattr(child, "lhs", None), AnyOfSources
        )


def _drop_unused_joins(query: Any) -> bool:
    """The joins the page made for what it shows (select_related) cost a branch one index probe
    per row and filter nothing: keep only those its conditions read, with their parents (a
    branch's ordering and keys join again for themselves). False where a condition reads a
    table of an enclosing query (a correlated subquery): a branch, compiled on its own and
    joining tables of its own, could capture the name, so the plain form is used there."""
    needed = {query.get_initial_alias()}
    # (node, inside a subquery): a subquery's own tables are its business; its references to
    # this query's tables (OuterRef) need their joins kept.
    stack: list[tuple[Any, bool]] = [(query.where, False)]
    while stack:
        node, nested = stack.pop()
        if isinstance(node, Col):
            if node.alias in query.alias_map:
                needed.add(node.alias)
            elif not nested:
                return False
        elif isinstance(node, WhereNode):
            stack.extend((child, nested) for child in node.children)
        elif isinstance(node, Query):
            stack.append((node.where, True))
        elif hasattr(node, "get_source_expressions"):
            stack.extend((e, nested) for e in node.get_source_expressions() if e is not None)
    for alias in list(needed):
        while (join := query.alias_map.get(alias)) is not None and join.parent_alias:
            alias = join.parent_alias
            needed.add(alias)
    for alias in query.alias_map:
        if alias not in needed:
            query.alias_refcount[alias] = 0
    return True


def _ordering(query: Any) -> Sequence[tuple[str, bool]] | None:
    """The query's ordering as (field path, descending), as its compiler reads it; ``None``
    where an item is not a plain field path (an expression, a random order)."""
    if query.order_by or not query.default_ordering:
        items = query.order_by
    else:
        items = query.get_meta().ordering or ()
    out = []
    for item in items:
        if not isinstance(item, str) or item == "?" or "." in item:
            return None
        name = item.lstrip("-")
        out.append(("-" + name if item.startswith("-") else name, item.startswith("-")))
    return out
