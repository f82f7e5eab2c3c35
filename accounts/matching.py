"""Duplicate-account candidates: shown before an account is created (page, API, lead conversion,
import) so that the user can pick the existing account instead.

Candidates come only from indexed lookups inside one organization, so this stays fast at a
million accounts (no pg_trgm, no scan):

* ``registration_key`` equal (index ``account_org_reg_idx``)            - score 100
* ``domain`` equal (index ``account_org_domain_idx``)                     - score 60
* ``normalized_name`` equal (index ``account_org_norm_idx``)              - score 40,
  plus 20 when in the same country, plus 20 when in the same group
* a name prefix at a word boundary, in either direction, in the same country or group:
  an existing "acme nordic" for a new "acme" (a byte-wise range ``~>=~ 'acme ' AND ~<~ 'acme!'``
  on the varchar_pattern_ops index), or an existing "acme" for a new "acme nordic" (equality
  on the new name's word prefixes)                                         - score 25

The rule for names across borders: the same normalized name in another country and another
group is still shown, because it may be the same international group, but weakly (score 40 only,
reason ``same_name``) and below every same-country or same-group match; a mere prefix in another
country and group is not a candidate at all ("Acme" SE and "Acme Tools" US are different firms
far more often than not). Scores add up over reasons; ``STRONG_MATCH`` is where a form should
insist that the user look before creating.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Expression,
    F,
    Field,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils.translation import gettext_lazy as _

from accounts.models import Account
from accounts.normalize import normalize_domain, normalize_name, normalize_registration
from crm.db.compiled import CompiledQuery
from crm.models import Organization

STRONG_MATCH = 60
# Prefixes shorter than this would make the range "a " .. "a!" read a large slice of the index.
MIN_PREFIX = 3


# What each reason code means to a person; codes never reach a page, a message or a mail.
REASON_LABELS = {
    "registration": _("same registration number"),
    "domain": _("same web domain"),
    "same_name": _("same name"),
    "same_country": _("same country"),
    "same_group": _("same group"),
    "similar_name": _("similar name"),
}


def reason_text(codes: list[str] | str) -> str:
    """The reasons in the reader's language ("same name, same country"); ``codes`` as a list or
    as stored, comma-separated. An unknown code reads as "similar name", never as the code."""
    if isinstance(codes, str):
        codes = [c.strip() for c in codes.split(",") if c.strip()]
    fallback = REASON_LABELS["similar_name"]
    return ", ".join(str(REASON_LABELS.get(code, fallback)) for code in codes) or str(fallback)


@dataclass(frozen=True)
class DuplicateCandidate:
    account: Account
    reasons: list[str] = field(default_factory=list)
    score: int = 0

    @property
    def is_strong(self) -> bool:
        return self.score >= STRONG_MATCH

    @property
    def reason_text(self) -> str:
        return reason_text(self.reasons)


def _word_prefixes(name: str) -> list[str]:
    words = name.split(" ")
    return [
        " ".join(words[:i]) for i in range(1, len(words)) if len(" ".join(words[:i])) >= MIN_PREFIX
    ]


def match_values(
    *,
    name: str,
    country: str = "",
    registration_number: str = "",
    domain: str = "",
    group: Account | None = None,
) -> dict[str, Any]:
    """The keys an input is matched on, normalized (the values the candidates' statement
    binds); a key the input lacks is absent, and with it the rules that need it."""
    norm = normalize_name(name)
    values: dict[str, Any] = {}
    if reg_key := normalize_registration(registration_number):
        values["reg_key"] = reg_key
    if host := normalize_domain(domain):
        values["host"] = host
    if country := (country or "").upper():
        values["country"] = country
    if group is not None:
        values["group_id"] = group.group_id or group.pk
    if norm:
        values["norm"] = norm
        for i, prefix in enumerate(_word_prefixes(norm)):
            values[f"prefix_{i}"] = prefix
        if len(norm) >= MIN_PREFIX:
            # "starts with '<norm> '" as a byte-wise range (crm.db.lookups: LIKE cannot use the
            # index under row-level security). Normalized names are lower-case words joined by
            # single spaces, and the character after " " is "!".
            values["range_lo"], values["range_hi"] = f"{norm} ", f"{norm}!"
    return values


def has_keys(values: dict[str, Any]) -> bool:
    """Whether ``match_values`` found anything to match on (a country alone is not)."""
    return bool({"reg_key", "host", "norm"} & set(values))


def duplicate_candidates_read(
    *,
    organization: Organization | int,
    name: str,
    country: str = "",
    registration_number: str = "",
    domain: str = "",
    group: Account | None = None,
    exclude_id: int | None = None,
    limit: int = 10,
) -> tuple[CompiledQuery, dict[str, Any]] | None:
    """The statement (and its values) ``find_duplicate_candidates`` runs for this input, or
    None when the input has no key to match on: for a save to read it ahead with others
    (``crm.db.compiled.read_ahead``)."""
    values = match_values(
        name=name,
        country=country,
        registration_number=registration_number,
        domain=domain,
        group=group,
    )
    if not has_keys(values):
        return None
    if exclude_id:
        values["exclude_id"] = exclude_id
    org_id = organization if isinstance(organization, int) else organization.pk
    return _compiled(tuple(values), limit), {"organization_id": org_id, **values}


def find_duplicate_candidates(
    *,
    organization: Organization | int,
    name: str,
    country: str = "",
    registration_number: str = "",
    domain: str = "",
    group: Account | None = None,
    exclude_id: int | None = None,
    limit: int = 10,
) -> list[DuplicateCandidate]:
    """Existing accounts that may be the one being entered, best first. One query, whose SQL
    is built once per process for each shape of input (which keys are known, how many word
    prefixes the name has): building it cost more than PostgreSQL's answer."""
    read = duplicate_candidates_read(
        organization=organization,
        name=name,
        country=country,
        registration_number=registration_number,
        domain=domain,
        group=group,
        exclude_id=exclude_id,
        limit=limit,
    )
    fields = _account_fields()
    return [
        DuplicateCandidate(
            account=Account.from_db(DEFAULT_DB_ALIAS, fields, values),
            reasons=reasons,
            score=score,
        )
        for values, reasons, score in _candidate_rows(read)
    ]


