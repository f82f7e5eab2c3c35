"""Writes of the imports app: upload, mapping, dry run, commit, cancel.

The dry run and the commit are one code path (``import_run``): every row goes through the
same services as the forms (``account_create``/``account_update``, ``contact_create``/
``contact_update``, ``opportunity_create`` and friends, ``lead_create``) with the importing user
as ``acting_user``, each row in its own savepoint, the whole file in one transaction. The dry
run rolls that transaction back and keeps only the verdicts; the commit keeps it. So the
"may change" rules, validation, duplicate check, conflict detection, suppression, history and
webhooks are the forms' own, and no rule is written twice.

The commit is **all or nothing**: rows the dry run rejected are left out (they are the
rejected-rows file); if any other row fails at commit time (the data changed meanwhile) or the
user cancels, the whole transaction rolls back and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import Any

import pghistory
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.db.models.functions import Upper
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Account, Contact
from accounts.normalize import normalize_domain, normalize_name, normalize_registration
from accounts.selectors import duplicate_candidates
from accounts.services import (
    account_create,
    account_update,
    contact_create,
    contact_update,
)
from crm.audit import quiet_trigger_checks
from crm.events import emit, emit_many
from crm.models import SalesCompany, User
from crm.money import MissingExchangeRateError
from crm.queue import enqueue
from crm.roles import Role
from crm.scope import org_scope
from imports import mapping as m
from imports.models import (
    ImportJob,
    ImportKey,
    ImportKind,
    ImportRow,
    ImportStatus,
    ImportTemplate,
    MatchChoice,
    RowAction,
)
from imports.parsing import FileError, Table, read_table
from leads.models import Lead
from leads.services import LeadAction, lead_create, may_lead
from opportunities import pricing
from opportunities.import_check import ImportedGroups, check_imported, check_imported_groups
from opportunities.models import Opportunity, Product
from opportunities.services import (
    BuildLookups,
    LineInput,
    OpportunityDraft,
    may_book_opportunities,
    opportunity_build,
    opportunity_create,
    opportunity_move_stage,
    opportunity_persist,
    opportunity_set_lines,
    opportunity_update,
)
from opportunities.situations import new_deals_facts
from pipeline.models import LocalStage

logger = logging.getLogger(__name__)

# Progress is written and the cancel flag read every this many rows.
CHECK_EVERY = 100
PROGRESS_TTL = 24 * 3600


def may_import(user: User, kind: str) -> bool:
    """The forms' rule per kind, asked before a file is even read: leads are lead
    management's (``may_lead``), deals are booked by everyone but marketing, and accounts and
    contacts are read-only for marketing. Which company a row may go to is the services'."""
    if not user.is_active:
        return False
    if kind == ImportKind.LEADS:
        return may_lead(user, LeadAction.CREATE)
    if kind == ImportKind.OPPORTUNITIES:
        return may_book_opportunities(user)
    return user.role != Role.MARKETING


def may_import_anything(user: User) -> bool:
    return any(may_import(user, kind) for kind in ImportKind.values)


def _require_owner(job: ImportJob, user: User) -> None:
    # Another user's (or organization's) job is missing, as everywhere.
    if job.organization_id != user.organization_id or job.created_by_id != user.pk:
        raise Http404("No such import.")


# --- Upload and mapping --------------------------------------------------------------------------


@transaction.atomic
def import_job_create(*, user: User, kind: str, file_name: str, content: bytes) -> ImportJob:
    """Read the file's header (refusing what cannot be imported) and suggest a mapping: the
    user's template for this kind if its headers fit, else one from the header names."""
    if kind not in ImportKind.values:
        raise ValidationError({"kind": _("Choose what the file holds.")})
    if not may_import(user, kind):
        raise PermissionDenied(_("You may not import these records."))
    try:
        table = read_table(content, file_name)
    except FileError as exc:
        raise ValidationError({"file": str(exc)}) from exc
    template = (
        ImportTemplate.objects.for_org(user.organization_id)
        .filter(user=user, kind=kind)
        .values_list("mapping", flat=True)
        .first()
    )
    suggested = m.suggest_mapping(kind, table.headers)
    if template:
        suggested = {**suggested, **m.mapping_from_template(table.headers, template)}
    return ImportJob.objects.create(
        organization_id=user.organization_id,
        created_by=user,
        kind=kind,
        file_name=file_name[:255],
        content=content,
        headers=table.headers,
        total_rows=len(table.rows),
        mapping=suggested,
    )


@transaction.atomic
def import_job_set_mapping(
    *,
    job: ImportJob,
    user: User,
    mapping: dict[str, str],
    value_map: dict[str, dict[str, str]] | None = None,
    on_match: str = MatchChoice.UPDATE,
    save_template: bool = False,
) -> ImportJob:
    """Set the column mapping (column index -> field; empty: not imported) and the value
    mapping; a changed mapping asks for a new dry run."""
    _require_owner(job, user)
    if job.status in (ImportStatus.RUNNING, ImportStatus.DONE):
        raise ValidationError(_("This import has run; upload the file again to change it."))
    known = {f.name: f for f in m.fields_of(job.kind)}
    clean: dict[str, str] = {}
    errors: dict[str, list[str]] = {}
    for column, name in mapping.items():
        if not name:
            continue
        if not column.isdigit() or int(column) >= len(job.headers) or name not in known:
            errors.setdefault("mapping", []).append(_("Unknown column or field."))
            continue
        if name in clean.values():
            errors.setdefault("mapping", []).append(
                _("%(field)s is mapped to more than one column.") % {"field": known[name].label}
            )
        clean[column] = name
    missing = [f.label for f in known.values() if f.required and f.name not in clean.values()]
    if missing:
        errors.setdefault("mapping", []).append(
            _("Map a column to: %(fields)s.") % {"fields": ", ".join(missing)}
        )
    if on_match not in MatchChoice.values:
        errors["on_match"] = [_("Choose what to do with matches.")]
    if errors:
        raise ValidationError(errors)
    job.mapping = clean
    cleaned_values: dict[str, dict[str, str]] = {}
    for name, values in (value_map or {}).items():
        if name in known:
            cleaned_values[name] = {
                m.normalized_value(k): v.strip() for k, v in values.items() if v and v.strip()
            }
    job.value_map = cleaned_values
    job.on_match = on_match
    job.status = ImportStatus.QUEUED
    job.save(update_fields=["mapping", "value_map", "on_match", "status"])
    if save_template:
        ImportTemplate.objects.for_org(user.organization_id).update_or_create(
            organization_id=user.organization_id,
            user=user,
            kind=job.kind,
            defaults={
                "mapping": {job.headers[int(c)]: f for c, f in clean.items()},
                "updated_at": timezone.now(),
            },
        )
    return job


