"""Kernel models: the tenant (Organization), its structure, its users and its exchange rates."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from decimal import Decimal
from typing import Any, ClassVar

import pghistory
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_timezone
from django.utils.formats import date_format, number_format
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.audit import audited
from crm.directory import org_of_email
from crm.fields import NameField
from crm.registry import apply
from crm.roles import COMPANY_ROLES, ORG_WIDE_ROLES, Role
from crm.tenancy import TenantModel, current_org_id, org_id_of, org_scope
from crm.validators import (
    validate_app_path,
    validate_country,
    validate_currency,
    validate_timezone,
)

LANGUAGES = [
    ("en", "English"),
    ("sv", "Svenska"),
    ("da", "Dansk"),
    ("de", "Deutsch"),
    ("nb", "Norsk"),
    ("fi", "Suomi"),
    ("zh-hans", "中文"),
]


class RulesOfEngagement(models.TextChoices):
    GLOBAL_TEAM_OWNS = "global_team_owns", _("Global account team owns global groups")
    HOME_COMPANY_OWNS = "home_company_owns", _("Home company owns")
    FIRST_REGISTERED_OWNS = "first_registered_owns", _("First registered owns")


class Organization(models.Model):
    """The tenant. Not itself tenant-owned: it is what every tenant row points at."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    corporate_currency = models.CharField(
        _("corporate currency"), max_length=3, validators=[validate_currency]
    )
    fiscal_year_start_month = models.PositiveSmallIntegerField(
        _("fiscal year starts in month"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(12)],
    )
    rules_of_engagement = models.CharField(
        _("rules of engagement"),
        max_length=32,
        choices=RulesOfEngagement.choices,
        default=RulesOfEngagement.GLOBAL_TEAM_OWNS,
    )
    # Which findings are conflicts at all (opportunities.conflicts reads them on every save).
    conflict_other_company = models.BooleanField(
        _("another sales company working a group is a conflict"), default=True, db_default=True
    )
    conflict_team_coordinates = models.BooleanField(
        _("deals by the global account team and the companies it covers are coordinated"),
        default=True,
        db_default=True,
        help_text=_("Team deals are shown on the 360° and are not conflicts."),
    )
    conflict_same_product = models.BooleanField(
        _("the same product worked by two sellers without a split is a conflict"),
        default=True,
        db_default=True,
    )
    conflict_team_ack = models.BooleanField(
        _("a new deal in a teamed group needs the global account manager's acknowledgement"),
        default=False,
        db_default=False,
    )
    # The trade rules (opportunities.trade_rules): findings that inform, never block.
    trade_parallel_import = models.BooleanField(
        _("a deal delivered to a country whose sales company serves the group is reported"),
        default=True,
        db_default=True,
    )
    trade_double_agreement = models.BooleanField(
        _("a customer covered by two framework agreements at once is reported"),
        default=True,
        db_default=True,
    )
    trade_price_gap = models.BooleanField(
        _(
            "the same product quoted to a group in two countries at very different prices is "
            "reported"
        ),
        default=True,
        db_default=True,
    )
    trade_price_gap_percent = models.DecimalField(
        _("price gap reported above (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal(15),
        db_default=Decimal(15),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal(1000))],
        help_text=_("Net unit prices in the corporate currency, at the deals' dates."),
    )
    conflict_target_days = models.PositiveSmallIntegerField(
        _("target days to resolve a conflict"),
        default=5,
        db_default=5,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
    )
    # GDPR retention (privacy.retention): leads never converted are erased this many months
    # after their last change. Empty: off (the default; erasing is not undoable).
    lead_retention_months = models.PositiveSmallIntegerField(
        _("erase unconverted leads after (months)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(240)],
        help_text=_("Leave empty to keep leads until someone erases them."),
    )
    # Single sign-on (the sso app): off means the organization's people sign in through its
    # identity provider only. The backend (crm.identity) refuses their passwords; its global
    # admins keep theirs, so a broken provider set-up can still be repaired.
    password_login = models.BooleanField(
        _("password sign-in allowed"), default=True, db_default=True
    )
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(fiscal_year_start_month__gte=1, fiscal_year_start_month__lte=12),
                name="organization_fiscal_month_1_12",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Region(TenantModel):
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="region_org_name_uniq"),
        ]

    def __str__(self) -> str:
        return self.name


