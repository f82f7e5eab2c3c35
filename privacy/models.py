"""GDPR: the record of every export and erasure of a person's data (who, whom, when, why)."""

from __future__ import annotations

import pghistory
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account
from crm.audit import audited
from crm.models import User
from crm.tenancy import TenantModel


class PersonalDataActionKind(models.TextChoices):
    EXPORT = "export", _("Personal data exported")
    ERASE = "erase", _("Personal data erased")


class SubjectKind(models.TextChoices):
    CONTACT = "contact", _("Contact")
    LEAD = "lead", _("Lead")


# Insert-only history: the rows are never changed, and their insert event (with the acting user
# and request id of the context) is what the account's History tab shows.
@audited(pghistory.InsertEvent())
class PersonalDataAction(TenantModel):
    """One export or erasure of a contact's or a lead's personal data. Names no personal value
    itself (the subject by kind and id only), so erasing never has to rewrite it."""

    kind = models.CharField(_("action"), max_length=10, choices=PersonalDataActionKind.choices)
    subject_kind = models.CharField(_("person"), max_length=10, choices=SubjectKind.choices)
    subject_id = models.BigIntegerField(_("person id"))
    # The contact's account, so that the action appears in that account's History.
    account = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    acting_user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(_("at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("personal data action")
        verbose_name_plural = _("personal data actions")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(
                fields=["organization", "subject_kind", "subject_id"], name="pdaction_subject_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject_kind} #{self.subject_id}"
