"""The History tab of opportunity and account pages: the audit trail of the record and its
parts, read through the visibility policy (crm.audit.history_for), written for people.

What a reader sees (issue 18): the fields' labels instead of column names; names instead of
ids (the foreign keys of all entries resolved in one query per related model, through that
model's visibility policy: a record the reader may not see stays "#id"); values in the reader's
language and format (dates, numbers, money with its currency, the choices' labels, yes/no);
no internal columns (ids, the organization, ``version``, search vectors, columns the
application derives itself such as normalized names).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.postgres.search import SearchVectorField
from django.db.models import Field, ForeignKey, Model
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from accounts.models import Account
from coaching.models import CoachingSession
from crm.audit import HistoryEntry, history_for
from crm.http import AuthenticatedHttpRequest
from crm.models import User
from crm.registry import access_by_id, visible_rows
from opportunities.models import Opportunity

# Columns that mean nothing to a reader (the When and Who columns say the rest).
INTERNAL_COLUMNS = frozenset({"id", "organization", "version", "search"})
# A part of a record is named by the first of these it has (a line by its product...).
NAME_FIELDS = ("name", "full_name", "subject", "product", "user", "reason", "text")
MAX_TEXT = 200


def _fallback_labels() -> dict[str, str]:
    # Relations declared without a verbose_name get Django's untranslated "local stage"; these
    # are the reader's words for them (no migration of every model for a label).
    return {
        "account": _("Account"),
        "owner": _("Owner"),
        "user": _("User"),
        "product": _("Product"),
        "local_stage": _("Stage"),
        "global_stage": _("Global stage"),
        "parent": _("Parent account"),
        "contact": _("Contact"),
        "opportunity": _("Opportunity"),
        "campaign": _("Campaign"),
        "source_lead": _("Lead"),
        "sales_company": _("Sales company"),
        "created_by": _("Created by"),
        "agreement": _("Framework agreement"),
        "process": _("Process"),
    }


def model_label(model: type[Model]) -> str:
    """The record kind in the reader's language (most models have no translated name)."""
    name = model._meta.verbose_name
    if isinstance(name, Promise):
        return capfirst(str(name))
    kinds = {
        "opportunities.Opportunity": _("Opportunity"),
        "opportunities.OpportunityLine": _("Opportunity line"),
        "opportunities.OpportunitySplit": _("Split"),
        "accounts.Account": _("Account"),
        "accounts.Contact": _("Contact"),
        "accounts.AccountTeamMember": _("Team member"),
        "accounts.FrameworkAgreement": _("Framework agreement"),
        "accounts.DiscountTier": _("Discount tier"),
        "coaching.CoachingSession": _("Coaching session"),
        "coaching.CoachingAction": _("Agreed action"),
    }
    return kinds.get(model._meta.label) or capfirst(str(name))


def field_label(field: Field[Any, Any]) -> str:
    """The field's label in the reader's language."""
    if isinstance(field.verbose_name, Promise):
        return capfirst(str(field.verbose_name))
    return _fallback_labels().get(field.name) or capfirst(str(field.verbose_name))


@dataclass(frozen=True)
class Change:
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class HistoryRow:
    at: dt.datetime
    what: str  # "Opportunity line Pump P-200", "Contact Anna Andersson"
    action: str  # created / changed / removed
    is_delete: bool
    person: str  # the author's name, or "system"
    changes: list[Change]
    request_id: str


def _shown(field: Field[Any, Any]) -> bool:
    return (
        field.editable
        and field.name not in INTERNAL_COLUMNS
        and not isinstance(field, SearchVectorField)
    )


def _fields(model: type[Model]) -> dict[str, Field[Any, Any]]:
    """The tracked model's fields by column (``account_id`` -> the ``account`` relation)."""
    return {f.attname: f for f in model._meta.concrete_fields}


def _names(user: User, wanted: dict[type[Model], set[int]]) -> dict[type[Model], dict[int, str]]:
    """One query per related model, through its visibility policy (invisible: not named)."""
    out: dict[type[Model], dict[int, str]] = {}
    for model, ids in wanted.items():
        ids.discard(0)
        if not ids:
            out[model] = {}
            continue
        manager: Any = model._default_manager
        if not hasattr(manager, "visible_to"):
            out[model] = {}
            continue
        rows = manager.visible_to(user).filter(pk__in=sorted(ids))
        if model is User:
            out[model] = dict(rows.values_list("pk", "full_name"))
        else:
            out[model] = {obj.pk: str(obj) for obj in rows}
    return out


