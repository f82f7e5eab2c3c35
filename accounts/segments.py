"""The segment rule set of an organization (``SegmentRule``): configuration, the global
admin's (set-up page and API alike). The rules are applied by the nightly refresh
(``reporting.customer_value``); a change here takes effect on its next run."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from accounts.models import SegmentRule
from crm.models import User
from crm.roles import Role

# Enough for any sensible A/B/C scheme; more is a mistake, not a segmentation.
MAX_RULES = 20


def may_edit_segment_rules(user: User) -> bool:
    return user.role == Role.GLOBAL_ADMIN


def segment_rules(*, user: User) -> QuerySet[SegmentRule]:
    return SegmentRule.objects.visible_to(user).order_by("order", "pk")


@transaction.atomic
def segment_rule_create(
    *,
    acting_user: User,
    segment: str,
    order: int,
    min_lifetime_value: Decimal | None = None,
    min_potential: Decimal | None = None,
) -> SegmentRule:
    if not may_edit_segment_rules(acting_user):
        raise PermissionDenied(_("The segment rules are the global admin's."))
    org_id = acting_user.organization_id
    if SegmentRule.objects.for_org(org_id).count() >= MAX_RULES:
        raise ValidationError(_("At most %(n)s segment rules.") % {"n": MAX_RULES}, code="too_many")
    rule = SegmentRule(
        organization_id=org_id,
        segment=segment,
        order=order,
        min_lifetime_value=min_lifetime_value,
        min_potential=min_potential,
    )
    rule.full_clean()
    rule.save()
    return rule


@transaction.atomic
def segment_rule_delete(*, rule: SegmentRule, acting_user: User) -> None:
    if not may_edit_segment_rules(acting_user):
        raise PermissionDenied(_("The segment rules are the global admin's."))
    rule.delete()
