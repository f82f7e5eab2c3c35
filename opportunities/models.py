"""Products, opportunities with lines, splits and stage history, and cross-country conflicts."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from guardian.models import UserObjectPermissionBase

from accounts.models import PERCENT, Account, FrameworkAgreement
from crm.audit import audited
from crm.fields import MONEY, NameField
from crm.models import SalesCompany, User
from crm.tenancy import TenantModel
from crm.validators import validate_country, validate_currency
from pipeline.models import GlobalStage, LocalStage


class Product(TenantModel):
    sku = models.CharField(_("SKU"), max_length=40)
    name = NameField(_("name"), max_length=200)
    family = models.CharField(_("family"), max_length=100, blank=True)
    list_price = models.DecimalField(
        _("list price"), **MONEY, validators=[MinValueValidator(Decimal(0))]
    )
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "sku"], name="product_org_sku_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


@audited()
class ProductPrice(TenantModel):
    """A product's price book entry in one currency: what a local company quotes where the list
    price's currency is not the deal's. Without an entry the list price is converted at the
    dated rate (``opportunities.pricing``), and the line says so."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="prices")
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    price = models.DecimalField(_("price"), **MONEY, validators=[MinValueValidator(Decimal(0))])

    class Meta:
        ordering = ["currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "product", "currency"], name="productprice_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} {self.price} {self.currency}"