def _candidate_rows(
    read: tuple[CompiledQuery, dict[str, Any]] | None,
) -> list[tuple[Sequence[Any], list[str], Any]]:
    """The rows of a ``duplicate_candidates_read``: each candidate's account values (as
    ``_account_fields`` lists them), the reasons that matched and its score, best first."""
    if read is None:
        return []
    query, bound = read
    scores = _scores({key: value for key, value in bound.items() if key != "organization_id"})
    width = len(_account_fields())
    return [
        (
            row[:width],
            [
                r
                for (r, _q, _p), m in zip(scores, row[width : width + len(scores)], strict=True)
                if m
            ],
            row[-1],
        )
        for row in query.rows(**bound)
    ]


def duplicate_candidate_keys(**arguments: Any) -> list[tuple[int, int | None, list[str]]]:
    """``find_duplicate_candidates`` (same arguments, same order) as (account id, its group,
    the reasons) only: what the duplicate situations compare (``situations.duplicate_pairs``,
    on a first save), without building an ``Account`` per candidate from the row (that was
    most of its CPU). The same statement, so a read ahead serves it."""
    fields = _account_fields()
    pk_at, group_at = fields.index("id"), fields.index("group_id")
    return [
        (values[pk_at], values[group_at], reasons)
        for values, reasons, _score in _candidate_rows(duplicate_candidates_read(**arguments))
    ]


class Candidate(NamedTuple):
    """A candidate of the batch check: what the duplicates' bookkeeping needs of it."""

    account_id: int
    group_id: int | None
    home_company_id: int
    reasons: list[str]


# The batch's input rows, as the candidates' statement names them.
_INPUT = "dup_in"


class _InputColumn(Expression):
    """A column of the batch's input row, where a one-input statement binds a value."""

    def __init__(self, name: str, output_field: Field[Any, Any]) -> None:
        super().__init__(output_field=output_field)
        self.name = name

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        return f"{_INPUT}.{connection.ops.quote_name(self.name)}", []


def duplicate_candidates_many(
    *, organization_id: int, inputs: Sequence[tuple[int, dict[str, Any]]], limit: int = 10
) -> dict[int, list[Candidate]]:
    """``find_duplicate_candidates`` for many existing accounts in one statement: per account
    (id, ``match_values`` of it), the same candidates in the same order (itself excluded).

    The rules are ``_ranked``'s, the same code as for one input: there the values are bound
    parameters, here they are the columns of the input row (``jsonb_to_recordset``), and a
    ``LATERAL`` subquery runs them once per row, each a BitmapOr of the same index scans. A key
    an account lacks is NULL in its row, and a comparison with NULL is never true: the rules
    that need the key drop out, as they do from a one-input statement without it. Every row
    binds as many word prefixes as the batch's longest name has (the missing ones NULL)."""
    inputs = [(pk, values) for pk, values in inputs if has_keys(values)]
    if not inputs:
        return {}
    if any("group_id" in values for _pk, values in inputs):
        raise ValueError("The batch check matches accounts as saved: without a group.")
    prefixes = max(sum(key.startswith("prefix_") for key in v) for _pk, v in inputs)
    columns = ["reg_key", "host", "country", "norm", "range_lo", "range_hi"]
    columns += [f"prefix_{i}" for i in range(prefixes)]
    refs: dict[str, Any] = {c: _InputColumn(c, CharField()) for c in columns}
    refs["exclude_id"] = _InputColumn("account_id", BigIntegerField())
    marks = _marks(refs)
    ranked = _ranked(organization_id, refs)
    inner, params = ranked.values_list(
        "pk", "group_id", "home_company_id", "_score", "name", *marks
    )[:limit].query.sql_with_params()
    record = ", ".join(["account_id bigint", *(f'"{c}" text' for c in columns)])
    # Names from the list above and the ORM's own SQL; every value is a parameter. Each
    # account's candidates best first, as ``find_duplicate_candidates`` lists them (by
    # position: account, score, name, id).
    sql = (
        f"SELECT {_INPUT}.account_id, c.* FROM jsonb_to_recordset(%s::jsonb) AS {_INPUT}"  # noqa: S608
        f"({record}) CROSS JOIN LATERAL ({inner}) AS c ORDER BY 1, 5 DESC, 6, 2"
    )
    rows = json.dumps([{"account_id": pk, **values} for pk, values in inputs])
    reasons = [mark.removeprefix("_m_") for mark in marks]
    found: dict[int, list[Candidate]] = {pk: [] for pk, _values in inputs}
    with connection.cursor() as cursor:
        cursor.execute(sql, [rows, *params])
        for account_id, pk, group_id, home_id, _score, _name, *points in cursor.fetchall():
            codes = [r for r, p in zip(reasons, points, strict=True) if p]
            found[account_id].append(Candidate(pk, group_id, home_id, codes))
    return found


