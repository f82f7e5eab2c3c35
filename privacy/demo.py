"""Demo: Nordvik's data-protection officer is the German country manager (a capability beside
the role: she still sees only DE's records otherwise). Retention stays off, as by default."""

from __future__ import annotations

from crm.models import Organization, User

DPO_EMAIL = "manager.de@nordvik.example"


def seed_demo(org: Organization) -> None:
    if org.slug != "nordvik":
        return
    User.objects.for_org(org).filter(email=DPO_EMAIL).update(data_protection=True)
