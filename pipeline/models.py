"""The sales process: global stages, local processes mapped onto them, leads and campaigns."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Contact
from crm.audit import audited
from crm.models import SalesCompany, User
from crm.tenancy import TenantModel
from crm.validators import validate_country, validate_currency


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


class CampaignKind(models.TextChoices):
    EVENT = "event", _("Event")
    TRADE_SHOW = "trade_show", _("Trade show")
    WEBINAR = "webinar", _("Webinar")
    EMAIL = "email", _("E-mail")


class Campaign(TenantModel):
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=12, choices=CampaignKind.choices)
    starts_on = models.DateField(_("starts"))
    ends_on = models.DateField(_("ends"))
    sales_companies = models.ManyToManyField(
        SalesCompany, through="CampaignCompany", related_name="campaigns"
    )
    budget = models.DecimalField(
        _("budget"),
        max_digits=14,
        decimal_places=2,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0))],
    )
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-starts_on"]
        indexes = [
            models.Index(fields=["organization", "-starts_on"], name="campaign_org_start_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")), name="campaign_dates_ordered"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignCompany(TenantModel):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE)
    sales_company = models.ForeignKey(SalesCompany, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "campaign", "sales_company"], name="campaignco_uniq"
            ),
        ]


class LeadStatus(models.TextChoices):
    NEW = "new", _("New")
    WORKING = "working", _("Working")
    QUALIFIED = "qualified", _("Qualified")
    DISQUALIFIED = "disqualified", _("Disqualified")
    CONVERTED = "converted", _("Converted")


class Lead(TenantModel):
    """Marketing's lead, routed by country to that country's sales company."""

    source = models.CharField(_("source"), max_length=100)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads"
    )
    company_name = models.CharField(_("company"), max_length=200)
    registration_number = models.CharField(
        _("registration / VAT number"), max_length=40, blank=True
    )
    domain = models.CharField(_("web domain"), max_length=200, blank=True)
    contact_name = models.CharField(_("contact name"), max_length=200)
    contact_title = models.CharField(_("contact title"), max_length=200, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    country = models.CharField(_("country"), max_length=2, validators=[validate_country])
    sales_company = models.ForeignKey(
        SalesCompany, on_delete=models.PROTECT, null=True, blank=True, related_name="leads"
    )
    status = models.CharField(max_length=12, choices=LeadStatus.choices, default=LeadStatus.NEW)
    owner = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads"
    )
    disqualified_reason = models.CharField(max_length=200, blank=True)
    converted_account = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    converted_contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    converted_opportunity = models.ForeignKey(
        "opportunities.Opportunity",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["organization", "status", "-created_at"], name="lead_org_status_idx"
            ),
            models.Index(
                fields=["organization", "sales_company", "status"], name="lead_org_co_idx"
            ),
            models.Index(fields=["organization", "owner"], name="lead_org_owner_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.company_name} ({self.contact_name})"


class CampaignMember(TenantModel):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members")
    contact = models.ForeignKey(
        Contact,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="campaign_memberships",
    )
    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, null=True, blank=True, related_name="campaign_memberships"
    )
    attended = models.BooleanField(_("attended"), default=False)
    added_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(contact__isnull=False) | Q(lead__isnull=False),
                name="member_contact_or_lead",
            ),
            models.UniqueConstraint(
                fields=["organization", "campaign", "contact"],
                name="member_contact_uniq",
                condition=Q(contact__isnull=False),
            ),
            models.UniqueConstraint(
                fields=["organization", "campaign", "lead"],
                name="member_lead_uniq",
                condition=Q(lead__isnull=False),
            ),
        ]