class SalesCompany(TenantModel):
    """A local sales company: one per country, with its own currency, language and time zone."""

    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="sales_companies")
    name = NameField(_("name"), max_length=200)
    code = models.CharField(_("code"), max_length=10, help_text=_("Short code, e.g. SE."))
    country = models.CharField(_("country"), max_length=2, validators=[validate_country])
    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    language = models.CharField(_("language"), max_length=10, choices=LANGUAGES, default="en")
    timezone = models.CharField(
        _("time zone"), max_length=64, default="UTC", validators=[validate_timezone]
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = _("sales companies")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "code"], name="salescompany_org_code_uniq"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.region_id and self.region.organization_id != self.organization_id:
            raise ValidationError({"region": _("The region belongs to another organization.")})


class ExchangeRate(TenantModel):
    """How many units of the corporate currency one unit of ``currency`` is worth, from a date."""

    currency = models.CharField(_("currency"), max_length=3, validators=[validate_currency])
    rate = models.DecimalField(
        _("rate to corporate currency"),
        max_digits=18,
        decimal_places=8,
        validators=[MinValueValidator(Decimal("0.00000001"))],
    )
    valid_from = models.DateField(_("valid from"))

    class Meta:
        ordering = ["currency", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "currency", "valid_from"],
                name="exchangerate_org_currency_date_uniq",
            ),
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchangerate_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.rate} from {self.valid_from:%Y-%m-%d}"