def _account_fields() -> list[str]:
    fields = Account._meta.concrete_fields
    return [f.attname for f in fields if not getattr(f, "generated", False)]


def _scores(values: dict[str, Any]) -> list[tuple[str, Q, int]]:
    """The reasons that apply to input of this shape, each with its condition and points; the
    values may be the compiled query's sentinels."""
    norm, country, group_id = values.get("norm"), values.get("country"), values.get("group_id")
    scores = []
    if "reg_key" in values:
        scores.append(("registration", Q(registration_key=values["reg_key"]), 100))
    if "host" in values:
        scores.append(("domain", Q(domain=values["host"]), 60))
    if norm is not None:
        scores.append(("same_name", Q(normalized_name=norm), 40))
        if country is not None:
            scores.append(("same_country", Q(normalized_name=norm, country=country), 20))
        if group_id is not None:
            scores.append(("same_group", Q(group_id=group_id), 20))
        if country is not None or group_id is not None:
            prefix = Q(*_prefix_terms(values), _connector=Q.OR)
            scores.append(("similar_name", prefix & _near(values) & ~Q(normalized_name=norm), 25))
    return scores


def _prefix_terms(values: dict[str, Any]) -> list[Q]:
    words = [v for k, v in values.items() if k.startswith("prefix_")]
    terms = [Q(normalized_name__in=words)]
    if "range_lo" in values:
        terms.append(
            Q(
                normalized_name__pattern_gte=values["range_lo"],
                normalized_name__pattern_lt=values["range_hi"],
            )
        )
    return terms


def _near(values: dict[str, Any]) -> Q:
    """ "Same country or same group", false when neither is known."""
    near = Q(pk__in=[])
    if "country" in values:
        near |= Q(country=values["country"])
    if "group_id" in values:
        near |= Q(group_id=values["group_id"])
    return near


def _ranked(organization_id: int, values: dict[str, Any]) -> QuerySet[Account, Any]:
    """The candidates for input of this shape (``values``' keys), each reason marked with its
    points, best first: the rules, once, for one input (the values bound) and for a batch
    (``duplicate_candidates_many``: the values are the input row's columns)."""
    scores = _scores(values)
    match = Q(pk__in=[])
    if "reg_key" in values:
        match |= Q(registration_key=values["reg_key"])
    if "host" in values:
        match |= Q(domain=values["host"])
    if "norm" in values:
        match |= Q(normalized_name=values["norm"])
        nears = [Q(country=values["country"])] if "country" in values else []
        nears += [Q(group_id=values["group_id"])] if "group_id" in values else []
        # Each (prefix, near) pair as its own AND: PostgreSQL turns an OR of such terms into a
        # BitmapOr of index scans (0.1 ms at 200k accounts), but an AND over ORs into a scan of
        # every account of the organization (40 ms).
        for p in _prefix_terms(values):
            for n in nears:
                match |= p & n
    qs = Account.objects.for_org(organization_id).filter(match)
    if "exclude_id" in values:
        qs = qs.exclude(pk=values["exclude_id"])
    annotations = {
        f"_m_{reason}": Case(
            When(condition, then=Value(points)), default=Value(0), output_field=IntegerField()
        )
        for reason, condition, points in scores
    }
    qs = qs.annotate(**annotations)
    total = sum((F(f"_m_{r}") for r, _, _ in scores[1:]), F(f"_m_{scores[0][0]}"))
    return qs.annotate(_score=total).order_by("-_score", "name", "pk")


def _candidates(organization_id: int, limit: int, **values: Any) -> QuerySet[Account, Any]:
    """The candidates' queryset for input of this shape (``values``' keys)."""
    ranked = _ranked(organization_id, values)
    return ranked.values_list(*_account_fields(), *_marks(values), "_score")[:limit]


def _marks(values: dict[str, Any]) -> list[str]:
    """The annotations ``_ranked`` marks each reason with (its points, or 0)."""
    return [f"_m_{reason}" for reason, _condition, _points in _scores(values)]


@functools.cache
def _compiled(shape: tuple[str, ...], limit: int) -> CompiledQuery:
    def build(organization_id: int, **values: Any) -> QuerySet[Account, Any]:
        return _candidates(organization_id, limit, **values)

    return CompiledQuery(build, "organization_id", *shape, scope="organization_id")
