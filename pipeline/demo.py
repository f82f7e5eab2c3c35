"""Demo sales process (global stages, local processes) for ``seed_demo``.

Through the services with ``acting_user=None`` (the system seeds). Idempotent: processes are
found by company. Runs before ``opportunities.demo`` and ``leads.demo`` (deals need stages).
"""

from __future__ import annotations

from crm.models import Organization, SalesCompany
from pipeline.models import GlobalStage, SalesProcess
from pipeline.services import (
    global_stages_ensure_default,
    sales_process_create,
)

# Local names per global stage (same order): the variants the issue asks for.
LOCAL_NAMES = {
    "SE": ("Säljprocess", ["Kvalificera", "Utveckla", "Offerera", "Förhandla", "Vunnen",
                           "Förlorad"]),
    "DE": ("Vertriebsprozess", ["Qualifizieren", "Entwickeln", "Angebot", "Verhandlung",
                                "Gewonnen", "Verloren"]),
}  # fmt: skip
DEFAULT_PROCESS = ("Standard sales process", None)


def seed_demo(org: Organization) -> None:
    stages = {gs.name: gs for gs in global_stages_ensure_default(organization=org)}
    _seed_processes(org, stages)


def _seed_processes(org: Organization, stages: dict[str, GlobalStage]) -> None:
    has_process = set(SalesProcess.objects.for_org(org).values_list("sales_company_id", flat=True))
    ordered = sorted(stages.values(), key=lambda gs: gs.order)
    for company in SalesCompany.objects.for_org(org).order_by("code"):
        if company.pk in has_process:
            continue
        name, local = LOCAL_NAMES.get(company.country, DEFAULT_PROCESS)
        names = local or [gs.name for gs in ordered]
        sales_process_create(
            sales_company=company,
            name=name,
            stages=[(n, gs.order, gs) for n, gs in zip(names, ordered, strict=True)],
            acting_user=None,
        )
