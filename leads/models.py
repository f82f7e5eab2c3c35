"""Leads and campaigns: marketing's side of the hand-over to sales.

Above ``opportunities`` in the layers: a lead converts into an account, a contact and an
opportunity, and campaigns are suppressed while a customer is in negotiation.
"""

from __future__ import annotations

from decimal import Decimal

import pgtrigger
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Contact
from crm.audit import audited
from crm.models import SalesCompany, User
from crm.tenancy import TenantModel
from crm.validators import validate_country, validate_currency


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
    # The existing customer this lead's company looks like at entry (registration number, web
    # or e-mail domain, or the same normalized name): its group decides, at export time,
    # whether the lead is "do not market" (leads.suppression). Never shown as such: the user
    # may not see that account.
    matched_account = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # When marketing qualified the lead and when it was handed over to a seller (assigned to a
    # sales rep or country manager, or converted without an assignment): the smarketing KPIs'
    # times to hand-over and to conversion (reporting.smarketing). Nullable: leads from before
    # these columns, and the benchmark's COPY, have none.
    qualified_at = models.DateTimeField(_("qualified at"), null=True, blank=True)
    handed_over_at = models.DateTimeField(_("handed over at"), null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    # The last change, kept by a trigger (the services change leads with UPDATE statements):
    # what retention (privacy.retention) measures a lead's age by.
    changed_at = models.DateTimeField(_("last changed"), null=True, blank=True, db_default=Now())
    # Set when the person's data was erased (GDPR); the services refuse to work the lead after.
    erased_at = models.DateTimeField(_("erased"), null=True, blank=True, editable=False)
    search = models.GeneratedField(
        expression=SearchVector("company_name", "contact_name", "email", "domain", config="simple"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

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
        triggers = [
            # Any update that does not set changed_at itself stamps it (a test or a data fix
            # may set it explicitly).
            pgtrigger.Trigger(
                name="lead_changed_at",
                when=pgtrigger.Before,
                operation=pgtrigger.Update,
                func=(
                    "IF NEW.changed_at IS NOT DISTINCT FROM OLD.changed_at THEN "
                    "NEW.changed_at := now(); END IF; RETURN NEW;"
                ),
            ),
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


@audited()
class MarketingPause(TenantModel):
    """A manual "pause marketing" on one account or on its whole group, with a reason and the
    last day it holds. Ended early by setting ``ended_at``; never deleted, so the account's
    History keeps every pause."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="+", verbose_name=_("account")
    )
    # The group's top account when the pause is for the whole group (the account's group at the
    # time of the pause), else empty.
    group = models.ForeignKey(
        Account,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("group"),
    )
    reason = models.CharField(_("reason"), max_length=200)
    until = models.DateField(_("until"))
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("paused at"), default=timezone.now, editable=False)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    ended_by = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("ended by"),
    )

    class Meta:
        verbose_name = _("marketing pause")
        verbose_name_plural = _("marketing pauses")
        indexes = [
            models.Index(fields=["organization", "account"], name="mpause_org_account_idx"),
            models.Index(
                fields=["organization", "group"],
                name="mpause_org_group_idx",
                condition=Q(group__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.reason
