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
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When
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
    if not ({"reg_key", "host", "norm"} & set(values)):
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
    if read is None:
        return []
    query, bound = read
    values = {key: value for key, value in bound.items() if key != "organization_id"}
    scores = _scores(values)
    rows = query.rows(**bound)
    fields = _account_fields()
    found = []
    for row in rows:
        account = Account.from_db(DEFAULT_DB_ALIAS, fields, row[: len(fields)])
        marks = row[len(fields) : len(fields) + len(scores)]
        found.append(
            DuplicateCandidate(
                account=account,
                reasons=[r for (r, _q, _p), m in zip(scores, marks, strict=True) if m],
                score=row[-1],
            )
        )
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


def _candidates(organization_id: int, limit: int, **values: Any) -> QuerySet[Account, Any]:
    """The candidates' queryset for input of this shape (``values``' keys)."""
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
    return (
        qs.annotate(_score=total)
        .order_by("-_score", "name", "pk")
        .values_list(*_account_fields(), *annotations, "_score")[:limit]
    )


@functools.cache
def _compiled(shape: tuple[str, ...], limit: int) -> CompiledQuery:
    def build(organization_id: int, **values: Any) -> QuerySet[Account, Any]:
        return _candidates(organization_id, limit, **values)

    return CompiledQuery(build, "organization_id", *shape, scope="organization_id")
