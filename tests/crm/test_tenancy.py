from __future__ import annotations

import pghistory.models
import pytest
from django.apps import apps
from django.db import models, transaction

from crm.models import ExchangeRate, Organization, Region, SalesCompany, User
from crm.tenancy import OrganizationScopeError, TenantModel, current_org_id, org_scope
from tests.conftest import World

PROJECT_APPS = {"crm", "accounts", "pipeline", "opportunities", "leads", "reporting"}
# The tenant itself is the only project table without an organization_id.
NOT_TENANT_OWNED = {Organization}


def project_models() -> list[type[models.Model]]:
    return [
        m
        for m in apps.get_models(include_auto_created=True)
        if m._meta.app_label in PROJECT_APPS and m not in NOT_TENANT_OWNED
    ]


def test_every_project_model_carries_a_non_null_organization() -> None:
    models_seen = project_models()
    assert User in models_seen and SalesCompany in models_seen
    for model in models_seen:
        field = model._meta.get_field("organization")
        assert field.related_model is Organization, model
        assert not field.null, f"{model._meta.label}.organization must be NOT NULL"


def test_every_tenant_model_uses_the_fail_closed_manager() -> None:
    for model in project_models():
        if model is User or model._meta.auto_created:
            continue  # auth looks users up before any organization is known (see UserManager)
        # Audit event tables are written by triggers, not by TenantModel.save; they still get the
        # fail-closed manager for every read.
        if not issubclass(model, pghistory.models.Event):
            assert issubclass(model, TenantModel), model._meta.label
        assert type(model._default_manager).__name__ == "TenantManager", model._meta.label


def test_composite_indexes_and_unique_constraints_lead_with_organization() -> None:
    for model in project_models():
        composite = [
            list(index.fields) for index in model._meta.indexes if len(index.fields) > 1
        ] + [
            list(c.fields)
            for c in model._meta.constraints
            if isinstance(c, models.UniqueConstraint) and c.fields
        ]
        for fields in composite:
            assert fields[0] == "organization", f"{model._meta.label}: {fields}"
        # Every tenant table must be reachable by organization through some index.
        leads = [f for f in composite if f[0] == "organization"]
        assert leads or model._meta.auto_created, f"{model._meta.label} has no org-led index"


@pytest.mark.django_db
def test_query_without_organization_in_scope_raises(world: World) -> None:
    assert current_org_id() is None
    with pytest.raises(OrganizationScopeError, match="no organization in scope"):
        list(SalesCompany.objects.all())
    with pytest.raises(OrganizationScopeError):
        SalesCompany.objects.count()
    with pytest.raises(OrganizationScopeError):
        SalesCompany.objects.filter(code="SE").exists()
    # Writes refuse too (each in a savepoint: Django marks the transaction broken on error).
    with pytest.raises(OrganizationScopeError), transaction.atomic():
        Region.objects.update(name="x")
    with pytest.raises(OrganizationScopeError), transaction.atomic():
        Region.objects.all().delete()
    # ... also when the unscoped queryset hides inside another query as a subquery.
    with pytest.raises(OrganizationScopeError):
        list(SalesCompany.objects.for_org(world.org).filter(region__in=Region.objects.all()))
    assert Region.objects.for_org(world.org).filter(name="x").count() == 0


@pytest.mark.django_db
def test_scope_limits_every_query_to_its_organization(world: World) -> None:
    with org_scope(world.org):
        codes = set(SalesCompany.objects.values_list("code", flat=True))
        assert codes == {"SE", "DK", "DE"}
        # Related managers and lookups are scoped too.
        assert set(world.nordics.sales_companies.values_list("code", flat=True)) == {"SE", "DK"}
    with org_scope(world.other_org):
        assert list(SalesCompany.objects.values_list("name", flat=True)) == ["Tellus SE"]


@pytest.mark.django_db
def test_queryset_built_outside_scope_runs_in_the_scope_it_is_evaluated_in(world: World) -> None:
    # Django builds form-field querysets at import time; they must scope when they run.
    lazy = SalesCompany.objects.filter(code="SE")
    with org_scope(world.other_org):
        assert [c.name for c in lazy] == ["Tellus SE"]


@pytest.mark.django_db
def test_explicit_exits(world: World) -> None:
    assert SalesCompany.objects.for_org(world.other_org).count() == 1
    assert SalesCompany.objects.for_org(world.org.pk).count() == 3
    assert SalesCompany.objects.unscoped().count() == 4
    with org_scope(world.org), pytest.raises(OrganizationScopeError, match="asked for"):
        SalesCompany.objects.for_org(world.other_org)


@pytest.mark.django_db
def test_writing_a_row_of_another_organization_in_scope_is_refused(world: World) -> None:
    with org_scope(world.org), pytest.raises(OrganizationScopeError, match="Refusing"):
        Region(organization=world.other_org, name="Sneaky").save()
    assert not Region.objects.unscoped().filter(name="Sneaky").exists()


@pytest.mark.django_db
def test_validation_runs_in_the_rows_own_organization(world: World) -> None:
    from django.core.exceptions import ValidationError

    duplicate = Region(organization=world.org, name="Nordics")
    with pytest.raises(ValidationError, match="already exists"):
        duplicate.full_clean()
    # Same name in another organization is fine: uniqueness is per tenant.
    Region(organization=world.other_org, name="Nordics").full_clean()


@pytest.mark.django_db
def test_scope_is_restored_after_the_block(world: World) -> None:
    with org_scope(world.org):
        with org_scope(world.other_org):
            assert current_org_id() == world.other_org.pk
        assert current_org_id() == world.org.pk
    assert current_org_id() is None
    ExchangeRate.objects.for_org(world.org).count()  # the explicit exit still works