def _format(
    field: Field[Any, Any],
    value: Any,
    snapshot: dict[str, Any],
    names: dict[type[Model], dict[int, str]],
) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(field, ForeignKey):
        related = field.related_model
        assert isinstance(related, type)
        return names.get(related, {}).get(value) or f"#{value}"
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dt.datetime):
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(value, dt.date):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        currency = snapshot.get("currency")
        if isinstance(value, Decimal) and currency:
            # Money: two decimals and its currency, grouped as the reader writes numbers.
            text = formats.number_format(value, decimal_pos=2, use_l10n=True, force_grouping=True)
            return f"{text} {currency}"
        if isinstance(value, Decimal):
            # 10000.00 reads "10,000" (normalize() would give 1E+4); 12.50 stays as it is.
            value = value.quantize(Decimal(1)) if value == value.to_integral() else value
        return formats.number_format(value, use_l10n=True, force_grouping=True)
    text = str(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _what(entry: HistoryEntry, record: Model, names: dict[type[Model], dict[int, str]]) -> str:
    model = entry.model
    if model is None:
        return f"{capfirst(entry.kind)} #{entry.object_id}"
    kind = model_label(model)
    if model is type(record) and entry.object_id == record.pk:
        return kind
    fields = _fields(model)
    for name in NAME_FIELDS:
        field = next((f for f in fields.values() if f.name == name), None)
        if field is not None and entry.snapshot.get(field.attname) not in (None, ""):
            return f"{kind} {_format(field, entry.snapshot[field.attname], entry.snapshot, names)}"
    return f"{kind} #{entry.object_id}"


def _wanted(entries: Iterable[HistoryEntry]) -> dict[type[Model], set[int]]:
    wanted: dict[type[Model], set[int]] = defaultdict(set)
    for entry in entries:
        if entry.user_id:
            wanted[User].add(entry.user_id)
        if entry.model is None:
            continue
        for attname, field in _fields(entry.model).items():
            if not isinstance(field, ForeignKey):
                continue
            related = field.related_model
            assert isinstance(related, type)
            values = [entry.snapshot.get(attname)]
            if attname in entry.changes:
                values.extend(entry.changes[attname])
            wanted[related].update(v for v in values if isinstance(v, int))
    return wanted


def readable_history(*, user: User, record: Model, entries: list[HistoryEntry]) -> list[HistoryRow]:
    """The entries as the History tab shows them, newest first."""
    names = _names(user, _wanted(entries))
    labels = {"insert": _("created"), "update": _("changed"), "delete": _("removed")}
    rows = []
    for entry in reversed(entries):
        fields = _fields(entry.model) if entry.model is not None else {}
        changes = []
        for attname, (before, after) in entry.changes.items():
            field = fields.get(attname)
            if field is None or not _shown(field):
                continue
            changes.append(
                Change(
                    label=field_label(field),
                    before=_format(field, before, entry.snapshot, names),
                    after=_format(field, after, entry.snapshot, names),
                )
            )
        if entry.label == "update" and not changes:
            continue  # only internal columns changed (the lock's version, a derived copy)
        rows.append(
            HistoryRow(
                at=entry.at,
                what=_what(entry, record, names),
                action=labels.get(entry.label, entry.label),
                is_delete=entry.label == "delete",
                person=names.get(User, {}).get(entry.user_id or 0, ""),
                changes=changes,
                request_id=entry.request_id,
            )
        )
    return rows


def render_history(
    request: AuthenticatedHttpRequest, model: type[Model], pk: int, back_url: str
) -> HttpResponse:
    obj = access_by_id(visible_rows(model, request.user), pk)
    entries = history_for(user=request.user, obj=obj)
    rows = readable_history(user=request.user, record=obj, entries=entries)
    return render(request, "crm/history.html", {"obj": obj, "rows": rows, "back_url": back_url})


@login_required
def opportunity_history(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return render_history(request, Opportunity, pk, reverse("opportunities:detail", args=[pk]))


@login_required
def account_history(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return render_history(request, Account, pk, reverse("accounts:detail", args=[pk]))


@login_required
def coaching_history(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    return render_history(request, CoachingSession, pk, reverse("coaching:detail", args=[pk]))
