"""Customers: account groups across countries, contacts, activities, global account teams,
account plans, framework agreements and per-object sharing grants."""

from __future__ import annotations

from decimal import Decimal

import pghistory
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import UserObjectPermissionBase

from crm.audit import audit_events, audited
from crm.fields import NameField
from crm.models import LANGUAGES, SalesCompany, User
from crm.tenancy import TenantModel
from crm.validators import validate_country

PERCENT = [MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))]
# A week: longer is a typo (minutes for hours), not a meeting.
MAX_ACTIVITY_MINUTES = 7 * 24 * 60


class Segment(models.TextChoices):
    A = "A", _("A - strategic")
    B = "B", _("B - key")
    C = "C", _("C - standard")


class SegmentReason(models.TextChoices):
    RULE = "rule", _("segment rules")
    MANUAL = "manual", _("set by hand")


class Lifecycle(models.TextChoices):
    PROSPECT = "prospect", _("Prospect")
    CUSTOMER = "customer", _("Customer")
    FORMER = "former", _("Former customer")


@audited(exclude=["search"])
class Account(TenantModel):
    """A customer company. ``parent`` builds an international group; ``group`` is the group's
    top account (itself for a top account), kept by the services so that visibility can ask
    "is this account in a group where I am on the team" with one indexed lookup."""

    name = NameField(_("name"), max_length=200)
    normalized_name = models.CharField(max_length=200, editable=False)
    country = models.CharField(
        _("country"), max_length=2, blank=True, validators=[validate_country]
    )
    home_company = models.ForeignKey(
        SalesCompany,
        on_delete=models.PROTECT,
        related_name="accounts",
        verbose_name=_("home company"),
    )
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="subsidiaries"
    )
    group = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="group_members",
        editable=False,
        db_index=False,
    )
    registration_number = models.CharField(
        _("registration / VAT number"), max_length=40, blank=True
    )
    registration_key = models.CharField(max_length=40, blank=True, editable=False)
    domain = models.CharField(_("web domain"), max_length=200, blank=True)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    segment = models.CharField(
        _("segment"), max_length=1, choices=Segment.choices, default=Segment.C
    )
    lifecycle = models.CharField(
        _("lifecycle"), max_length=10, choices=Lifecycle.choices, default=Lifecycle.PROSPECT
    )
    first_won_at = models.DateTimeField(_("first won"), null=True, blank=True)
    # Customer value (issue 19): the market potential is an estimate a person types in, in the
    # corporate currency, with where it comes from; the segment is assigned nightly from the
    # organization's SegmentRule set unless a person fixed it (``segment_override``). Nullable
    # or db_default: the bench generator's COPY does not name them.
    potential = models.DecimalField(
        _("potential"),
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
    )
    potential_source = models.CharField(
        _("potential source"), max_length=200, blank=True, db_default=""
    )
    segment_override = models.CharField(
        _("segment fixed by hand"),
        max_length=1,
        choices=Segment.choices,
        blank=True,
        db_default="",
        editable=False,
    )
    segment_override_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    segment_override_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Why the segment is what it is: the rules or a person. Part of the audited row, so the
    # History shows every change of segment with its reason.
    segment_reason = models.CharField(
        _("segment reason"),
        max_length=10,
        choices=SegmentReason.choices,
        blank=True,
        db_default="",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The words search finds it by (crm.search): the normal form too, so "acme" finds "Acmé".
    search = models.GeneratedField(
        expression=SearchVector(
            "name", "normalized_name", "domain", "registration_number", config="simple"
        ),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["name"]
        indexes = [
            # Pattern operator class: serves both "= name" and "LIKE 'name %'" (duplicate
            # matching by name prefix) whatever the database collation.
            models.Index(
                fields=["organization", "normalized_name"],
                name="account_org_norm_idx",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
            models.Index(fields=["organization", "registration_key"], name="account_org_reg_idx"),
            models.Index(fields=["organization", "domain"], name="account_org_domain_idx"),
            models.Index(fields=["organization", "group"], name="account_org_group_idx"),
            models.Index(fields=["organization", "home_company"], name="account_org_company_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_group_top(self) -> bool:
        return self.parent_id is None


# "merge" is a manual event: the surviving contact's entry in the history when two are merged.
@audited(*audit_events(), pghistory.ManualEvent("merge"), exclude=["search"])
class Contact(TenantModel):
    """A person at a customer. Archived contacts (``archived_at``) leave the lists and pickers
    but keep their activities and deal roles; they can be restored."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts")
    full_name = NameField(_("name"), max_length=200)
    title = models.CharField(_("title"), max_length=200, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    language = models.CharField(_("language"), max_length=10, choices=LANGUAGES, blank=True)
    marketing_consent = models.BooleanField(_("marketing consent"), default=False)
    archived_at = models.DateTimeField(_("archived"), null=True, blank=True, editable=False)
    # Set by privacy.services when the person's data was erased (GDPR): the services refuse to
    # change the contact afterwards, so nobody types the old values back by mistake.
    erased_at = models.DateTimeField(_("erased"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    search = models.GeneratedField(
        expression=SearchVector("full_name", "email", "title", config="simple"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["full_name"]
        indexes = [
            models.Index(fields=["organization", "account"], name="contact_org_account_idx"),
            # The contact list's default order (by name), over the live contacts.
            models.Index(
                fields=["organization", "full_name", "id"],
                condition=Q(archived_at__isnull=True),
                name="contact_org_live_name_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name


class ActivityKind(models.TextChoices):
    CALL = "call", _("Call")
    MEETING = "meeting", _("Meeting")
    EMAIL = "email", _("E-mail")
    EVENT = "event", _("Event / trade show")
    TASK = "task", _("Task")


class Activity(TenantModel):
    """A call, meeting, e-mail, event or task on an account, optionally on one of its group's
    deals and with one of its contacts. ``happened_at`` is when it took place (typed by the
    seller, who often logs a visit the day after); ``created_at`` only when it was entered. Open
    tasks have not happened yet: their ``happened_at`` is their due time until they are done."""

    kind = models.CharField(_("kind"), max_length=10, choices=ActivityKind.choices)
    subject = models.CharField(_("subject"), max_length=200)
    notes = models.TextField(_("notes"), blank=True)
    happened_at = models.DateTimeField(_("happened"), default=timezone.now)
    duration_minutes = models.PositiveIntegerField(
        _("duration (minutes)"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_ACTIVITY_MINUTES)],
    )
    outcome = models.CharField(_("outcome"), max_length=200, blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="activities")
    sales_company = models.ForeignKey(SalesCompany, on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="activities")
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="activities"
    )
    # Referenced by name: opportunities import accounts, never the other way round.
    opportunity = models.ForeignKey(
        "opportunities.Opportunity",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="activities",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-happened_at", "-id"]
        verbose_name_plural = _("activities")
        # The timelines (account, deal, contact) walk these newest first; the data-quality rule
        # asks them for "anything since" per deal and per account.
        indexes = [
            models.Index(
                fields=["organization", "account", "-happened_at"], name="activity_org_acc_idx"
            ),
            models.Index(fields=["organization", "owner", "due_at"], name="activity_org_owner_idx"),
            models.Index(
                fields=["organization", "opportunity", "-happened_at"], name="activity_org_opp_idx"
            ),
            models.Index(
                fields=["organization", "contact", "-happened_at"], name="activity_org_contact_idx"
            ),
            # Events attended in a period (reporting.smarketing): a few rows among millions.
            models.Index(
                fields=["organization", "happened_at"],
                name="activity_org_event_idx",
                condition=Q(kind="event"),
            ),
        ]

    def __str__(self) -> str:
        return self.subject


class TeamRole(models.TextChoices):
    GLOBAL_ACCOUNT_MANAGER = "global_account_manager", _("Global account manager")
    KEY_ACCOUNT_MANAGER = "key_account_manager", _("Key account manager")
    MEMBER = "member", _("Member")


@audited()
class AccountTeamMember(TenantModel):
    """Membership of a group's global account team. The row itself is the visibility grant."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="team")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="account_teams")
    sales_company = models.ForeignKey(SalesCompany, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(_("team role"), max_length=32, choices=TeamRole.choices)
    added_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "account", "user"], name="team_org_account_user_uniq"
            ),
            models.UniqueConstraint(
                fields=["organization", "account"],
                condition=Q(role="global_account_manager"),
                name="team_one_gam_per_group",
            ),
            models.UniqueConstraint(
                fields=["organization", "account", "sales_company"],
                condition=Q(role="key_account_manager"),
                name="team_one_kam_per_company",
            ),
        ]
        indexes = [
            # "groups where I am a member" and "groups where my company has a member".
            models.Index(fields=["organization", "user", "account"], name="team_org_user_idx"),
            models.Index(
                fields=["organization", "sales_company", "account"], name="team_org_co_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}) on {self.account}"


class PlanStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    CLOSED = "closed", _("Closed")


class AccountPlan(TenantModel):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="plans")
    year = models.PositiveSmallIntegerField(_("year"))
    objectives = models.TextField(_("objectives"), blank=True)
    revenue_target = models.DecimalField(
        _("revenue target (corporate currency)"),
        max_digits=16,
        decimal_places=2,
        validators=[MinValueValidator(Decimal(0))],
    )
    status = models.CharField(max_length=10, choices=PlanStatus.choices, default=PlanStatus.DRAFT)
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-year"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "account", "year"], name="plan_org_account_year_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.year}"


class ActionStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class PlanAction(TenantModel):
    plan = models.ForeignKey(AccountPlan, on_delete=models.CASCADE, related_name="actions")
    title = models.CharField(_("action"), max_length=200)
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    due_date = models.DateField(_("due date"), null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=ActionStatus.choices, default=ActionStatus.OPEN
    )

    class Meta:
        ordering = ["due_date", "id"]
        indexes = [models.Index(fields=["organization", "plan"], name="planaction_org_plan_idx")]

    def __str__(self) -> str:
        return self.title


class Incoterm(models.TextChoices):
    EXW = "EXW", "EXW - Ex Works"
    FCA = "FCA", "FCA - Free Carrier"
    CPT = "CPT", "CPT - Carriage Paid To"
    CIP = "CIP", "CIP - Carriage and Insurance Paid To"
    DAP = "DAP", "DAP - Delivered at Place"
    DPU = "DPU", "DPU - Delivered at Place Unloaded"
    DDP = "DDP", "DDP - Delivered Duty Paid"
    FAS = "FAS", "FAS - Free Alongside Ship"
    FOB = "FOB", "FOB - Free on Board"
    CFR = "CFR", "CFR - Cost and Freight"
    CIF = "CIF", "CIF - Cost, Insurance and Freight"


@audited()
class FrameworkAgreement(TenantModel):
    """A group's global agreement: terms for every covered sales company, and volume tiers."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="agreements")
    name = models.CharField(_("name"), max_length=200)
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"))
    covered_companies = models.ManyToManyField(
        SalesCompany, through="AgreementCompany", related_name="agreements"
    )
    incoterm = models.CharField(
        _("shipping terms (Incoterms 2020)"), max_length=3, choices=Incoterm.choices
    )
    payment_terms = models.CharField(_("payment terms"), max_length=200)
    legal_notes = models.JSONField(
        _("legal notes per country"),
        default=dict,
        blank=True,
        help_text=_('Country code -> note, e.g. {"DE": "German law applies"}.'),
    )

    class Meta:
        ordering = ["-valid_from"]
        indexes = [
            models.Index(fields=["organization", "account"], name="agreement_org_account_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__gte=models.F("valid_from")), name="agreement_dates_ordered"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AgreementCompany(TenantModel):
    agreement = models.ForeignKey(FrameworkAgreement, on_delete=models.CASCADE)
    sales_company = models.ForeignKey(SalesCompany, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "agreement", "sales_company"], name="agreementco_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "sales_company"], name="agreementco_org_co_idx")
        ]


@audited()
class DiscountTier(TenantModel):
    agreement = models.ForeignKey(
        FrameworkAgreement, on_delete=models.CASCADE, related_name="tiers"
    )
    threshold = models.DecimalField(
        _("cumulative volume from (corporate currency)"),
        max_digits=16,
        decimal_places=2,
        validators=[MinValueValidator(Decimal(0))],
    )
    discount_percent = models.DecimalField(
        _("discount %"), max_digits=5, decimal_places=2, validators=PERCENT
    )

    class Meta:
        ordering = ["threshold"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "agreement", "threshold"],
                name="tier_org_agreement_threshold_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.discount_percent}% from {self.threshold}"


# Both bases name a manager "objects": TenantModel's fail-closed one comes first and is the one.
class AccountPlanUserObjectPermission(TenantModel, UserObjectPermissionBase):  # type: ignore[misc]
    """A plan shared with a named colleague (view or change): a direct-FK guardian grant."""

    content_object = models.ForeignKey(AccountPlan, on_delete=models.CASCADE, related_name="grants")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user", "permission", "content_object"],
                name="plan_grant_uniq",
            ),
        ]


class JoinStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    DECLINED = "declined", _("Declined")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class GroupJoinRequest(TenantModel):
    """A request to link ``account`` into ``group`` (a top account), made by someone who may
    change the account but cannot see the group: they learnt of it through a need-to-know
    answer (``selectors.HiddenMatch``) and name it only by its signed token. The group's GAM or
    the account's home-company manager decides (``accounts.join``)."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="join_requests", verbose_name=_("account")
    )
    group = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="join_requests_in", verbose_name=_("group")
    )
    requested_by = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    reason = models.TextField(_("reason"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=JoinStatus.choices, default=JoinStatus.PENDING
    )
    decided_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    created_at = models.DateTimeField(_("asked"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "account", "group"],
                condition=Q(status="pending"),
                name="joinrequest_one_pending",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "group", "status"], name="joinreq_org_group_idx"),
            models.Index(
                fields=["organization", "account", "status"], name="joinreq_org_account_idx"
            ),
            models.Index(fields=["organization", "requested_by"], name="joinreq_org_by_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.account} -> {self.group} ({self.status})"


@audited()
class SegmentRule(TenantModel):
    """One line of an organization's segment rule set: the first rule (by ``order``) whose
    thresholds an account meets gives its segment; an account meeting none is C. A rule
    with both thresholds asks for both; a rule with none matches every account."""

    segment = models.CharField(_("segment"), max_length=1, choices=Segment.choices)
    min_lifetime_value = models.DecimalField(
        _("minimum lifetime value"),
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
    )
    min_potential = models.DecimalField(
        _("minimum potential"),
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
    )
    order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        ordering = ["order", "id"]
        indexes = [models.Index(fields=["organization", "order"], name="segrule_org_order_idx")]

    def __str__(self) -> str:
        return f"{self.segment} #{self.order}"


def _exact() -> models.DecimalField:
    """An exact sum (amount x rate, unrounded): rounded half-even only when read (crm.money)."""
    return models.DecimalField(max_digits=38, decimal_places=12, null=True)


class AccountValue(TenantModel):
    """An account's customer value as of ``computed_at``, written for all accounts of an
    organization at once by ``reporting.customer_value.refresh_account_values`` (nightly, and
    ``manage.py refresh_account_values``); never per page view. ``group_*`` are the same
    figures summed over the account's group (the same on every member). Money is in the
    corporate currency, exact; ``missing_rate`` names a rate that was missing ("SEK
    2026-03-31"), and the money fields are then unknown (NULL), never converted at 1.0."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="value")
    won_revenue = _exact()
    weighted_pipeline = _exact()
    open_pipeline = _exact()
    lifetime_value = _exact()
    revenue_12m = _exact()
    first_win_at = models.DateTimeField(null=True)
    last_win_at = models.DateTimeField(null=True)
    won_count = models.PositiveIntegerField(default=0)
    lost_count = models.PositiveIntegerField(default=0)
    missing_rate = models.CharField(max_length=30, blank=True, default="")
    group_won_revenue = _exact()
    group_weighted_pipeline = _exact()
    group_lifetime_value = _exact()
    group_revenue_12m = _exact()
    group_first_win_at = models.DateTimeField(null=True)
    group_last_win_at = models.DateTimeField(null=True)
    group_missing_rate = models.CharField(max_length=30, blank=True, default="")
    as_of = models.DateField()
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "account"], name="accountvalue_org_account_uniq"
            )
        ]
        indexes = [
            # The account list sorted by value.
            models.Index(fields=["organization", "lifetime_value"], name="accountvalue_org_ltv_idx")
        ]
