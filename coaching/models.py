"""Coaching sessions and deal reviews: how sales managers coach their reps (issue 19).

Above ``leads`` in the layers (it reads deals, reporting reads it). A session belongs to the
rep's sales company at the time it was held (``sales_company``), so a rep moving company
does not move his coaching history into the new company's figures.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.audit import audited
from crm.models import SalesCompany, User
from crm.tenancy import TenantModel
from opportunities.models import Opportunity
from pipeline.models import GlobalStage

MAX_SESSION_MINUTES = 8 * 60
DEFAULT_REVIEW_THRESHOLD = Decimal(50_000)


class CoachingSettings(TenantModel):
    """The organization's coaching rules: one row per organization, made on first read."""

    review_threshold = models.DecimalField(
        _("deal value that needs a review before proposal"),
        max_digits=16,
        decimal_places=2,
        default=DEFAULT_REVIEW_THRESHOLD,
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("In the corporate currency."),
    )
    proposal_stage = models.ForeignKey(
        GlobalStage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("proposal stage"),
        help_text=_("A deal is reviewed in time if its review was held before it first reached "
                    "this global stage (or a later one)."),
    )  # fmt: skip

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization"], name="coachsettings_org_uniq"),
        ]


class CoachingTopic(TenantModel):
    """One entry of the organization's configurable list of coaching topics."""

    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="coachtopic_org_name_uniq"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SessionKind(models.TextChoices):
    COACHING = "coaching", _("Coaching session")
    DEAL_REVIEW = "deal_review", _("Deal review")


@audited()
class CoachingSession(TenantModel):
    manager = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="+", verbose_name=_("manager")
    )
    rep = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="+", verbose_name=_("sales rep")
    )
    sales_company = models.ForeignKey(
        SalesCompany, on_delete=models.PROTECT, related_name="+", verbose_name=_("sales company")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=SessionKind.choices)
    held_on = models.DateField(_("date"))
    duration_minutes = models.PositiveIntegerField(
        _("duration (minutes)"),
        validators=[MinValueValidator(1), MaxValueValidator(MAX_SESSION_MINUTES)],
    )
    topics = models.ManyToManyField(
        CoachingTopic, through="SessionTopic", related_name="sessions", verbose_name=_("topics")
    )
    notes = models.TextField(_("notes"), blank=True)
    opportunity = models.ForeignKey(
        Opportunity,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("opportunity"),
    )
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-held_on", "-id"]
        indexes = [
            models.Index(
                fields=["organization", "sales_company", "held_on"], name="coach_org_co_idx"
            ),
            models.Index(fields=["organization", "rep", "held_on"], name="coach_org_rep_idx"),
            models.Index(fields=["organization", "opportunity"], name="coach_org_opp_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="deal_review") | Q(opportunity__isnull=False),
                name="coach_review_has_deal",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.held_on:%Y-%m-%d}"


class SessionTopic(TenantModel):
    session = models.ForeignKey(CoachingSession, on_delete=models.CASCADE)
    topic = models.ForeignKey(CoachingTopic, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "session", "topic"], name="sessiontopic_uniq"
            ),
        ]


@audited()
class CoachingAction(TenantModel):
    """An action agreed in a session, with its owner (mostly the rep) and due date."""

    session = models.ForeignKey(CoachingSession, on_delete=models.CASCADE, related_name="actions")
    text = models.CharField(_("action"), max_length=200)
    owner = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="+", verbose_name=_("owner")
    )
    due_on = models.DateField(_("due date"))
    done_at = models.DateTimeField(_("done"), null=True, blank=True)

    class Meta:
        ordering = ["due_on", "id"]
        indexes = [
            models.Index(fields=["organization", "session"], name="coachaction_org_sess_idx"),
        ]

    def __str__(self) -> str:
        return self.text