def _queue(job: ImportJob, *, commit: bool) -> None:
    org_id, pk = job.organization_id, job.pk
    transaction.on_commit(lambda: enqueue("imports.tasks.run_import", pk, org_id, commit))


@transaction.atomic
def import_request_dry_run(*, job: ImportJob, user: User) -> ImportJob:
    _require_owner(job, user)
    if job.status in (ImportStatus.RUNNING, ImportStatus.DONE, ImportStatus.DRY_RUN):
        raise ValidationError(_("This import is running or has run."))
    if not job.mapping:
        raise ValidationError(_("Map the columns first."))
    job.status = ImportStatus.DRY_RUN
    job.cancel_requested = False
    job.rows_done = 0
    job.message = ""
    job.save(update_fields=["status", "cancel_requested", "rows_done", "message"])
    _queue(job, commit=False)
    return job


@transaction.atomic
def import_request_commit(*, job: ImportJob, user: User) -> ImportJob:
    _require_owner(job, user)
    if job.status != ImportStatus.READY:
        raise ValidationError(_("Run the dry run first; only a checked file is imported."))
    job.status = ImportStatus.RUNNING
    job.cancel_requested = False
    job.rows_done = 0
    job.save(update_fields=["status", "cancel_requested", "rows_done"])
    _queue(job, commit=True)
    return job


@transaction.atomic
def import_cancel(*, job: ImportJob, user: User) -> ImportJob:
    """A running dry run or commit stops at its next check and rolls back; one not running is
    cancelled at once. A finished import cannot be cancelled (it is committed)."""
    _require_owner(job, user)
    if job.status in (ImportStatus.DONE, ImportStatus.CANCELLED, ImportStatus.FAILED):
        raise ValidationError(_("This import has finished."))
    if job.status in (ImportStatus.RUNNING, ImportStatus.DRY_RUN):
        # A plain UPDATE: the worker's transaction does not lock the job's row.
        ImportJob.objects.for_org(job.organization_id).filter(pk=job.pk).update(
            cancel_requested=True
        )
        job.cancel_requested = True
    else:
        job.status = ImportStatus.CANCELLED
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at"])
    return job


def _progress_key(job_id: int) -> str:
    return f"imports:progress:{job_id}"