class UserManager(BaseUserManager["User"]):
    """Unscoped on purpose: authentication looks users up by e-mail before any organization is
    known. Listings of users go through ``User.objects.for_org()`` or ``visible_to()``."""

    use_in_migrations = True

    def for_org(self, org: Organization | int) -> models.QuerySet[User]:
        return super().get_queryset().filter(organization_id=org_id_of(org))

    def unscoped(self) -> models.QuerySet[User]:
        return super().get_queryset()

    def visible_to(self, user: User) -> models.QuerySet[User]:
        """The users ``user`` may see (the user's organization, then the policy), as
        ``TenantManager.visible_to`` does for the tenant models."""
        return apply(super().get_queryset(), user)

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("A user needs an e-mail address.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        # There is no cross-tenant superuser: the most powerful account is an organization's admin.
        extra.setdefault("role", Role.GLOBAL_ADMIN)
        extra["is_staff"] = True
        if isinstance(extra.get("organization"), int):
            extra["organization_id"] = extra.pop("organization")
        return self.create_user(email, password, **extra)


@audited(
    # Role and placement changes only: sign-ins (last_login) happen before any organization is
    # in scope and are not audit events.
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(
        condition=pghistory.AnyChange(
            "role", "sales_company", "region", "is_active", "is_staff", "data_protection"
        )
    ),
    fields=[
        "organization",
        "email",
        "role",
        "sales_company",
        "region",
        "is_active",
        "is_staff",
        "data_protection",
    ],
    model_name="UserEvent",
)
class User(AbstractBaseUser):
    """A person of one organization. Logs in with e-mail; the role drives visibility."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    email = models.EmailField(_("e-mail"), unique=True)
    full_name = models.CharField(_("full name"), max_length=200)
    role = models.CharField(_("role"), max_length=32, choices=Role.choices, default=Role.SALES_REP)
    sales_company = models.ForeignKey(
        SalesCompany, on_delete=models.PROTECT, null=True, blank=True, related_name="users"
    )
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, null=True, blank=True, related_name="managers"
    )
    language = models.CharField(_("language"), max_length=10, choices=LANGUAGES, blank=True)
    timezone = models.CharField(
        _("time zone"), max_length=64, blank=True, validators=[validate_timezone]
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(
        _("admin site access"), default=False, help_text=_("Global admins only.")
    )
    date_joined = models.DateTimeField(_("joined"), default=dj_timezone.now)
    # A capability, not a role (roles drive visibility): the data-protection officer may export
    # and erase personal data (the privacy app) within the organization.
    data_protection = models.BooleanField(
        _("data protection (GDPR export and erasure)"), default=False, db_default=False
    )

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name", "organization"]

    # No cross-tenant superuser exists; kept for code (admin, guardian) that reads the flag.
    is_superuser = False

    class Meta:
        ordering = ["full_name"]
        indexes = [models.Index(fields=["organization", "role"], name="user_org_role_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(role__in=sorted(COMPANY_ROLES)) | Q(sales_company__isnull=False),
                name="user_company_role_has_company",
            ),
            models.CheckConstraint(
                condition=~Q(role=Role.REGIONAL_MANAGER) | Q(region__isnull=False),
                name="user_regional_manager_has_region",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Sign-in writes last_login (and an upgraded password hash) before any organization is in
        # scope; under RLS the write must run in the user's own organization.
        if current_org_id() is None and self.organization_id:
            with org_scope(self.organization_id):
                super().save(*args, **kwargs)
        else:
            super().save(*args, **kwargs)

    def validate_unique(self, exclude: Collection[str] | None = None) -> None:
        super().validate_unique(exclude=exclude)
        # E-mail addresses are unique across organizations, but RLS hides the other
        # organizations' users from Django's own check: ask the look-up function.
        if self.email and "email" not in (exclude or ()):
            owner = org_of_email(self.email)
            if owner is not None and owner != self.organization_id:
                raise ValidationError(
                    {"email": _("This e-mail address is already in use.")}, code="unique"
                )

    def clean(self) -> None:
        errors: dict[str, str | Promise] = {}
        if self.role in COMPANY_ROLES and not self.sales_company_id:
            errors["sales_company"] = _("A %(role)s must belong to a sales company.") % {
                "role": self.get_role_display()
            }
        if self.role == Role.REGIONAL_MANAGER and not self.region_id:
            errors["region"] = _("A regional manager needs a region.")
        org_id = self.organization_id
        company, region = self.sales_company, self.region
        if company is not None and company.organization_id != org_id:
            errors["sales_company"] = _("The sales company belongs to another organization.")
        if region is not None and region.organization_id != org_id:
            errors["region"] = _("The region belongs to another organization.")
        if errors:
            raise ValidationError(errors)

    @property
    def may_sign_in_with_password(self) -> bool:
        """False for an organization that signs in through single sign-on only; its global
        admins are the exception (break-glass: they can repair the provider's set-up)."""
        return self.organization.password_login or self.role == Role.GLOBAL_ADMIN

    @property
    def sees_whole_organization(self) -> bool:
        return self.role in ORG_WIDE_ROLES

    @property
    def is_sales_rep(self) -> bool:
        """Templates ask this instead of comparing role strings (a coach's reps)."""
        return self.role == Role.SALES_REP

    @property
    def may_handle_personal_data(self) -> bool:
        """The global admin and data-protection officers: personal-data export and erasure
        (``privacy.access``, which the pages and the API enforce)."""
        return self.role == Role.GLOBAL_ADMIN or bool(getattr(self, "data_protection", False))

    @property
    def effective_language(self) -> str:
        if self.language:
            return self.language
        company = self.sales_company
        return company.language if company is not None else "en"

    @property
    def effective_timezone(self) -> str:
        if self.timezone:
            return self.timezone
        company = self.sales_company
        return company.timezone if company is not None else "UTC"

    # Django admin asks these; only an organization's global admin may configure it there.
    def has_perm(self, perm: str, obj: object = None) -> bool:
        return self.is_active and self.is_staff and self.role == Role.GLOBAL_ADMIN

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_active and self.is_staff and self.role == Role.GLOBAL_ADMIN


def api_token_expiry() -> dt.datetime:
    """When a token issued now stops working: ``API_TOKEN_TTL_DAYS`` from now."""
    return dj_timezone.now() + dt.timedelta(days=settings.API_TOKEN_TTL_DAYS)


class ApiToken(TenantModel):
    """An API token of one user. Only a SHA-256 of the key is stored: a database leak does not
    leak usable tokens. Looked up by hash before any organization is known (like the user's
    e-mail at sign-in), hence the one global unique index.

    A token works until ``expires_at`` or until it is revoked (by its owner, or for all of a
    user's tokens when the password changes or the user is deactivated); revoked rows are kept
    so that the owner's list and the audit of a leak can tell what happened."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=100, default="API")
    created_at = models.DateTimeField(default=dj_timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), default=api_token_expiry)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "user"], name="apitoken_org_user_idx")]

    def __str__(self) -> str:
        return f"{self.name} for {self.user}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= dj_timezone.now()


class NotificationKind(models.TextChoices):
    """Every kind of in-app notification, with the sentence it shows: the one table to extend
    (a kind is one member here; no migration, the field reads its choices from this class).

    The label *is* the sentence, translated when it is read, in the reader's language, with
    ``%(name)s`` placeholders filled from the notification's ``params`` (names and numbers
    only, never a text in one language): one stored row reads in German to a German reader and
    in English to an English one."""

    CONFLICT_NEW = (
        "conflict_new",
        _("New conflict at %(account)s: %(companies)s work the same customer group."),
    )
    CONFLICT_JOINED = "conflict_joined", _("%(company)s joined the conflict at %(account)s.")
    # Join requests name the company that works the group, never the group: the account's
    # side may not see it (accounts.join, need-to-know).
    JOIN_REQUEST = (
        "join_request",
        _("%(user)s asks that %(account)s join the group worked by %(company)s."),
    )
    JOIN_REQUEST_APPROVED = (
        "join_request_approved",
        _("%(user)s approved: %(account)s is now in the group worked by %(company)s."),
    )
    JOIN_REQUEST_DECLINED = (
        "join_request_declined",
        _("%(user)s declined that %(account)s join the group worked by %(company)s."),
    )
    REGROUPED = "regrouped", _("%(account)s is now part of the group %(group)s.")
    # Coaching (issue 19): the rep reads and acknowledges what his manager logged.
    COACHING_LOGGED = (
        "coaching_logged",
        _("%(manager)s logged a coaching session or deal review with you: please acknowledge it."),
    )
    # Deviation alerts (reporting.deviations): one kind per measure, so the sentence names it in
    # the reader's language; values are numbers, the week an ISO date.
    DEVIATION_COVERAGE = (
        "deviation_coverage",
        _(
            "Deviation: pipeline coverage of %(company)s is %(value)s %% of target, against "
            "%(reference)s %% (week of %(week)s)."
        ),
    )
    DEVIATION_WIN_RATE = (
        "deviation_win_rate",
        _(
            "Deviation: the win rate of %(company)s is %(value)s %%, against %(reference)s %% "
            "(week of %(week)s)."
        ),
    )
    DEVIATION_STAGE_AGEING = (
        "deviation_stage_ageing",
        _(
            "Deviation: deals of %(company)s sit %(value)s days in their stage (median), "
            "against %(reference)s (week of %(week)s)."
        ),
    )
    DEVIATION_DATA_QUALITY = (
        "deviation_data_quality",
        _(
            "Deviation: %(value)s %% of the open deals of %(company)s have data-quality issues, "
            "against %(reference)s %% (week of %(week)s)."
        ),
    )
    WEBHOOK_DISABLED = (
        "webhook_disabled",
        _("The webhook %(name)s was switched off after %(count)s failed deliveries in a row."),
    )


def notification_kind_choices() -> list[tuple[str, str]]:
    # A callable (Django 5): migrations name it instead of copying the list, so adding a kind
    # to NotificationKind needs no migration.
    return [(value, str(label)) for value, label in NotificationKind.choices]


_NUMBER = re.compile(r"-?\d+\.\d+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _localized(value: Any) -> Any:
    """A stored number or date in the reader's format: params are stored as JSON (a decimal as
    its string, a date in ISO form), the sentence is rendered per reader."""
    if isinstance(value, float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        return number_format(Decimal(str(value)), use_l10n=True)
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date_format(dt.date.fromisoformat(value), "SHORT_DATE_FORMAT")
        except ValueError:
            return value
    return value


class _Params(dict[str, Any]):
    """A notification's params for ``%`` formatting: a placeholder the row does not carry (a
    sentence that gained one after the row was written) reads as an ellipsis, not a KeyError.
    Numbers and dates come out in the reader's format."""

    def __missing__(self, key: str) -> str:
        return "…"

    def __getitem__(self, key: str) -> Any:
        return _localized(super().__getitem__(key))


