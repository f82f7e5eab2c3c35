"""Writes of the sales process: global stages, local processes and their mapping. Keyword-only,
typed, atomic.

``acting_user=None`` means the system itself (seed_demo, data migrations); every other caller
passes the user on whose behalf the write happens, and the service checks the role table.

Leads and campaigns are ``leads.services`` (above opportunities, where conversion needs them).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext

from crm.models import Organization, SalesCompany, User
from crm.tenancy import require_same_org
from crm.visibility import can_configure
from pipeline.models import (
    ForecastCategory,
    GlobalStage,
    LocalStage,
    SalesProcess,
)

# (name, order, probability %, forecast category, won, lost): the default global process.
DEFAULT_GLOBAL_STAGES: list[tuple[str, int, int, str, bool, bool]] = [
    ("Qualify", 10, 10, ForecastCategory.PIPELINE, False, False),
    ("Develop", 20, 25, ForecastCategory.PIPELINE, False, False),
    ("Propose", 30, 50, ForecastCategory.BEST_CASE, False, False),
    ("Negotiate", 40, 75, ForecastCategory.COMMIT, False, False),
    ("Won", 50, 100, ForecastCategory.CLOSED, True, False),
    ("Lost", 60, 0, ForecastCategory.CLOSED, False, True),
]

StageSpec = tuple[str, int, GlobalStage]


def require_configure(acting_user: User | None, organization_id: int) -> None:
    """The process (stages, processes, companies) is known to everyone in the organization:
    another organization's answers like a missing one (404), one's own is the admin's (403)."""
    if acting_user is None:
        return
    if acting_user.organization_id != organization_id:
        raise Http404("No such record.")
    if not can_configure(acting_user):
        raise PermissionDenied("Only the organization's global admin may configure the process.")


# --- Stages and processes ----------------------------------------------------------------------


@transaction.atomic
def global_stages_ensure_default(
    *, organization: Organization, acting_user: User | None = None
) -> list[GlobalStage]:
    """Create the default global stages that are missing (by name); existing ones are kept."""
    require_configure(acting_user, organization.pk)
    existing = {gs.name: gs for gs in GlobalStage.objects.for_org(organization)}
    for name, order, probability, category, won, lost in DEFAULT_GLOBAL_STAGES:
        if name in existing:
            continue
        stage = GlobalStage(
            organization=organization,
            name=name,
            order=order,
            probability=probability,
            forecast_category=category,
            is_won=won,
            is_lost=lost,
            suppresses_marketing=category == ForecastCategory.COMMIT,
        )
        stage.full_clean()
        stage.save()
        existing[name] = stage
    return sorted(existing.values(), key=lambda gs: gs.order)


# What the set-up may change on a global stage. Order is left out because every local process is
# validated against the global order (validate_mapping), and won/lost because flipping them would
# win, lose or reopen deals without a stage change (the same rule as local_stage_remap).
GLOBAL_STAGE_EDITABLE = frozenset(
    {"name", "probability", "forecast_category", "suppresses_marketing"}
)


@transaction.atomic
def global_stage_update(
    *, stage: GlobalStage, acting_user: User | None, **fields: Any
) -> GlobalStage:
    """Rename a global stage or change its probability and forecast category.

    Keeps what the reports assume: a won stage is closed at 100 %, a lost one closed at 0 %
    (the forecast counts the closed category as won), and an open stage is never closed."""
    unknown = set(fields) - GLOBAL_STAGE_EDITABLE
    if unknown:
        raise TypeError(f"global_stage_update() cannot change {', '.join(sorted(unknown))}.")
    org_id = stage.organization_id
    require_configure(acting_user, org_id)
    # Locked so that two admins editing the same stage cannot mix their changes.
    stage = GlobalStage.objects.for_org(org_id).select_for_update().get(pk=stage.pk)
    for field, value in fields.items():
        setattr(stage, field, value.strip() if isinstance(value, str) else value)
    errors: dict[str, list[str]] = {}
    closed = stage.forecast_category == ForecastCategory.CLOSED
    if stage.is_won or stage.is_lost:
        if not closed:
            errors["forecast_category"] = [
                gettext("A won or lost stage belongs to the closed forecast category.")
            ]
        if stage.is_won and stage.probability != 100:
            errors["probability"] = [gettext("A won stage has a probability of 100 %.")]
        if stage.is_lost and stage.probability != 0:
            errors["probability"] = [gettext("A lost stage has a probability of 0 %.")]
    elif closed:
        errors["forecast_category"] = [
            gettext("An open stage cannot be in the closed forecast category.")
        ]
    taken = (
        GlobalStage.objects.for_org(org_id).filter(name=stage.name).exclude(pk=stage.pk).exists()
    )
    if taken:
        errors["name"] = [gettext("Another global stage has this name.")]
    try:
        # The constraints' own check would report the name on no field; the one above says
        # where. Order and outcome do not change here, and the database keeps all three anyway.
        stage.full_clean(validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    stage.save(update_fields=sorted(fields))
    return stage


def validate_mapping(stages: Sequence[tuple[str, int, GlobalStage]]) -> None:
    """The rules a process must keep after every change (create and re-map)."""
    errors: list[str] = []
    if not stages:
        raise ValidationError("A sales process needs at least one stage.")
    orders = [order for _, order, _ in stages]
    if len(set(orders)) != len(orders):
        errors.append("Two local stages have the same order.")
    names = [name.strip().casefold() for name, _, _ in stages]
    if len(set(names)) != len(names) or not all(names):
        errors.append("Local stage names must be present and unique within the process.")
    if not any(gs.is_won for _, _, gs in stages):
        errors.append("No local stage is mapped to a won global stage.")
    if not any(gs.is_lost for _, _, gs in stages):
        errors.append("No local stage is mapped to a lost global stage.")
    # A local process may refine the global one but never reorder it: otherwise the global
    # funnel (conversion rates, time in stage) would count deals going backwards.
    ordered = sorted(stages, key=lambda s: s[1])
    for (prev_name, _, prev_gs), (name, _, gs) in itertools.pairwise(ordered):
        if gs.order < prev_gs.order:
            errors.append(
                f"'{name}' (-> {gs.name}) comes after '{prev_name}' (-> {prev_gs.name}), "
                "but its global stage comes earlier."
            )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def sales_process_create(
    *,
    sales_company: SalesCompany,
    name: str,
    stages: Sequence[StageSpec],
    acting_user: User | None,
) -> SalesProcess:
    """The company's one process, with its local stages mapped onto global stages."""
    org_id = sales_company.organization_id
    require_configure(acting_user, org_id)
    require_same_org(org_id, *(gs for _, _, gs in stages))
    if SalesProcess.objects.for_org(org_id).filter(sales_company=sales_company).exists():
        raise ValidationError(f"{sales_company} already has a sales process.")
    validate_mapping(stages)
    process = SalesProcess(organization_id=org_id, sales_company=sales_company, name=name)
    process.full_clean()
    process.save()
    LocalStage.objects.bulk_create(
        LocalStage(
            organization_id=org_id,
            process=process,
            name=local_name.strip(),
            order=order,
            global_stage=gs,
        )
        for local_name, order, gs in stages
    )
    return process


def first_local_stage(*, sales_company: SalesCompany) -> LocalStage:
    """Where new opportunities of the company start: the lowest order of its process."""
    stage = (
        LocalStage.objects.for_org(sales_company.organization_id)
        .filter(process__sales_company=sales_company)
        .select_related("global_stage")
        .order_by("order")
        .first()
    )
    if stage is None:
        raise ValidationError(f"{sales_company} has no sales process yet; ask the global admin.")
    return stage