def job_progress(job: ImportJob) -> dict[str, Any]:
    """Rows done of the total: from the cache while running (the worker's transaction is not
    committed, so the row cannot carry it), from the job once finished."""
    done = job.rows_done
    if job.status in (ImportStatus.RUNNING, ImportStatus.DRY_RUN):
        done = max(done, int(cache.get(_progress_key(job.pk)) or 0))
    total = job.total_rows
    percent = 100 if job.status == ImportStatus.DONE else (done * 100 // total if total else 0)
    return {
        "status": job.status,
        "rows_done": done,
        "total_rows": total,
        "percent": min(percent, 100),
        "finished": job.status
        in (ImportStatus.READY, ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.CANCELLED),
    }


# --- Running ------------------------------------------------------------------------------------


class Cancelled(Exception):
    pass


class CommitFailed(Exception):
    pass


@dataclass(slots=True)
class Outcome:
    """A row's verdict: all an import keeps per row (the dry run's page and the rejected-rows
    file read them back from ``ImportRow``); slotted, as a 100,000-row file has 100,000."""

    row_number: int
    action: str
    # One shared empty tuple for a row without errors (most of them), not a list per row.
    errors: Sequence[dict[str, str]] = ()
    message: str = ""


class RowError(Exception):
    """Errors of one row (column header or "" -> message)."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(e["message"] for e in errors))


@dataclass
class DealRow:
    """One opportunity unit of the file (its first row and the lines of all its rows), read
    and resolved."""

    row: list[str]
    account: Account
    owner: User
    company: SalesCompany | None
    stage: LocalStage | None
    amount: Decimal | None
    currency: str
    close: dt.date | None
    lines: list[LineInput]
    name: str
    external: str


# Model field -> import field where they differ: a service's message names the model's field.
_FIELD_ALIASES = {"local_stage": "stage", "global_stage": "stage", "company_name": "company_name"}


class Importer:
    """One kind's rows: read the mapped cells, resolve references, call the services."""

    kind: str = ""

    def __init__(self, job: ImportJob, user: User, table: Table) -> None:
        self.job = job
        self.user = user
        self.table = table
        self.org_id = user.organization_id
        self.columns = {f: int(c) for c, f in job.mapping.items()}
        self.unknown: dict[str, set[str]] = {}
        self._cache: dict[tuple[str, str], Any] = {}
        self.seen: dict[Any, int] = {}  # in-file duplicate keys -> first row number

    # Cells ------------------------------------------------------------------------------------

    def header(self, name: str) -> str:
        index = self.columns.get(name)
        return self.table.headers[index] if index is not None else ""

    def raw(self, row: list[str], name: str) -> str:
        index = self.columns.get(name)
        return row[index].strip() if index is not None else ""

    def mapped(self, name: str) -> bool:
        return name in self.columns

    def error(self, name: str, message: str) -> dict[str, str]:
        return {"column": self.header(name), "message": message}

    def cell(
        self, row: list[str], name: str, parse: Callable[[str], Any], errors: list[Any]
    ) -> Any:
        text = self.raw(row, name)
        try:
            return parse(text)
        except m.CellError as exc:
            errors.append(self.error(name, str(exc)))
            return None

    def mapped_value(self, name: str, text: str) -> str:
        return str(self.job.value_map.get(name, {}).get(m.normalized_value(text), text))

    def unknown_value(self, name: str, text: str, errors: list[Any], message: str) -> None:
        values = self.unknown.setdefault(name, set())
        if len(values) < 50:
            values.add(text)
        errors.append(self.error(name, message))

    def country(self, row: list[str], name: str, errors: list[Any]) -> str:
        text = self.raw(row, name)
        if not text:
            return ""
        code = m.parse_country(self.mapped_value(name, text))
        if code is None:
            self.unknown_value(
                name, text, errors, _("“%(value)s” is not a country we know.") % {"value": text}
            )
            return ""
        return code

    def currency(self, row: list[str], errors: list[Any]) -> str:
        text = self.raw(row, "currency")
        if not text:
            return ""
        code = m.parse_currency(self.mapped_value("currency", text))
        if code is None:
            self.unknown_value(
                "currency",
                text,
                errors,
                _("“%(value)s” is not an ISO 4217 currency code.") % {"value": text},
            )
            return ""
        return code

    def forget(self, kind: str) -> None:
        """Drop the cached references of one kind (read again when next needed)."""
        for key in [k for k in self._cache if k[0] == kind]:
            del self._cache[key]

    def _cached(self, kind: str, key: str, load: Callable[[], Any]) -> Any:
        if (kind, key) not in self._cache:
            self._cache[(kind, key)] = load()
        return self._cache[(kind, key)]

    def company(self, row: list[str], name: str, errors: list[Any]) -> SalesCompany | None:
        text = self.raw(row, name)
        if not text:
            return None
        wanted = self.mapped_value(name, text)

        def load() -> SalesCompany | None:
            companies = SalesCompany.objects.for_org(self.org_id)
            return (
                companies.filter(code__iexact=wanted).first()
                or companies.filter(name__iexact=wanted).first()
            )

        found: SalesCompany | None = self._cached("company", wanted.casefold(), load)
        if found is None:
            self.unknown_value(
                name, text, errors, _("“%(value)s” is not a sales company.") % {"value": text}
            )
        return found

    def owner(self, row: list[str], errors: list[Any]) -> User | None:
        text = self.raw(row, "owner")
        if not text:
            return None
        wanted = self.mapped_value("owner", text)
        found: User | None = self._cached(
            "owner",
            wanted.casefold(),
            lambda: (
                User.objects.for_org(self.org_id)
                .filter(email__iexact=wanted, is_active=True)
                .select_related("sales_company")
                .first()
            ),
        )
        if found is None:
            self.unknown_value(
                "owner",
                text,
                errors,
                _("No active user has the e-mail “%(value)s”.") % {"value": text},
            )
        return found

    def account(self, row: list[str], errors: list[Any]) -> Account | None:
        """The account a contact or deal belongs to, among those the user may see: by
        registration number if that column is mapped and filled, else by name (and country)."""
        name = self.raw(row, "account")
        reg = normalize_registration(self.raw(row, "account_registration"))
        country = m.parse_country(self.raw(row, "account_country")) or ""
        key = f"{reg}|{normalize_name(name)}|{country}"

        def load() -> list[Account]:
            qs = Account.objects.visible_to(self.user)
            if reg:
                qs = qs.filter(registration_key=reg)
            else:
                qs = qs.filter(normalized_name=normalize_name(name))
                if country:
                    qs = qs.filter(country=country)
            return list(qs.select_related("home_company").order_by("pk")[:2])

        found: list[Account] = self._cached("account", key, load) if (name or reg) else []
        if not found:
            errors.append(
                self.error(
                    "account",
                    _("No account you can see is “%(value)s”.") % {"value": name or reg},
                )
            )
            return None
        if len(found) > 1:
            errors.append(
                self.error(
                    "account",
                    _(
                        "Several accounts are named “%(value)s”: map a country or registration "
                        "number column."
                    )
                    % {"value": name},
                )
            )
            return None
        return found[0]

    def same_as(self, key: Any, row_number: int) -> int | None:
        """The earlier row of this file with the same key (None: the first)."""
        if key in self.seen:
            return self.seen[key]
        self.seen[key] = row_number
        return None

    # Rows -------------------------------------------------------------------------------------

    def rows(self) -> Iterator[tuple[list[int], list[list[str]]]]:
        """Units of work: one row each (opportunities group their lines' rows)."""
        for number, row in zip(self.table.numbers, self.table.rows, strict=True):
            yield [number], [row]

    def apply(self, numbers: list[int], rows: list[list[str]]) -> tuple[str, str]:
        raise NotImplementedError

    def fields_changed(self, values: dict[str, Any]) -> dict[str, Any]:
        # An empty cell leaves a field as it is on an update; it never clears it.
        return {k: v for k, v in values.items() if v not in (None, "") and self.mapped(k)}


def _errors_of(importer: Importer, exc: Exception) -> list[dict[str, str]]:
    if isinstance(exc, RowError):
        return exc.errors
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            out = []
            for name, messages in exc.message_dict.items():
                column = importer.header(_FIELD_ALIASES.get(name, name))
                out += [{"column": column, "message": msg} for msg in messages]
            return out
        return [{"column": "", "message": msg} for msg in exc.messages]
    if isinstance(exc, MissingExchangeRateError):
        return [{"column": "", "message": str(exc)}]
    if isinstance(exc, Http404):
        return [{"column": "", "message": _("A record of this row is not visible to you.")}]
    return [{"column": "", "message": str(exc) or _("Not allowed.")}]


class AccountImporter(Importer):
    kind = ImportKind.ACCOUNTS

    def apply(self, numbers: list[int], rows: list[list[str]]) -> tuple[str, str]:
        row, number = rows[0], numbers[0]
        errors: list[dict[str, str]] = []
        name = self.raw(row, "name")
        country = self.country(row, "country", errors)
        company = self.company(row, "home_company", errors) or (
            None if self.raw(row, "home_company") else self.user.sales_company
        )
        if company is None and not errors:
            errors.append(self.error("home_company", _("Map a sales company column.")))
        if errors:
            raise RowError(errors)
        values = {
            "name": name,
            "country": country,
            "registration_number": self.raw(row, "registration_number"),
            "domain": self.raw(row, "domain"),
            "industry": self.raw(row, "industry"),
        }
        # An empty name is the service's error to report, not a duplicate of another row.
        keys = [("name", normalize_name(name), country)] if normalize_name(name) else []
        if values["registration_number"]:
            keys.append(("reg", normalize_registration(values["registration_number"]), ""))
        if values["domain"]:
            keys.append(("domain", normalize_domain(values["domain"]), ""))
        earlier = [r for r in (self.same_as(k, number) for k in keys) if r is not None]
        if earlier:
            return RowAction.SKIP, _("Same customer as row %(row)d of this file.") % {
                "row": earlier[0]
            }
        shown, hidden = duplicate_candidates(
            user=self.user,
            name=name,
            country=country,
            registration_number=values["registration_number"],
            domain=values["domain"],
        )
        strong = [c for c in shown if c.is_strong]
        choice = self.job.on_match
        assert company is not None
        if strong and choice != MatchChoice.CREATE:
            target = strong[0].account
            if choice == MatchChoice.SKIP:
                return RowAction.SKIP, _("Matches %(name)s (%(why)s).") % {
                    "name": target.name,
                    "why": strong[0].reason_text,
                }
            changes = self.fields_changed(values)
            if self.mapped("home_company") and company.pk != target.home_company_id:
                changes["home_company"] = company
            account_update(account=target, acting_user=self.user, **changes)
            return RowAction.UPDATE, _("Updates %(name)s (%(why)s).") % {
                "name": target.name,
                "why": strong[0].reason_text,
            }
        if hidden and choice != MatchChoice.CREATE:
            # Need-to-know: the company and whom to ask, never the account itself.
            raise RowError(
                [
                    {
                        "column": "",
                        "message": _("Exists, not visible to you: %(message)s")
                        % {"message": hidden[0].message},
                    }
                ]
            )
        account_create(
            organization=self.user.organization,
            acting_user=self.user,
            home_company=company,
            allow_duplicate=True,  # the matches were weighed just above
            name=name,
            country=country,
            registration_number=values["registration_number"],
            domain=values["domain"],
            industry=values["industry"],
        )
        note = ""
        if shown:
            note = _("Looks like %(name)s (%(why)s); created as asked.") % {
                "name": shown[0].account.name,
                "why": shown[0].reason_text,
            }
        return RowAction.CREATE, note


class ContactImporter(Importer):
    kind = ImportKind.CONTACTS

    def apply(self, numbers: list[int], rows: list[list[str]]) -> tuple[str, str]:
        row, number = rows[0], numbers[0]
        errors: list[dict[str, str]] = []
        account = self.account(row, errors)
        consent = self.cell(row, "marketing_consent", m.parse_bool, errors)
        if errors:
            raise RowError(errors)
        assert account is not None
        values: dict[str, Any] = {
            "full_name": self.raw(row, "full_name"),
            "title": self.raw(row, "title"),
            "email": self.raw(row, "email").lower(),
            "phone": self.raw(row, "phone"),
            "language": self.raw(row, "language").lower(),
        }
        if self.mapped("marketing_consent"):
            values["marketing_consent"] = bool(consent)
        person = values["email"] or values["full_name"].casefold()
        earlier = self.same_as((account.pk, person), number)
        if earlier is not None:
            return RowAction.SKIP, _("Same person as row %(row)d of this file.") % {"row": earlier}
        existing = Contact.objects.for_org(self.org_id).filter(
            account=account, archived_at__isnull=True, erased_at__isnull=True
        )
        if values["email"]:
            existing = existing.filter(email=values["email"])
        else:
            existing = existing.filter(full_name__iexact=values["full_name"])
        match = existing.order_by("pk").first()
        choice = self.job.on_match
        if match is not None and choice == MatchChoice.SKIP:
            return RowAction.SKIP, _("%(name)s exists at this account.") % {"name": match.full_name}
        if match is not None and choice == MatchChoice.UPDATE:
            changes = self.fields_changed(values)
            if "marketing_consent" in values:
                changes["marketing_consent"] = values["marketing_consent"]
            contact_update(contact=match, acting_user=self.user, **changes)
            return RowAction.UPDATE, ""
        full_name = values.pop("full_name")
        contact_create(account=account, full_name=full_name, acting_user=self.user, **values)
        return RowAction.CREATE, ""


class OpportunityImporter(Importer):
    """A deal per external id (if mapped) or per account + name; several rows of one deal
    each add a product line."""

    kind = ImportKind.OPPORTUNITIES
    # New deals are built row by row and written a chunk at a time (``_process_bulk``); the
    # per-row path stays for the other kinds and is the equality test's reference.
    bulk = True

    def __init__(self, job: ImportJob, user: User, table: Table) -> None:
        super().__init__(job, user, table)
        # A chunk's matches read at once (``prefetch_existing``): match key -> deal or None.
        self.known: dict[tuple[Any, ...], Opportunity | None] = {}
        # The account groups the bulk path's deals went to, checked after the last chunk.
        self.groups = ImportedGroups()

    def _key(self, row: list[str]) -> tuple[str, str]:
        external = self.raw(row, "external_id")
        if external:
            return ("ext", external)
        return ("name", f"{normalize_name(self.raw(row, 'account'))}|{self.raw(row, 'name')}")

    def rows(self) -> Iterator[tuple[list[int], list[list[str]]]]:
        # A unit per key in the order of its first row, its rows gathered as it is taken: a
        # pair of lists per unit held for the whole file was 34 MB for 100,000 rows.
        first: dict[tuple[str, str], int] = {}
        more: dict[int, list[int]] = {}  # a unit's later rows, by its first row's index
        for i, row in enumerate(self.table.rows):
            at = first.setdefault(self._key(row), i)
            if at != i:
                more.setdefault(at, []).append(i)
        numbers, rows = self.table.numbers, self.table.rows
        for at in first.values():
            members = [at, *more.get(at, ())]
            yield [numbers[i] for i in members], [rows[i] for i in members]

    def stage(self, row: list[str], company: SalesCompany, errors: list[Any]) -> LocalStage | None:
        text = self.raw(row, "stage")
        if not text:
            return None
        wanted = self.mapped_value("stage", text)

        def load() -> LocalStage | None:
            stages = (
                LocalStage.objects.for_org(self.org_id)
                .filter(process__sales_company=company)
                .select_related("global_stage")
                .order_by("order", "pk")
            )
            return (
                stages.filter(name__iexact=wanted).first()
                or stages.filter(global_stage__name__iexact=wanted).first()
            )

        found: LocalStage | None = self._cached("stage", f"{company.pk}|{wanted.casefold()}", load)
        if found is None:
            self.unknown_value(
                "stage",
                text,
                errors,
                _("“%(value)s” is not a stage of %(company)s.")
                % {"value": text, "company": company.name},
            )
        return found

    def _product_loader(self, sku: str) -> Callable[[], Product | None]:
        return lambda: Product.objects.for_org(self.org_id).filter(sku__iexact=sku).first()

    def lines(self, rows: list[list[str]], errors: list[Any]) -> list[LineInput]:
        out = []
        for row in rows:
            sku = self.raw(row, "product")
            if not sku:
                continue
            product: Product | None = self._cached(
                "product", sku.casefold(), self._product_loader(sku)
            )
            quantity = self.cell(row, "quantity", m.parse_decimal, errors)
            price = self.cell(row, "unit_price", m.parse_decimal, errors)
            discount = self.cell(row, "discount_percent", m.parse_decimal, errors)
            if product is None:
                errors.append(
                    self.error("product", _("No product has the SKU “%(value)s”.") % {"value": sku})
                )
                continue
            out.append(
                LineInput(
                    product=product,
                    quantity=quantity if quantity is not None else Decimal(1),
                    unit_price=price,
                    discount_percent=discount or Decimal(0),
                )
            )
        return out

    def resolve(self, rows: list[list[str]]) -> DealRow:
        """The unit's cells read and its references resolved (``RowError`` with every problem
        of the row at once); the same for both paths."""
        row = rows[0]
        errors: list[dict[str, str]] = []
        account = self.account(row, errors)
        owner = self.owner(row, errors) or (None if self.raw(row, "owner") else self.user)
        company = self.company(row, "sales_company", errors)
        if company is None and owner is not None and not self.raw(row, "sales_company"):
            company = owner.sales_company
        stage = self.stage(row, company, errors) if company is not None else None
        amount = self.cell(row, "amount", m.parse_decimal, errors)
        currency = self.currency(row, errors)
        close = self.cell(row, "expected_close_date", m.parse_date, errors)
        lines = self.lines(rows, errors)
        if errors:
            raise RowError(errors)
        assert account is not None and owner is not None
        return DealRow(
            row=row,
            account=account,
            owner=owner,
            company=company,
            stage=stage,
            amount=amount,
            currency=currency,
            close=close,
            lines=lines,
            name=self.raw(row, "name"),
            external=self.raw(row, "external_id"),
        )

    def closing(self, deal: DealRow) -> bool:
        stage = deal.stage
        return stage is not None and (stage.global_stage.is_won or stage.global_stage.is_lost)

    def apply(self, numbers: list[int], rows: list[list[str]]) -> tuple[str, str]:
        deal = self.resolve(rows)
        existing = self._existing(deal.account, deal.name, deal.external)
        choice = self.job.on_match
        if existing is not None and choice == MatchChoice.SKIP:
            return RowAction.SKIP, _("The deal exists.")
        if existing is not None and choice == MatchChoice.UPDATE:
            self._update(existing, deal)
            return RowAction.UPDATE, ""
        closing = self.closing(deal)
        opportunity = opportunity_create(**self.create_arguments(deal, closing=closing))
        if closing:
            assert deal.stage is not None
            opportunity_move_stage(
                opportunity=opportunity,
                local_stage=deal.stage,
                acting_user=self.user,
                lost_reason=_("Imported"),
            )
        if deal.external:
            ImportKey.objects.for_org(self.org_id).update_or_create(
                organization_id=self.org_id,
                kind=self.kind,
                external_id=deal.external[:100],
                defaults={"object_id": opportunity.pk},
            )
        return RowAction.CREATE, ""

    def create_arguments(self, deal: DealRow, *, closing: bool = False) -> dict[str, Any]:
        """``opportunity_create``'s (and ``opportunity_build``'s) arguments for the row: a deal
        closed in the file is created open and moved afterwards, as a seller would."""
        return {
            "acting_user": self.user,
            "account": deal.account,
            "name": deal.name,
            "local_stage": None if closing else deal.stage,
            "sales_company": deal.company,
            "owner": deal.owner,
            "amount": deal.amount,
            "currency": deal.currency or None,
            "expected_close_date": deal.close,
            "next_step": self.raw(deal.row, "next_step"),
            "lines": deal.lines,
        }

    # Batched reads of a chunk --------------------------------------------------------------
    #
    # Each fills the same cache entries the per-row loaders fill (``_cached``), with the same
    # filters, so the cells resolve exactly as row by row, with one query per kind of
    # reference per chunk. A case-insensitive match (``__iexact``: UPPER() in PostgreSQL) is
    # batched for ASCII values only, where Python's upper() is PostgreSQL's in any locale;
    # another value keeps its per-row query.

    def prefetch_references(self, units: list[tuple[list[int], list[list[str]]]]) -> None:
        firsts = [rows[0] for _numbers, rows in units]
        self._prefetch_accounts(firsts)
        texts = {self.raw(r, "owner") for r in firsts} - {""}
        owners = {self.mapped_value("owner", t) for t in texts}
        self._prefetch_iexact(
            "owner",
            owners,
            User.objects.for_org(self.org_id)
            .filter(is_active=True)
            .select_related("sales_company"),
            "email",
        )
        skus = {self.raw(r, "product") for _n, rows in units for r in rows} - {""}
        self._prefetch_iexact("product", skus, Product.objects.for_org(self.org_id), "sku")

    def _prefetch_accounts(self, rows: list[list[str]]) -> None:
        wanted: dict[str, tuple[str, str, str]] = {}
        for row in rows:
            name = self.raw(row, "account")
            reg = normalize_registration(self.raw(row, "account_registration"))
            country = m.parse_country(self.raw(row, "account_country")) or ""
            key = f"{reg}|{normalize_name(name)}|{country}"
            if (name or reg) and ("account", key) not in self._cache:
                wanted[key] = (reg, normalize_name(name), country)
        if not wanted:
            return
        regs = {reg for reg, _n, _c in wanted.values() if reg}
        names = {n for reg, n, _c in wanted.values() if not reg}
        found = (
            Account.objects.visible_to(self.user)
            .filter(Q(registration_key__in=regs) | Q(normalized_name__in=names))
            .select_related("home_company")
            .order_by("pk")
        )
        by_reg: dict[str, list[Account]] = {}
        by_name: dict[str, list[Account]] = {}
        for account in found:
            by_reg.setdefault(account.registration_key, []).append(account)
            by_name.setdefault(account.normalized_name, []).append(account)
        for key, (reg, name, country) in wanted.items():
            if reg:
                matches = by_reg.get(reg, [])
            else:
                matches = [a for a in by_name.get(name, []) if not country or a.country == country]
            self._cache[("account", key)] = matches[:2]

    def _prefetch_iexact(self, kind: str, values: set[str], qs: Any, field_name: str) -> None:
        wanted = {v for v in values if v.isascii() and (kind, v.casefold()) not in self._cache}
        if not wanted:
            return
        first: dict[str, Any] = {}
        rows = (
            qs.annotate(_upper=Upper(field_name))
            .filter(_upper__in=sorted({v.upper() for v in wanted}))
            .order_by("pk")
        )
        for obj in rows:
            first.setdefault(getattr(obj, field_name).upper(), obj)
        for value in wanted:
            self._cache[(kind, value.casefold())] = first.get(value.upper())

    def match_key(self, deal: DealRow) -> tuple[Any, ...]:
        if deal.external:
            return ("ext", deal.external[:100])
        return ("name", deal.account.pk, deal.name.strip().upper())

    def prefetch_existing(self, deals: list[DealRow]) -> None:
        """The existing deals the chunk's rows match (``_existing``), in two queries."""
        self.known = {}
        externals = sorted({d.external[:100] for d in deals if d.external})
        keys: dict[str, int] = {}
        if externals:
            keys = dict(
                ImportKey.objects.for_org(self.org_id)
                .filter(kind=self.kind, external_id__in=externals)
                .values_list("external_id", "object_id")
            )
        named = [d for d in deals if not d.external and d.name.strip().isascii()]
        condition = Q(pk__in=sorted(set(keys.values())))
        if named:
            condition |= Q(
                account_id__in=sorted({d.account.pk for d in named}),
                _upper__in=sorted({d.name.strip().upper() for d in named}),
            )
        found: dict[Any, Opportunity] = {}
        if keys or named:
            for deal in (
                Opportunity.objects.visible_to(self.user)
                .annotate(_upper=Upper("name"))
                .filter(condition)
                .order_by("pk")
            ):
                found.setdefault(deal.pk, deal)
                found.setdefault(("name", deal.account_id, deal.name.upper()), deal)
        for external in externals:
            pk = keys.get(external)
            self.known[("ext", external)] = found.get(pk) if pk else None
        for d in named:
            key = self.match_key(d)
            self.known[key] = found.get(key)

    def existing_of(self, deal: DealRow) -> Opportunity | None:
        return self._existing(deal.account, deal.name, deal.external)

    def build_lookups(self, deals: list[DealRow]) -> BuildLookups:
        """The stages of the chunk's companies, locked (as each build would lock its one), and
        the price book of its products: ``opportunity_build`` then reads nothing per deal."""
        companies = {c.pk for c in (d.company or d.owner.sales_company for d in deals) if c}
        stages = list(
            LocalStage.objects.for_org(self.org_id)
            .filter(process__sales_company_id__in=sorted(companies))
            .select_for_update(of=("self",))
            .select_related("global_stage", "process")
            .order_by("order", "pk")
        )
        first: dict[int, LocalStage] = {}
        for stage in stages:
            first.setdefault(stage.process.sales_company_id, stage)
        untyped = sorted({ln.product.pk for d in deals for ln in d.lines if ln.unit_price is None})
        # The date a new deal's list prices are converted on (``_build_lines``).
        today = timezone.localdate(timezone.now())
        return BuildLookups(
            stages={stage.pk: stage for stage in stages},
            first_stages=first,
            organization=self.user.organization,
            book=pricing.price_book(organization_id=self.org_id, product_ids=untyped)
            if untyped
            else {},
            rates=pricing.rates_on(organization=self.user.organization, on_date=today)
            if untyped
            else None,
            rates_date=today,
        )

    def persist(self, drafts: list[OpportunityDraft], deals: list[DealRow]) -> None:
        """A chunk's new deals: their rows in one INSERT per table, their import keys, the
        conflict check once per account group, then ``opportunity.created`` for each."""
        opportunities = opportunity_persist(drafts=drafts)
        keys = [
            ImportKey(
                organization_id=self.org_id,
                kind=self.kind,
                external_id=deal.external[:100],
                object_id=opportunity.pk,
            )
            for deal, opportunity in zip(deals, opportunities, strict=True)
            if deal.external
        ]
        # As update_or_create: a key left by a deal the user cannot see (or a deleted one)
        # now names the new deal.
        ImportKey.objects.bulk_create(
            keys,
            update_conflicts=True,
            unique_fields=["organization", "kind", "external_id"],
            update_fields=["object_id"],
        )
        ids = [o.pk for o in opportunities]
        # The deals' own situations now; their groups' once, after the last chunk. Their facts
        # from the drafts: reading them back rebuilt five instances per deal.
        facts = new_deals_facts(self.user.organization, [(d.opportunity, d.lines) for d in drafts])
        check_imported(
            organization_id=self.org_id, opportunity_ids=ids, groups=self.groups, facts=facts
        )
        # One callback per chunk holding the ids (the deals are read again after the commit):
        # a callback per deal held every deal of the file until the end.
        emit_many(self.org_id, "opportunity.created", Opportunity, ids, related=["global_stage"])

    def _existing(self, account: Account, name: str, external: str) -> Opportunity | None:
        known: tuple[Any, ...] = (
            ("ext", external[:100]) if external else ("name", account.pk, name.strip().upper())
        )
        if known in self.known:
            return self.known[known]
        visible = Opportunity.objects.visible_to(self.user)
        if external:
            key = (
                ImportKey.objects.for_org(self.org_id)
                .filter(kind=self.kind, external_id=external[:100])
                .values_list("object_id", flat=True)
                .first()
            )
            return visible.filter(pk=key).first() if key else None
        return visible.filter(account=account, name__iexact=name.strip()).order_by("pk").first()

    def _update(self, opportunity: Opportunity, deal: DealRow) -> None:
        name, owner, stage, lines, row = deal.name, deal.owner, deal.stage, deal.lines, deal.row
        amount, currency, close = deal.amount, deal.currency, deal.close
        if lines:
            opportunity = opportunity_set_lines(
                opportunity=opportunity, lines=lines, acting_user=self.user
            )
        changes = self.fields_changed(
            {
                "name": name,
                "amount": None if lines else amount,
                "currency": None if lines else currency,
                "expected_close_date": close,
                "next_step": self.raw(row, "next_step"),
            }
        )
        if self.mapped("owner") and owner.pk != opportunity.owner_id:
            changes["owner"] = owner
        changes = {k: v for k, v in changes.items() if getattr(opportunity, k) != v}
        if changes:
            opportunity_update(
                opportunity=opportunity,
                acting_user=self.user,
                expected_version=opportunity.version,
                **changes,
            )
        if stage is not None and stage.pk != opportunity.local_stage_id:
            opportunity_move_stage(
                opportunity=opportunity,
                local_stage=stage,
                acting_user=self.user,
                lost_reason=_("Imported"),
            )


class LeadImporter(Importer):
    kind = ImportKind.LEADS

    def apply(self, numbers: list[int], rows: list[list[str]]) -> tuple[str, str]:
        row, number = rows[0], numbers[0]
        errors: list[dict[str, str]] = []
        country = self.country(row, "country", errors)
        owner = self.owner(row, errors)
        if errors:
            raise RowError(errors)
        company_name = self.raw(row, "company_name")
        contact_name = self.raw(row, "contact_name")
        email = self.raw(row, "email").lower()
        person = email or f"{normalize_name(company_name)}|{contact_name.casefold()}"
        earlier = self.same_as(person, number)
        if earlier is not None:
            return RowAction.SKIP, _("Same lead as row %(row)d of this file.") % {"row": earlier}
        existing = Lead.objects.visible_to(self.user).filter(erased_at__isnull=True)
        if email:
            existing = existing.filter(email=email)
        else:
            existing = existing.filter(
                company_name__iexact=company_name, contact_name__iexact=contact_name
            )
        if existing.exists() and self.job.on_match != MatchChoice.CREATE:
            # Leads have no edit service an import could share: a known lead is left as it is.
            return RowAction.SKIP, _("The lead exists.")
        lead_create(
            organization=self.user.organization,
            acting_user=self.user,
            company_name=company_name,
            contact_name=contact_name,
            country=country,
            source=self.raw(row, "source") or _("Import"),
            email=email,
            phone=self.raw(row, "phone"),
            contact_title=self.raw(row, "contact_title"),
            registration_number=self.raw(row, "registration_number"),
            domain=self.raw(row, "domain"),
            owner=owner,
        )
        return RowAction.CREATE, ""


IMPORTERS: dict[str, type[Importer]] = {
    ImportKind.ACCOUNTS: AccountImporter,
    ImportKind.CONTACTS: ContactImporter,
    ImportKind.OPPORTUNITIES: OpportunityImporter,
    ImportKind.LEADS: LeadImporter,
}

_ROW_ERRORS = (
    RowError,
    ValidationError,
    PermissionDenied,
    Http404,
    MissingExchangeRateError,
)


def _unit_outcomes(numbers: list[int], action: str, message: str) -> list[Outcome]:
    return [
        Outcome(numbers[0], action, message=message),
        *(
            Outcome(n, action, message=_("Line of row %(row)d.") % {"row": numbers[0]})
            for n in numbers[1:]
        ),
    ]


def _failed(
    importer: Importer, numbers: list[int], exc: Exception, *, commit: bool
) -> list[Outcome]:
    """A rejected unit's verdicts; at commit time, the end of the whole import."""
    errors = _errors_of(importer, exc)
    if commit:
        raise CommitFailed(
            _("Row %(row)d failed: %(error)s Nothing was imported.")
            % {"row": numbers[0], "error": "; ".join(e["message"] for e in errors)}
        ) from exc
    return [Outcome(n, RowAction.ERROR, errors=errors) for n in numbers]


def _run_unit(
    importer: Importer, numbers: list[int], rows: list[list[str]], *, commit: bool
) -> list[Outcome]:
    """One unit through the services, in a savepoint: a failed row leaves nothing behind."""
    try:
        with transaction.atomic():
            action, message = importer.apply(numbers, rows)
    except _ROW_ERRORS as exc:
        return _failed(importer, numbers, exc, commit=commit)
    return _unit_outcomes(numbers, action, message)


def _check(job: ImportJob, done: int) -> None:
    cache.set(_progress_key(job.pk), done, PROGRESS_TTL)
    if (
        ImportJob.objects.for_org(job.organization_id)
        .filter(pk=job.pk, cancel_requested=True)
        .exists()
    ):
        raise Cancelled


def _process(
    importer: Importer, job: ImportJob, *, rejected: set[int], commit: bool
) -> list[Outcome]:
    if isinstance(importer, OpportunityImporter) and importer.bulk:
        return _process_bulk(importer, job, rejected=rejected, commit=commit)
    outcomes: list[Outcome] = []
    done = 0
    next_check = CHECK_EVERY
    for numbers, rows in importer.rows():
        if commit and numbers[0] in rejected:
            outcomes += [Outcome(n, RowAction.ERROR) for n in numbers]
        else:
            outcomes += _run_unit(importer, numbers, rows, commit=commit)
        done += len(numbers)
        if done >= next_check:
            next_check = done + CHECK_EVERY
            _check(job, done)
    return outcomes


# Opportunity units per chunk of the bulk path: its reads and writes are one query per kind.
CHUNK = 1000
# The dry run's verdicts written per INSERT.
ROWS_BATCH = 2000


def _process_bulk(
    importer: OpportunityImporter, job: ImportJob, *, rejected: set[int], commit: bool
) -> list[Outcome]:
    """The opportunity file a chunk at a time: progress and the cancel flag per chunk. The
    units are taken from ``importer.rows()`` a chunk at a time, and nothing of a chunk but its
    verdicts outlives it (its deals, drafts and reads go with it)."""
    outcomes: list[Outcome] = []
    done = 0
    units = importer.rows()
    while chunk := list(islice(units, CHUNK)):
        outcomes += _process_chunk(importer, chunk, rejected=rejected, commit=commit)
        # The accounts are the one reference without a bound (tens of thousands in a large
        # file, each with its home company): the next chunk's prefetch reads its own again.
        importer.forget("account")
        done += sum(len(numbers) for numbers, _rows in chunk)
        _check(job, done)
    _check_groups(importer, commit=commit)
    return outcomes


def _check_groups(importer: OpportunityImporter, *, commit: bool) -> None:
    """The group rules of every group the new deals went to, once each, after the last
    chunk (``check_imported_groups``). Inside the import's transaction: the commit is still
    all or nothing, and the dry run's verdicts still include the check."""
    try:
        with transaction.atomic():
            check_imported_groups(organization_id=importer.org_id, groups=importer.groups)
    except DatabaseError as exc:
        # No row to name: the import ends as a failed commit does (nothing is written); the
        # database's words are for the log, not the page.
        logger.exception("The group check of import %s failed.", importer.job.pk)
        raise CommitFailed(
            _("The conflict check of the imported deals failed. Nothing was imported.")
        ) from exc


@dataclass
class _Pending:
    index: int  # the unit's place in the chunk's verdicts
    numbers: list[int]
    rows: list[list[str]]
    deal: DealRow
    draft: OpportunityDraft


def _process_chunk(
    importer: OpportunityImporter,
    units: list[tuple[list[int], list[list[str]]]],
    *,
    rejected: set[int],
    commit: bool,
) -> list[Outcome]:
    """One chunk: every unit read and checked as row by row (``resolve``, then
    ``opportunity_build``: the same rules and messages), the new deals written together.
    Matches of existing deals (updates, skips) and deals closed in the file go through the
    per-row path's services (``_run_unit``): they are few in a migration file, and an update
    is a change of one deal with its own checks."""
    importer.prefetch_references(units)
    results: list[list[Outcome]] = [[] for _unit in units]
    resolved: list[tuple[int, DealRow]] = []
    for i, (numbers, rows) in enumerate(units):
        if commit and numbers[0] in rejected:
            results[i] = [Outcome(n, RowAction.ERROR) for n in numbers]
            continue
        try:
            resolved.append((i, importer.resolve(rows)))
        except _ROW_ERRORS as exc:
            results[i] = _failed(importer, numbers, exc, commit=commit)
    importer.prefetch_existing([deal for _i, deal in resolved])
    lookups = importer.build_lookups([deal for _i, deal in resolved]) if resolved else None
    pending: list[_Pending] = []
    pending_keys: set[tuple[Any, ...]] = set()
    for i, deal in resolved:
        numbers, rows = units[i]
        key = importer.match_key(deal)
        if key in pending_keys:
            # An earlier unit of this chunk creates the deal this one matches (the same
            # account and name in another spelling): written first, it is found as row by row.
            _flush(importer, pending, results, commit=commit)
            pending, pending_keys = [], set()
            importer.known.pop(key, None)
            results[i] = _run_unit(importer, numbers, rows, commit=commit)
            continue
        if importer.existing_of(deal) is not None or importer.closing(deal):
            results[i] = _run_unit(importer, numbers, rows, commit=commit)
            continue
        assert lookups is not None
        try:
            draft = opportunity_build(**importer.create_arguments(deal), lookups=lookups)
        except _ROW_ERRORS as exc:
            results[i] = _failed(importer, numbers, exc, commit=commit)
            continue
        pending.append(_Pending(i, numbers, rows, deal, draft))
        pending_keys.add(key)
    _flush(importer, pending, results, commit=commit)
    return [outcome for unit in results for outcome in unit]


def _flush(
    importer: OpportunityImporter,
    pending: list[_Pending],
    results: list[list[Outcome]],
    *,
    commit: bool,
) -> None:
    if not pending:
        return
    try:
        with transaction.atomic():
            importer.persist([p.draft for p in pending], [p.deal for p in pending])
    except (DatabaseError, *_ROW_ERRORS):
        # Something the checks let through failed in the database: the chunk's savepoint is
        # gone; its units go row by row, which names the row (and at commit, ends the import).
        for p in pending:
            results[p.index] = _run_unit(importer, p.numbers, p.rows, commit=commit)
        return
    for p in pending:
        results[p.index] = _unit_outcomes(p.numbers, RowAction.CREATE, "")


def _finish(job: ImportJob, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    job.save(update_fields=list(fields))
    cache.delete(_progress_key(job.pk))


def import_run(*, job_id: int, organization_id: int, commit: bool) -> str:
    """The task's body: the dry run (``commit=False``) or the commit of one job."""
    with org_scope(organization_id):
        job = (
            ImportJob.objects.for_org(organization_id)
            .select_related("created_by", "created_by__organization", "created_by__sales_company")
            # The file is read into the table below; held on the job too, it stayed in memory
            # for the whole run (14 MB for 100,000 rows, twice while copied to bytes).
            .defer("content")
            .get(pk=job_id)
        )
        wanted = ImportStatus.RUNNING if commit else ImportStatus.DRY_RUN
        if job.status != wanted:  # a redelivered message after the job moved on: nothing to do
            return job.status
        user = job.created_by
        if job.cancel_requested:
            _finish(job, status=ImportStatus.CANCELLED, finished_at=timezone.now())
            return job.status
        content = (
            ImportJob.objects.for_org(organization_id)
            .values_list("content", flat=True)
            .get(pk=job.pk)
        )
        table = read_table(bytes(content), job.file_name)
        del content
        importer = IMPORTERS[job.kind](job, user, table)
        rejected = set(
            ImportRow.objects.for_org(organization_id)
            .filter(job=job, action=RowAction.ERROR)
            .values_list("row_number", flat=True)
        )
        try:
            # The records' own history says where they came from.
            note = _("imported from %(file)s") % {"file": job.file_name}
            with (
                pghistory.context(user=user.pk, import_job=job.pk, note=note),
                transaction.atomic(),
            ):
                # One transaction for the whole file: keep its per-row trigger cost flat.
                quiet_trigger_checks()
                outcomes = _process(importer, job, rejected=rejected, commit=commit)
                if not commit:
                    transaction.set_rollback(True)
        except Cancelled:
            _finish(
                job,
                status=ImportStatus.CANCELLED,
                finished_at=timezone.now(),
                message=_("Cancelled; nothing was imported."),
            )
            return job.status
        except CommitFailed as exc:
            _finish(job, status=ImportStatus.FAILED, finished_at=timezone.now(), message=str(exc))
            return job.status
        counts = {
            "created_count": sum(o.action == RowAction.CREATE for o in outcomes),
            "updated_count": sum(o.action == RowAction.UPDATE for o in outcomes),
            "skipped_count": sum(o.action == RowAction.SKIP for o in outcomes),
            "error_count": sum(o.action == RowAction.ERROR for o in outcomes),
        }
        if not commit:
            with transaction.atomic():
                ImportRow.objects.for_org(organization_id).filter(job=job).delete()
                # A batch of model instances at a time, not one per row of the file at once.
                for start in range(0, len(outcomes), ROWS_BATCH):
                    ImportRow.objects.bulk_create(
                        [
                            ImportRow(
                                organization_id=organization_id,
                                job=job,
                                row_number=o.row_number,
                                action=o.action,
                                errors=list(o.errors),
                                message=o.message[:500],
                            )
                            for o in outcomes[start : start + ROWS_BATCH]
                        ]
                    )
                _finish(
                    job,
                    status=ImportStatus.READY,
                    rows_done=len(outcomes),
                    unknown_values={k: sorted(v) for k, v in importer.unknown.items()},
                    **counts,
                )
            return job.status
        _finish(
            job,
            status=ImportStatus.DONE,
            rows_done=len(outcomes),
            finished_at=timezone.now(),
            **counts,
        )
        emit(
            organization_id,
            "import.finished",
            job,
            {
                "import": {
                    "id": job.pk,
                    "kind": job.kind,
                    "file_name": job.file_name,
                    "created": counts["created_count"],
                    "updated": counts["updated_count"],
                    "skipped": counts["skipped_count"],
                    "rejected": counts["error_count"],
                }
            },
        )
        return job.status
