"""The sales process: global stages and the local processes mapped onto them."""

from __future__ import annotations

from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.audit import audited
from crm.models import SalesCompany
from crm.tenancy import TenantModel


class ForecastCategory(models.TextChoices):
    PIPELINE = "pipeline", _("Pipeline")
    BEST_CASE = "best_case", _("Best case")
    COMMIT = "commit", _("Commit")
    CLOSED = "closed", _("Closed")


class GlobalStage(TenantModel):
    """A stage of the one global process that every local process maps onto."""

    order = models.PositiveSmallIntegerField(_("order"))
    name = models.CharField(_("name"), max_length=100)
    probability = models.PositiveSmallIntegerField(
        _("probability %"), validators=[MaxValueValidator(100)]
    )
    forecast_category = models.CharField(
        _("forecast category"), max_length=10, choices=ForecastCategory.choices
    )
    is_won = models.BooleanField(_("won"), default=False)
    is_lost = models.BooleanField(_("lost"), default=False)
    # Per organization, as its stages are: while a deal of any company is open in such a stage,
    # marketing leaves the customer's whole group alone (leads.suppression). The default
    # stages set it on the commit category (Negotiate).
    suppresses_marketing = models.BooleanField(
        _("suppresses marketing"),
        default=False,
        help_text=_(
            "While a deal is in this stage, no contact of any account of the customer's group "
            "is marketed to."
        ),
    )

    class Meta:
        ordering = ["order"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "order"], name="gstage_org_order_uniq"),
            models.UniqueConstraint(fields=["organization", "name"], name="gstage_org_name_uniq"),
            models.CheckConstraint(
                condition=~(Q(is_won=True) & Q(is_lost=True)), name="gstage_not_won_and_lost"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_closed(self) -> bool:
        return self.is_won or self.is_lost


class SalesProcess(TenantModel):
    """A sales company's local variant of the global process."""

    sales_company = models.ForeignKey(
        SalesCompany, on_delete=models.CASCADE, related_name="processes"
    )
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name_plural = _("sales processes")
        constraints = [
            # One process per company: its stages are the columns of its reps' boards.
            models.UniqueConstraint(
                fields=["organization", "sales_company"], name="process_org_company_uniq"
            ),
        ]

    def __str__(self) -> str:
        return self.name


@audited()
class LocalStage(TenantModel):
    process = models.ForeignKey(SalesProcess, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(_("local name"), max_length=100)
    order = models.PositiveSmallIntegerField(_("order"))
    global_stage = models.ForeignKey(
        GlobalStage, on_delete=models.PROTECT, related_name="local_stages"
    )

    class Meta:
        ordering = ["order"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "process", "order"], name="lstage_org_process_order_uniq"
            ),
        ]

    def __str__(self) -> str:
        return self.name
