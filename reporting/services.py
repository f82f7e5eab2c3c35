"""Reporting writes: targets, pipeline snapshots, report exports."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import BigIntegerField, Count, DateField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.middleware import supported_language
from crm.models import Organization, Region, SalesCompany, User
from crm.money import (
    MissingExchangeRateError,
    missing_rate,
    money,
    raise_if_missing,
    with_corporate_amount,
)
from crm.queue import enqueue
from crm.roles import MANAGER_ROLES, ORG_WIDE_ROLES, Role
from crm.spreadsheet import export_filename
from crm.tenancy import org_scope, require_same_org
from crm.visibility import covers_company
from opportunities.models import Opportunity, StageChange
from pipeline.models import GlobalStage
from reporting import exports, kpis
from reporting.models import (
    Export,
    ExportFormat,
    ExportStatus,
    PeriodKind,
    PipelineSnapshot,
    Target,
)
from reporting.periods import fiscal_quarter, fiscal_year

logger = logging.getLogger(__name__)

EXPORT_TTL = dt.timedelta(days=7)
REPORT_ROLES = ORG_WIDE_ROLES | MANAGER_ROLES


# --- Targets -------------------------------------------------------------------------------


def may_set_target(
    user: User, *, sales_company: SalesCompany | None = None, person: User | None = None
) -> bool:
    """Who sets targets (ARCHITECTURE.md: targets are global sales management's): the director
    and the admin for any company or person of the organization; a country or regional manager
    for the companies of their scope and those companies' people, never for themselves; a rep or
    marketing never (nobody sets their own target but the director). Without a company or person:
    whether the role sets targets at all (the page, the menu)."""
    if not user.is_active:
        return False
    if user.role in ORG_WIDE_ROLES:
        return True
    if user.role not in MANAGER_ROLES:
        return False
    if person is not None:
        return person.pk != user.pk and covers_company(user, person.sales_company_id)
    if sales_company is not None:
        return covers_company(user, sales_company.pk)
    return True


def _check_period(organization: Organization, period_kind: str, period_start: dt.date) -> None:
    """A target's period is a fiscal quarter or year, named by its first day (reporting.periods):
    any other day would be a period no report ever reads. (Counts may be fractional: a quarter's
    share of a yearly goal of 6 events is 1.5.)"""
    if period_kind not in PeriodKind.values:
        return  # full_clean names the bad choice
    period = (fiscal_year if period_kind == PeriodKind.YEAR else fiscal_quarter)(
        organization, period_start
    )
    if period.start != period_start:
        raise ValidationError(
            {
                "period_start": _(
                    "A period starts on the first day of a fiscal %(kind)s (%(start)s)."
                )
                % {"kind": PeriodKind(period_kind).label.lower(), "start": period.start.isoformat()}
            }
        )


@transaction.atomic
def target_set(
    *,
    organization: Organization,
    kind: str,
    period_kind: str,
    period_start: dt.date,
    value: Decimal,
    sales_company: SalesCompany | None = None,
    user: User | None = None,
    acting_user: User | None,
) -> Target:
    """Create or replace the target of one company or person for one period.

    Who may: ``may_set_target`` (the director and admin everywhere, a manager in their scope
    but not for themselves); ``acting_user=None`` is the system (demo seed, imports). The
    period starts on the first day of a fiscal quarter or year; counts are whole numbers."""
    # Another organization (the caller's, the company's or the person's) is missing: 404.
    require_same_org(organization.pk, sales_company, user, acting_user)
    if acting_user is not None and not may_set_target(
        acting_user, sales_company=sales_company, person=user
    ):
        raise PermissionDenied(_("You may not set this target."))
    if (sales_company is None) == (user is None):
        raise ValidationError(_("A target is for one sales company or one person."))
    _check_period(organization, period_kind, period_start)
    target, _created = Target.objects.for_org(organization).update_or_create(
        kind=kind,
        period_kind=period_kind,
        period_start=period_start,
        sales_company=sales_company,
        user=user,
        defaults={"organization": organization, "value": value},
    )
    target.full_clean()
    return target


# --- Pipeline snapshots --------------------------------------------------------------------


@transaction.atomic
def pipeline_snapshot_take(*, organization: Organization, on_date: dt.date) -> int:
    """Store the organization's open pipeline on ``on_date`` per company and global stage.

    Idempotent: taking the same date again replaces that date's rows. A past date is rebuilt
    from the stage history: each deal's stage on that day is its last StageChange up to the end
    of the day (its current stage when it has no history), and deals created later or already
    closed then are left out. Amounts convert at the rate of ``on_date``. Returns rows written.
    """
    end = dt.datetime.combine(on_date + dt.timedelta(days=1), dt.time.min, dt.UTC)
    stage_then = (
        StageChange.objects.for_org(organization)
        .filter(opportunity_id=OuterRef("pk"), changed_at__lt=end)
        .order_by("-changed_at", "-id")
        .values("to_global_stage_id")[:1]
    )
    stages = {s.pk: s for s in GlobalStage.objects.for_org(organization)}
    open_ids = [pk for pk, s in stages.items() if not s.is_closed]
    qs = (
        Opportunity.objects.for_org(organization)
        .filter(created_at__lt=end)
        .exclude(closed_at__lt=end)
        .annotate(
            stage_then=Coalesce(
                Subquery(stage_then), "global_stage_id", output_field=BigIntegerField()
            )
        )
        .filter(stage_then__in=open_ids)
    )
    priced = with_corporate_amount(qs, organization, rate_date=Value(on_date, DateField()))
    rows = list(
        priced.values("sales_company_id", "stage_then")
        .annotate(n=Count("id"), total=Sum("corporate_amount"), missing=missing_rate())
        .order_by()
    )
    raise_if_missing(organization, (r["missing"] for r in rows))
    PipelineSnapshot.objects.for_org(organization).filter(taken_on=on_date).delete()
    PipelineSnapshot.objects.bulk_create(
        PipelineSnapshot(
            organization=organization,
            taken_on=on_date,
            sales_company_id=r["sales_company_id"],
            global_stage_id=r["stage_then"],
            forecast_category=stages[r["stage_then"]].forecast_category,
            count=r["n"],
            amount=money(r["total"]),
        )
        for r in rows
    )
    return len(rows)


# --- Exports -------------------------------------------------------------------------------


def _check_export_scope(
    user: User, region: Region | None, sales_company: SalesCompany | None
) -> None:
    # Another organization's region or company is missing (404); one's own outside the user's
    # scope is refused (403): the organization's structure is known to everyone in it.
    require_same_org(user.organization_id, region, sales_company)
    if not user.is_active or user.role not in REPORT_ROLES:
        raise PermissionDenied("Reports are for managers and the global sales director.")
    if user.role in ORG_WIDE_ROLES:
        return
    if sales_company is not None:
        if not covers_company(user, sales_company.pk):
            raise PermissionDenied("This sales company is not in your scope.")
        return
    if region is not None and user.role == Role.REGIONAL_MANAGER and region.pk == user.region_id:
        return
    raise PermissionDenied("This report is not in your scope.")


def default_export_scope(user: User) -> tuple[Region | None, SalesCompany | None]:
    """A manager's own report: the region of a regional manager, the company of a country
    manager, the whole organization for the director."""
    if user.role == Role.REGIONAL_MANAGER:
        return user.region, None
    if user.role == Role.COUNTRY_MANAGER:
        return None, user.sales_company
    return None, None


@transaction.atomic
def export_request(
    *,
    acting_user: User,
    file_format: str,
    region: Region | None = None,
    sales_company: SalesCompany | None = None,
) -> Export:
    """Queue the regional report for ``acting_user``; the file is generated by a Celery task
    once this transaction commits."""
    if file_format not in ExportFormat.values:
        raise ValidationError({"format": "Unknown format."})
    _check_export_scope(acting_user, region, sales_company)
    export = Export.objects.create(
        organization_id=acting_user.organization_id,
        requested_by=acting_user,
        region=region,
        sales_company=sales_company,
        format=file_format,
    )
    transaction.on_commit(
        lambda: enqueue("reporting.tasks.generate_export", export.pk, export.organization_id)
    )
    return export


def export_file_path(export: Export) -> str:
    """Relative to MEDIA_ROOT: exports/<organization>/<uuid>.<ext> (xlsx, or zip for CSV)."""
    return f"exports/{export.organization_id}/{export.uuid}.{exports.file_extension(export.format)}"


def export_download_name(export: Export) -> str:
    """What the file is called on the reader's disk: the scope, the fiscal year and the day
    it was made, e.g. ``report-nordics-fy2026-2026-12-03.xlsx``."""
    org = Organization.objects.get(pk=export.organization_id)
    if export.sales_company_id:
        scope = SalesCompany.objects.for_org(org).get(pk=export.sales_company_id).code
    elif export.region_id:
        scope = Region.objects.for_org(org).get(pk=export.region_id).name
    else:
        scope = org.name
    made = timezone.localdate(export.created_at)
    return export_filename(
        "report",
        scope,
        fiscal_year(org, made).label,
        date=made,
        extension=exports.file_extension(export.format),
    )


def export_generate(*, export: Export, as_of: dt.date | None = None) -> Export:
    """Write the export's file. Idempotent: a done (or failed) export is left as it is; a
    running one (its worker died, the task was redelivered) is written again from scratch.

    Deliberately not one transaction: the progress updates must be visible to the page that
    polls while the file is written, and a half-written file is never exposed (it is renamed
    into place at the end).
    """
    org_id = export.organization_id
    claimed = (
        Export.objects.for_org(org_id)
        .filter(pk=export.pk, status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING])
        .update(status=ExportStatus.RUNNING, progress=0, error="")
    )
    if not claimed:
        export.refresh_from_db()
        return export
    user = (
        User.objects.for_org(org_id).select_related("organization").get(pk=export.requested_by_id)
    )
    scope = kpis.Scope(region_id=export.region_id, sales_company_id=export.sales_company_id)
    as_of = as_of or timezone.localdate()
    relative = export_file_path(export)
    final = Path(settings.MEDIA_ROOT) / relative
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(final.name + ".part")
    try:
        total = max(exports.count_streamed_rows(user=user, scope=scope, as_of=as_of), 1)

        def progress(rows: int) -> None:
            pct = min(99, rows * 100 // total)
            Export.objects.for_org(org_id).filter(pk=export.pk).update(progress=pct)

        # Titles, headers and labels in the requester's language, and the CSV separator with it.
        with translation.override(supported_language(user.effective_language)):
            rows = exports.write_report(
                path=partial,
                file_format=export.format,
                sections=exports.report_sections(user=user, scope=scope, as_of=as_of),
                on_rows=progress,
            )
        partial.replace(final)
    except MissingExchangeRateError as exc:
        partial.unlink(missing_ok=True)
        return _export_finish(export, status=ExportStatus.FAILED, error=exc.user_message)
    except Exception:
        partial.unlink(missing_ok=True)
        logger.exception("Export %s failed", export.pk)
        _export_finish(export, status=ExportStatus.FAILED, error="The report could not be built.")
        raise
    return _export_finish(export, status=ExportStatus.DONE, file_path=relative, row_count=rows)


def _export_finish(export: Export, *, status: str, **fields: object) -> Export:
    now = timezone.now()
    values = {"status": status, "finished_at": now, **fields}
    rows = Export.objects.for_org(export.organization_id).filter(pk=export.pk)
    if status == ExportStatus.DONE:
        values.update(progress=100, expires_at=now + EXPORT_TTL)
        # Only the delivery that moves it from running to done may finish it: a redelivered
        # task racing a slow first one must not announce the same file twice.
        rows = rows.filter(status=ExportStatus.RUNNING)
    finished = rows.update(**values)
    export.refresh_from_db()
    if finished and status == ExportStatus.DONE:
        _notify_export_ready(export)
    return export


def _notify_export_ready(export: Export) -> None:
    from django.core.mail import send_mail
    from django.urls import reverse

    user = User.objects.for_org(export.organization_id).get(pk=export.requested_by_id)
    link = reverse("reporting:export_detail", args=[export.uuid])
    send_mail(
        subject="Meridian: your report is ready",
        message=(
            f"Your {export.get_format_display()} report ({export.row_count} rows) is ready to "
            f"download until {export.expires_at:%Y-%m-%d %H:%M} UTC: {link}"
        ),
        from_email=None,
        recipient_list=[user.email],
    )


def export_is_downloadable(export: Export) -> bool:
    return (
        export.status == ExportStatus.DONE
        and bool(export.file_path)
        and export.expires_at is not None
        and export.expires_at > timezone.now()
        and (Path(settings.MEDIA_ROOT) / export.file_path).is_file()
    )


def exports_purge_expired(*, now: dt.datetime | None = None) -> int:
    """Delete the files of expired exports in every organization (each explicitly scoped);
    the rows stay as the record of what was requested. Returns files deleted."""
    now = now or timezone.now()
    deleted = 0
    for org_id in Organization.objects.order_by("pk").values_list("pk", flat=True):
        with org_scope(org_id):
            expired = (
                Export.objects.for_org(org_id).filter(expires_at__lte=now).exclude(file_path="")
            )
            for export in expired.only("pk", "file_path", "organization_id"):
                (Path(settings.MEDIA_ROOT) / export.file_path).unlink(missing_ok=True)
                Export.objects.for_org(org_id).filter(pk=export.pk).update(file_path="")
                deleted += 1
    return deleted