@audited(exclude=["account_group_id", "search"])
class Opportunity(TenantModel):
    """A deal, booked by one sales company, sitting in one of its local stages.

    ``global_stage`` is a copy of ``local_stage.global_stage`` kept for fast reporting; only the
    services write either, and always together. ``version`` is the optimistic lock.

    ``account_group_id`` is a copy of ``account.group_id`` kept by the database (triggers on
    both tables, migration 0004): the visibility policy tests a manager's team groups on the
    opportunity itself, so the whole test is a filter on one table that PostgreSQL applies while
    walking an ordered index, instead of a join filter it prices on every loop of a join (the
    country manager's stage-filtered list at 1M: 170-220 ms of SQL -> 19 ms; README
    "Performance").
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="opportunities")
    sales_company = models.ForeignKey(
        SalesCompany,
        on_delete=models.PROTECT,
        related_name="opportunities",
        verbose_name=_("booking company"),
    )
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="opportunities")
    name = NameField(_("name"), max_length=200)
    local_stage = models.ForeignKey(LocalStage, on_delete=models.PROTECT, related_name="+")
    global_stage = models.ForeignKey(GlobalStage, on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(_("amount"), **MONEY, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    expected_close_date = models.DateField(_("expected close"), null=True, blank=True)
    next_step = models.CharField(_("next step"), max_length=200, blank=True)
    # Where the goods are shipped (ISO 3166 alpha-2). Empty: the booking company's country.
    # Read by the parallel-import rule (opportunities.trade_rules). NULL, not "": "not given"
    # is distinct from any code, and the bench's bulk load (which names its columns) keeps
    # working without a default.
    delivery_country = models.CharField(  # noqa: DJ001
        _("delivery country"),
        max_length=2,
        null=True,
        blank=True,
        validators=[validate_country],
        help_text=_("Ship-to country (ISO code); empty means the booking company's country."),
    )
    lost_reason = models.CharField(_("lost reason"), max_length=200, blank=True)
    source_lead = models.ForeignKey(
        "leads.Lead", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    campaign = models.ForeignKey(
        "leads.Campaign",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="opportunities",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    # Written by the database only (see the class docstring); whatever the ORM sends is replaced.
    account_group_id = models.BigIntegerField(null=True, editable=False)
    search = models.GeneratedField(
        expression=SearchVector("name", config="simple"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = _("opportunities")
        indexes = [
            models.Index(
                fields=["organization", "sales_company", "global_stage"],
                name="opp_org_co_stage_idx",
            ),
            models.Index(
                fields=["organization", "owner", "global_stage"], name="opp_org_owner_idx"
            ),
            # A rep's page ranks each source's first deals in the list's order before the join
            # (crm.db.sources): owned, and per team group, each an ordered index scan.
            models.Index(
                fields=["organization", "owner", "-created_at", "-id"],
                name="opp_org_owner_created_idx",
            ),
            models.Index(fields=["organization", "account"], name="opp_org_account_idx"),
            # Conflict detection reads a group's deals on every save (200-subsidiary groups hold
            # a thousand deals: 147 ms through the accounts at 1M, an index range here); the
            # list's order after the group serves a rep's page per team group too. The columns
            # the save reads are included, so its range is read from the index alone: fetching
            # a thousand deals' rows from the heap (800 pages) was most of a save's SQL time.
            models.Index(
                fields=["organization", "account_group_id", "-created_at", "-id"],
                include=["global_stage", "account", "sales_company", "owner"],
                name="opp_org_group_created_idx",
            ),
            # An agreement's won volume (opportunities.customer.agreement_volume, on every save
            # of a deal with lines under an agreement): the group's deals closed in the window,
            # with what the sum reads, from the index alone.
            models.Index(
                fields=["organization", "account_group_id", "closed_at"],
                include=["global_stage", "sales_company", "currency", "amount"],
                name="opp_org_group_closed_idx",
            ),
            models.Index(fields=["organization", "expected_close_date"], name="opp_org_close_idx"),
            models.Index(fields=["organization", "-created_at", "-id"], name="opp_org_created_idx"),
        ]

    def __str__(self) -> str:
        return self.name


@audited()
class OpportunityLine(TenantModel):
    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(
        _("quantity"),
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    unit_price = models.DecimalField(
        _("unit price"), **MONEY, validators=[MinValueValidator(Decimal(0))]
    )
    discount_percent = models.DecimalField(
        _("discount %"), max_digits=5, decimal_places=2, default=Decimal(0), validators=PERCENT
    )
    # Where an untyped unit price came from when it was converted from the list price: the
    # list price and its currency, the cross rate (deal currency per unit of the list price's)
    # and the day of the rate. Empty for a typed, price-book or same-currency list price. Kept
    # on the line so the quote says "converted from EUR 1,200.00 at 11.4943 (date)" later too.
    # Database defaults: bulk loaders (bench/) name their columns and leave these out.
    converted_from_currency = models.CharField(
        _("converted from currency"), max_length=3, blank=True, default="", db_default=""
    )
    converted_from_price = models.DecimalField(
        _("converted from price"), **MONEY, null=True, blank=True
    )
    conversion_rate = models.DecimalField(
        _("conversion rate"), max_digits=18, decimal_places=8, null=True, blank=True
    )
    conversion_date = models.DateField(_("rate date"), null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "opportunity"], name="line_org_opp_idx"),
            models.Index(fields=["organization", "product"], name="line_org_product_idx"),
        ]

    @property
    def total(self) -> Decimal:
        gross = self.quantity * self.unit_price
        return (gross * (Decimal(100) - self.discount_percent) / Decimal(100)).quantize(
            Decimal("0.01")
        )


class SplitKind(models.TextChoices):
    REVENUE = "revenue", _("Revenue (sums to 100%)")
    OVERLAY = "overlay", _("Overlay")


@audited()
class OpportunitySplit(TenantModel):
    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="splits")
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="splits")
    sales_company = models.ForeignKey(SalesCompany, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=SplitKind.choices, default=SplitKind.REVENUE)
    percent = models.DecimalField(_("percent"), max_digits=5, decimal_places=2, validators=PERCENT)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "opportunity", "user", "kind"], name="split_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "user", "opportunity"], name="split_org_user_idx")
        ]


class BuyingRole(models.TextChoices):
    DECISION_MAKER = "decision_maker", _("Decision maker")
    ECONOMIC_BUYER = "economic_buyer", _("Economic buyer")
    INFLUENCER = "influencer", _("Influencer")
    USER = "user", _("User")


@audited()
class OpportunityContactRole(TenantModel):
    """A contact's part in a deal's buying centre. A person may hold several (the economic
    buyer often decides too): one row per role, so each is added and removed on its own."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="contact_roles"
    )
    contact = models.ForeignKey(
        "accounts.Contact", on_delete=models.CASCADE, related_name="deal_roles"
    )
    role = models.CharField(_("buying role"), max_length=20, choices=BuyingRole.choices)
    added_at = models.DateTimeField(default=timezone.now, editable=False)
    added_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["role", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "opportunity", "contact", "role"],
                name="contactrole_uniq",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "contact"], name="contactrole_org_contact_idx")
        ]

    def __str__(self) -> str:
        return f"{self.contact} ({self.get_role_display()})"


