"""Visibility of imports (registered by ``ImportsConfig.ready``): a job and a template are
their owner's alone; external ids are read by the import services only (``for_org``)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from crm.models import User
from crm.visibility import nothing, policy


@policy("imports.ImportJob")
def _jobs(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    return qs.filter(created_by_id=user.pk)


@policy("imports.ImportRow")
def _rows(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    return qs.filter(job__created_by_id=user.pk)


@policy("imports.ImportTemplate")
def _templates(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    return qs.filter(user_id=user.pk)


@policy("imports.ImportKey")
def _keys(qs: QuerySet[Any], user: User) -> QuerySet[Any]:
    return nothing(qs)
