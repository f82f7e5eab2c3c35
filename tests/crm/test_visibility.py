from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404

from crm.models import Organization, Region, SalesCompany, User
from crm.selectors import access_sales_company_by_id
from crm.visibility import apply, visible_companies
from tests.conftest import World

pytestmark = pytest.mark.django_db


def codes(user: User) -> set[str]:
    return set(visible_companies(user).values_list("code", flat=True))


def test_each_role_sees_exactly_its_sales_companies(world: World) -> None:
    expected = {
        "admin": {"SE", "DK", "DE"},
        "director": {"SE", "DK", "DE"},
        "regional": {"SE", "DK"},  # the Nordics region
        "manager_se": {"SE"},
        "manager_de": {"DE"},
        "rep_se": {"SE"},
        "rep_dk": {"DK"},
        "rep_de": {"DE"},
        "marketing": {"SE", "DK", "DE"},  # global marketing: no company of its own
        "marketing_se": {"SE"},
        "stranger": {"SE"},  # Tellus's own SE, nothing of Nordvik
    }
    assert set(expected) == set(world.users())
    for name, user in world.users().items():
        assert codes(user) == expected[name], name
    assert set(visible_companies(world.stranger).values_list("name", flat=True)) == {"Tellus SE"}


def test_visible_companies_is_one_query(world: World, django_assert_num_queries) -> None:
    with django_assert_num_queries(1):
        list(visible_companies(world.regional))


def test_reference_data_is_visible_inside_the_organization_only(world: World) -> None:
    regions = Region.objects.visible_to(world.rep_se)
    assert set(regions.values_list("name", flat=True)) == {"Nordics", "DACH"}
    colleagues = User.objects.visible_to(world.stranger)
    assert list(colleagues) == [world.stranger]


def test_fetch_helper_answers_404_for_missing_and_foreign_alike(world: World) -> None:
    assert access_sales_company_by_id(world.rep_se, world.se.pk) == world.se
    with pytest.raises(Http404):
        access_sales_company_by_id(world.stranger, world.se.pk)
    with pytest.raises(Http404):
        access_sales_company_by_id(world.stranger, 10**9)


def test_inactive_and_anonymous_users_see_nothing(world: World) -> None:
    from django.contrib.auth.models import AnonymousUser

    world.rep_se.is_active = False
    assert not SalesCompany.objects.visible_to(world.rep_se).exists()
    assert not SalesCompany.objects.visible_to(AnonymousUser()).exists()
    assert not visible_companies(world.rep_se).exists()


def test_a_model_without_policy_is_not_visible_by_default(world: World) -> None:
    with pytest.raises(ImproperlyConfigured, match="no visibility policy"):
        apply(Organization.objects.all(), world.admin)


def test_every_tenant_model_has_a_visibility_policy() -> None:
    from django.apps import apps

    from crm.registry import _POLICIES

    project = {"crm", "accounts", "pipeline", "opportunities", "leads", "reporting"}
    labels = {
        m._meta.label
        for m in apps.get_models()
        if m._meta.app_label in project and m is not Organization
    }
    assert labels - set(_POLICIES) == set()


def test_policies_are_single_queries(world: World, django_assert_num_queries) -> None:
    from django.apps import apps

    from crm.registry import _POLICIES

    # Every policy, for every role, compiles to one SQL statement (subqueries, no Python lists).
    for label in _POLICIES:
        model = apps.get_model(label)
        manager = model.objects if model is not User else User.objects
        for user in world.users().values():
            with django_assert_num_queries(1):
                list(apply(manager.unscoped(), user)[:5])
