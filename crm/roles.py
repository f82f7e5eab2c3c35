"""The roles of the visibility table in ARCHITECTURE.md."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    GLOBAL_ADMIN = "global_admin", _("Global admin")
    GLOBAL_DIRECTOR = "global_director", _("Global sales director")
    REGIONAL_MANAGER = "regional_manager", _("Regional manager")
    COUNTRY_MANAGER = "country_manager", _("Country manager")
    SALES_REP = "sales_rep", _("Sales rep")
    MARKETING = "marketing", _("Marketing")


# Roles that see every row of their organization.
ORG_WIDE_ROLES = frozenset({Role.GLOBAL_ADMIN, Role.GLOBAL_DIRECTOR})
# Roles that must belong to one sales company.
COMPANY_ROLES = frozenset({Role.COUNTRY_MANAGER, Role.SALES_REP})
# Roles that manage a set of companies (their own, or their region's).
MANAGER_ROLES = frozenset({Role.REGIONAL_MANAGER, Role.COUNTRY_MANAGER})
