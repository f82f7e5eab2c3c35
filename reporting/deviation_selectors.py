"""Reads of deviation alerts, through the visibility policy (``reporting/policies.py``)."""

from __future__ import annotations

from crm.models import User
from crm.registry import access_by_id
from crm.tenancy import TenantQuerySet
from reporting.models import DeviationAlert


def visible_alerts(user: User) -> TenantQuerySet[DeviationAlert]:
    """The alerts the user may see, with what a list row shows joined in."""
    return DeviationAlert.objects.visible_to(user).select_related(
        "sales_company", "acknowledged_by"
    )


def access_alert_by_id(user: User, pk: object) -> DeviationAlert:
    """One visible alert; 404 for missing, foreign, invisible and malformed ids alike."""
    return access_by_id(visible_alerts(user), pk)