class StageChange(TenantModel):
    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="stage_changes"
    )
    from_local_stage = models.ForeignKey(
        LocalStage, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_local_stage = models.ForeignKey(LocalStage, on_delete=models.PROTECT, related_name="+")
    from_global_stage = models.ForeignKey(
        GlobalStage, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_global_stage = models.ForeignKey(GlobalStage, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["changed_at", "id"]
        indexes = [
            models.Index(
                fields=["organization", "opportunity", "changed_at"], name="stagechg_org_opp_idx"
            ),
        ]


class ConflictKind(models.TextChoices):
    GROUP_OTHER_COMPANY = "group_other_company", _("Several companies work the group")
    SAME_PRODUCT = "same_product", _("Same product, several sellers")
    AGREEMENT = "agreement", _("Framework agreement applies")
    DUPLICATE_ACCOUNT = "duplicate_account", _("Possible duplicate account")
    TEAM_ACK = "team_ack", _("New team deal to acknowledge")
    # The trade rules (opportunities.trade_rules): they inform, they never block a save.
    PARALLEL_IMPORT = "parallel_import", _("Possible parallel import")
    DOUBLE_AGREEMENT = "double_agreement", _("Two agreements cover the customer")
    PRICE_GAP = "price_gap", _("Price gap between countries")


# Kinds that are about one group (of deals): their participants join and leave over time.
SITUATION_KINDS = (ConflictKind.GROUP_OTHER_COMPANY, ConflictKind.SAME_PRODUCT)


class ConflictStatus(models.TextChoices):
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Resolved")


class Resolution(models.TextChoices):
    ASSIGN_OWNER = "assign_owner", _("Assign the owner")
    MERGE = "merge", _("Merge duplicate accounts")
    KEEP_BOTH_SPLIT = "keep_both_split", _("Keep both with a split")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged, no action")
    # Set by the system. A won or lost deal leaves its situations (there is nothing left to
    # coordinate); a duplicate-account finding stays, it is about the accounts.
    DEAL_CLOSED = "deal_closed", _("The deal was won or lost")
    # The situation ended by itself: fewer than two parties are left, or a change (another
    # account, another product, a discount) means the rule no longer applies.
    NO_LONGER_APPLIES = "no_longer_applies", _("No longer applies")
    # The pairwise rows of before situations: all but one row per situation were folded in.
    MERGED = "merged", _("Merged into one situation")


# What a person decided: a situation closed this way stays closed for the same participants.
DECIDED = (
    Resolution.ASSIGN_OWNER,
    Resolution.MERGE,
    Resolution.KEEP_BOTH_SPLIT,
    Resolution.ACKNOWLEDGED,
)


class Conflict(TenantModel):
    """One situation: several companies or sellers working the same group (or the same product
    at it), a deal quoted below its framework agreement, a possible duplicate account, or a new
    team deal the global account manager acknowledges. Who is in it is ``participants``.

    The anchor ``account`` is the group's top account for the group kinds, the deal's account for
    the agreement and acknowledgement kinds and the lower-numbered of the two accounts of a
    duplicate (``other_account`` the other). ``params`` holds what the text needs (an agreement's
    name and discount, the reasons of a duplicate): texts are rendered in the reader's language,
    never stored.
    """

    kind = models.CharField(max_length=24, choices=ConflictKind.choices)
    status = models.CharField(
        max_length=10, choices=ConflictStatus.choices, default=ConflictStatus.OPEN
    )
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="conflicts")
    # The deal of a per-deal kind (agreement, acknowledgement); empty for the group kinds.
    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, null=True, blank=True, related_name="conflicts"
    )
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    other_account = models.ForeignKey(
        Account, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    agreement = models.ForeignKey(
        FrameworkAgreement, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # The company whose deal or account opened the situation.
    sales_company = models.ForeignKey(SalesCompany, on_delete=models.PROTECT, related_name="+")
    params = models.JSONField(default=dict, blank=True)
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "status", "kind"], name="conflict_org_status_idx"),
            models.Index(
                fields=["organization", "sales_company", "status"], name="conflict_org_co_idx"
            ),
            # Detection finds a group's situations (open, and the last decided one) by anchor.
            models.Index(
                fields=["organization", "account", "kind", "status"], name="conflict_org_acc_idx"
            ),
        ]
        constraints = [
            # Detection runs on every save: one open situation per key, never a pile of copies.
            models.UniqueConstraint(
                fields=[
                    "organization",
                    "kind",
                    "account",
                    "opportunity",
                    "product",
                    "other_account",
                    "agreement",
                ],
                condition=Q(status="open"),
                nulls_distinct=False,
                name="conflict_one_open_per_situation",
            ),
        ]


class ConflictParticipant(TenantModel):
    """A deal (or, for a duplicate, an account) in a situation, with its company and seller.

    ``coordinated``: the deal is team work (by a member of the group's global account team or a
    company the team covers), shown with the situation but not what makes it one. ``left_at``:
    the deal was won or lost, moved away or no longer has the product; the row stays, so a
    resolved situation keeps who was in it."""

    conflict = models.ForeignKey(Conflict, on_delete=models.CASCADE, related_name="participants")
    opportunity = models.ForeignKey(
        Opportunity,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="conflict_participations",
    )
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    sales_company = models.ForeignKey(SalesCompany, on_delete=models.PROTECT, related_name="+")
    seller = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    coordinated = models.BooleanField(default=False)
    joined_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "conflict", "opportunity", "account"],
                nulls_distinct=False,
                name="participant_once_per_situation",
            ),
        ]
        indexes = [
            # "The situations this deal is in" on every save; "of my company" in the inbox.
            models.Index(fields=["organization", "opportunity"], name="participant_org_opp_idx"),
            models.Index(
                fields=["organization", "sales_company", "conflict"], name="participant_org_co_idx"
            ),
        ]


# Both bases name a manager "objects": TenantModel's fail-closed one comes first and is the one.
class OpportunityUserObjectPermission(TenantModel, UserObjectPermissionBase):  # type: ignore[misc]
    """One opportunity shared with a named colleague (view or change): a guardian grant."""

    content_object = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="grants")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user", "permission", "content_object"],
                name="opp_grant_uniq",
            ),
        ]