class Notification(TenantModel):
    """Something a user should know, shown in the app (the badge in the top bar, the
    notifications page) until read. Only the kind and its params are stored, never the sentence:
    it is rendered from ``NotificationKind`` in the reader's language (``message``)."""

    # No index of its own: the composite index below leads with (organization, recipient), and
    # the composite key to crm_user checks against it too.
    recipient = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=40, choices=notification_kind_choices)
    params = models.JSONField(_("details"), default=dict, blank=True)
    url = models.CharField(_("link"), max_length=500, validators=[validate_app_path])
    created_at = models.DateTimeField(_("created"), default=dj_timezone.now, editable=False)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The badge (unread of one recipient) and the page (newest first) in one index.
            models.Index(
                fields=["organization", "recipient", "read_at", "-created_at"],
                name="notification_org_unread_idx",
            ),
        ]
        constraints = [
            # validate_app_path's core, also for rows written without the service.
            models.CheckConstraint(
                condition=Q(url__startswith="/")
                & ~Q(url__startswith="//")
                & ~Q(url__contains="\\"),
                name="notification_url_app_path",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for user {self.recipient_id}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    @property
    def message(self) -> str:
        """The sentence in the active language (the reader's: the locale middleware activates
        it per request)."""
        try:
            sentence = NotificationKind(self.kind).label
        except ValueError:  # a kind since removed: the row still shows, and still links
            return gettext("You have a notification.")
        params = self.params if isinstance(self.params, dict) else {}
        return str(sentence) % _Params(params)


class SearchKind(models.IntegerChoices):
    ACCOUNT = 1, _("account")
    CONTACT = 2, _("contact")
    OPPORTUNITY = 3, _("opportunity")
    LEAD = 4, _("lead")


class SearchWord(TenantModel):
    """One word (a lexeme of a record's ``search`` tsvector) of one searchable record.

    Written by database triggers only (``crm.search``), read only by ``crm.search`` to find the
    candidate records of a word prefix. Why a table and not a GIN index on the tsvector: under
    row-level security PostgreSQL evaluates no non-LEAKPROOF condition before the policy, and
    ``@@`` is not leakproof, so a GIN index is never an index condition for the application role
    (the search read every row of the organization). A btree prefix range with the leakproof
    pattern operators is. The kinds name no model: the kernel stays below the apps.
    """

    kind = models.PositiveSmallIntegerField(choices=SearchKind.choices)
    word = models.TextField()
    object_id = models.BigIntegerField()

    class Meta:
        indexes = [
            # The prefix range of one kind, with the record's id in the index (index-only).
            models.Index(
                fields=["organization", "kind", "word"],
                name="searchword_prefix_idx",
                opclasses=["int8_ops", "int2_ops", "text_pattern_ops"],
                include=["object_id"],
            ),
            # The trigger's delete of a record's words, and "has this record a word starting
            # with …" when another, rarer word of the query drives the search.
            models.Index(
                fields=["organization", "kind", "object_id", "word"],
                name="searchword_object_idx",
                opclasses=["int8_ops", "int2_ops", "int8_ops", "text_pattern_ops"],
            ),
        ]
