"""The global admin's single sign-on form. The client secret is write-only: its field never
renders a value, and an empty field keeps the stored secret."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from crm.models import SalesCompany
from crm.roles import Role
from sso.models import IdentityProvider

MAPPING_HELP = _("One per line: group = value. The first line whose group the person has wins.")


def parse_pairs(text: str, allowed: set[str] | None, what: str) -> list[list[str]]:
    pairs: list[list[str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        group, sep, value = (part.strip() for part in line.partition("="))
        if not sep or not group or not value:
            raise ValidationError(
                _("Line %(n)s: write it as group = %(what)s.") % {"n": number, "what": what}
            )
        if allowed is not None and value not in allowed:
            raise ValidationError(
                _("Line %(n)s: %(value)s is not a known %(what)s.")
                % {"n": number, "value": value, "what": what}
            )
        pairs.append([group, value])
    return pairs


def pairs_text(pairs: list[list[str]]) -> str:
    return "\n".join(f"{group} = {value}" for group, value in pairs)


class IdentityProviderForm(forms.ModelForm):
    client_secret = forms.CharField(
        label=_("Client secret"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    role_map_text = forms.CharField(
        label=_("Groups to roles"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    company_map_text = forms.CharField(
        label=_("Groups to sales companies (by code)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    password_login = forms.BooleanField(
        label=_("People of this organization may also sign in with a password"),
        required=False,
        help_text=_("Off: single sign-on only. Global admins keep their password to repair this."),
    )

    class Meta:
        model = IdentityProvider
        fields = [
            "name", "issuer", "client_id", "scopes", "email_claim", "name_claim",
            "groups_claim", "default_role", "default_company", "jit_create", "enabled",
        ]  # fmt: skip

    def __init__(self, *args: Any, organization_id: int, password_login: bool, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.organization_id = organization_id
        company = cast("forms.ModelChoiceField[SalesCompany]", self.fields["default_company"])
        company.queryset = SalesCompany.objects.for_org(organization_id).order_by("name")
        self.fields["password_login"].initial = password_login
        self.fields["role_map_text"].help_text = MAPPING_HELP
        self.fields["company_map_text"].help_text = MAPPING_HELP
        if self.instance.pk:
            self.fields["role_map_text"].initial = pairs_text(self.instance.role_map)
            self.fields["company_map_text"].initial = pairs_text(self.instance.company_map)
            self.fields["client_secret"].help_text = _(
                "Stored encrypted and never shown. Leave empty to keep it."
            )
        self.fields["issuer"].help_text = _(
            "Exactly as the provider names itself (its discovery document is read on save)."
        )

    def clean_role_map_text(self) -> list[list[str]]:
        return parse_pairs(self.cleaned_data["role_map_text"], set(Role.values), "role")

    def clean_company_map_text(self) -> list[list[str]]:
        codes = set(
            SalesCompany.objects.for_org(self.organization_id).values_list("code", flat=True)
        )
        return parse_pairs(self.cleaned_data["company_map_text"], codes, "sales company code")

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        fields = {name: data[name] for name in self.Meta.fields}
        fields["role_map"] = data["role_map_text"]
        fields["company_map"] = data["company_map_text"]
        return fields
