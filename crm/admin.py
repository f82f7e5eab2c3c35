"""Django admin for the kernel, scoped to the admin's own organization.

There is no cross-tenant superuser: every admin page lists, and every form offers, only rows of
the signed-in global admin's organization.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import axes.admin  # noqa: F401  (imported for its registrations, which are undone below)
import django.contrib.auth.admin  # noqa: F401  (likewise: it registers Group)
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.models import Group
from django.db.models import ForeignKey, QuerySet
from django.http import HttpRequest

from crm.http import signed_in_user
from crm.models import ExchangeRate, Organization, Region, SalesCompany, User
from crm.tenancy import TenantModel

if TYPE_CHECKING:
    # Generic only in the stubs; at run time not subscriptable.
    _ModelAdmin = admin.ModelAdmin[Any]
    _ModelForm = forms.ModelForm[User]
else:
    _ModelAdmin = admin.ModelAdmin
    _ModelForm = forms.ModelForm


class OrgScopedAdmin(_ModelAdmin):
    """Lists, lookups and new rows all belong to the request user's organization."""

    exclude: ClassVar[tuple[str, ...]] = ("organization",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rows: QuerySet[Any] = self.model.objects.for_org(signed_in_user(request).organization_id)
        return rows

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelChoiceField[Any] | None:
        related = db_field.related_model
        if isinstance(related, type) and issubclass(related, TenantModel | User):
            kwargs["queryset"] = related.objects.for_org(signed_in_user(request).organization_id)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.organization_id = signed_in_user(request).organization_id
        super().save_model(request, obj, form, change)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        # ModelForm validation (uniqueness) runs before save_model; give the instance its org.
        org_id = signed_in_user(request).organization_id

        class ScopedForm(form):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, **kw)
                if not self.instance.organization_id:
                    self.instance.organization_id = org_id

        return ScopedForm


@admin.register(Organization)
class OrganizationAdmin(_ModelAdmin):
    list_display = ("name", "corporate_currency", "fiscal_year_start_month", "rules_of_engagement")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        return Organization.objects.filter(pk=signed_in_user(request).organization_id)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Region)
class RegionAdmin(OrgScopedAdmin):
    list_display = ("name",)
    search_fields = ("name",)


@admin.register(SalesCompany)
class SalesCompanyAdmin(OrgScopedAdmin):
    list_display = ("code", "name", "country", "currency", "language", "timezone", "region")
    list_filter = ("region",)
    search_fields = ("name", "code")
    list_select_related = ("region",)


@admin.register(ExchangeRate)
class ExchangeRateAdmin(OrgScopedAdmin):
    list_display = ("currency", "rate", "valid_from")
    list_filter = ("currency",)
    date_hierarchy = "valid_from"


class UserCreationAdminForm(_ModelForm):
    password = forms.CharField(widget=forms.PasswordInput, strip=False)

    class Meta:
        model = User
        fields = ("email", "full_name", "role", "sales_company", "region", "language", "timezone")

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        user.set_password(self.cleaned_data["password"])
        if commit:
            user.save()
        return user


@admin.register(User)
class UserAdmin(OrgScopedAdmin):
    list_display = ("email", "full_name", "role", "sales_company", "region", "is_active")
    list_filter = ("role", "sales_company", "is_active")
    search_fields = ("email", "full_name")
    list_select_related = ("sales_company", "region")
    exclude = ("organization", "password", "last_login")
    change_password_form = AdminPasswordChangeForm

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = UserCreationAdminForm
        return super().get_form(request, obj, change, **kwargs)


# Third-party models with no organization must not be in an admin every organization's global
# admin can open: axes' sign-in logs name every tenant's users with address and user agent, and
# deleting attempts would lift another tenant's lockouts; a Group would be shared by all tenants
# (our roles are ``crm.roles.Role``, not groups). Their admin modules are imported above, so
# they have registered by now whatever the app order; tests/crm/test_admin_scope.py walks the
# registry and fails on any model that is neither org-scoped nor allowed there.
UNSCOPED_THIRD_PARTY_MODELS = (Group, AccessAttempt, AccessLog, AccessFailureLog)
for _model in UNSCOPED_THIRD_PARTY_MODELS:
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
