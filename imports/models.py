"""Imports of accounts, contacts, opportunities and leads from CSV and XLSX files.

An ``ImportJob`` holds the uploaded file, its column and value mapping, the dry run's outcome
per row (``ImportRow``) and the commit's progress and counts: it is the one history entry of an
import (who, which file, when, how many created, updated, skipped and rejected). The records
it writes carry "imported from <file>" in their own audit history (pghistory context).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import User
from crm.tenancy import TenantModel


class ImportKind(models.TextChoices):
    ACCOUNTS = "accounts", _("Accounts")
    CONTACTS = "contacts", _("Contacts")
    OPPORTUNITIES = "opportunities", _("Opportunities")
    LEADS = "leads", _("Leads")


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting for the mapping")
    DRY_RUN = "dry_run", _("Dry run in progress")
    READY = "ready", _("Ready to import")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Imported")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class MatchChoice(models.TextChoices):
    """What to do with a row that matches an existing record."""

    UPDATE = "update", _("Update the existing record")
    SKIP = "skip", _("Skip the row")
    CREATE = "create", _("Create a new record anyway")


class RowAction(models.TextChoices):
    CREATE = "create", _("Create")
    UPDATE = "update", _("Update")
    SKIP = "skip", _("Skip")
    ERROR = "error", _("Error")


class ImportJob(TenantModel):
    created_by = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=16, choices=ImportKind.choices)
    file_name = models.CharField(_("file"), max_length=255)
    # The file itself (at most the upload limit): the dry run, the commit and the rejected
    # rows all read it again, and a worker on another machine has no shared disk.
    content = models.BinaryField(editable=False)
    headers = models.JSONField(default=list, editable=False)
    status = models.CharField(
        _("status"), max_length=12, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    # column index (as text, JSON keys are strings) -> field name
    mapping = models.JSONField(default=dict, blank=True)
    # field name -> {value as in the file -> value to use}
    value_map = models.JSONField(default=dict, blank=True)
    on_match = models.CharField(
        _("when a row matches an existing record"),
        max_length=8,
        choices=MatchChoice.choices,
        default=MatchChoice.UPDATE,
    )
    # field name -> values of the file nobody could resolve (the mapping page offers them)
    unknown_values = models.JSONField(default=dict, blank=True, editable=False)
    total_rows = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    skipped_count = models.PositiveIntegerField(_("skipped"), default=0)
    error_count = models.PositiveIntegerField(_("rejected"), default=0)
    cancel_requested = models.BooleanField(default=False)
    message = models.TextField(_("message"), blank=True)
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now, editable=False)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        indexes = [
            models.Index(
                fields=["organization", "created_by", "-created_at"], name="import_org_user_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.file_name}"

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == ImportStatus.DONE else 0
        return min(100, self.rows_done * 100 // self.total_rows)


class ImportRow(TenantModel):
    """The dry run's verdict on one data row (1-based after the header, as a spreadsheet shows
    it: row 2 is the first data row)."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rows")
    row_number = models.PositiveIntegerField(_("row"))
    action = models.CharField(_("action"), max_length=8, choices=RowAction.choices)
    # [{"column": header or "", "message": text}]
    errors = models.JSONField(default=list)
    message = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "job", "row_number"], name="importrow_org_job_row_uniq"
            )
        ]
        indexes = [
            models.Index(fields=["organization", "job", "action"], name="importrow_org_action_idx")
        ]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.row_number} {self.action}"


class ImportTemplate(TenantModel):
    """A user's column mapping per kind (header as in the file -> field), offered on the next
    upload of a file with such headers."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=16, choices=ImportKind.choices)
    mapping = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user", "kind"], name="importtemplate_org_user_kind_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}"


class ImportKey(TenantModel):
    """An external id (the old CRM's) of an imported opportunity: the next import of the same
    file finds the deal by it and updates it."""

    kind = models.CharField(max_length=16, choices=ImportKind.choices)
    external_id = models.CharField(max_length=100)
    object_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "external_id"], name="importkey_org_kind_ext_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.external_id}"
