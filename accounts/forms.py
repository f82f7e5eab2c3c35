"""Forms of the account pages: the inline new account, logging an activity, editing an account."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, ActivityKind, Incoterm, Lifecycle, Segment, TeamRole
from crm.forms import ISO_DATE_INPUT, ISO_DATETIME_INPUT, QuickSelect
from crm.limits import MAX_TEXT_LENGTH
from crm.models import SalesCompany, User
from crm.validators import validate_country
from crm.visibility import visible_companies


class AccountSearchForm(forms.Form):
    q = forms.CharField(label=_("Search accounts"), required=False, max_length=100)


class InlineAccountForm(forms.Form):
    """A new customer typed in the opportunity form. Field names carry a ``new_`` prefix so
    they can live inside the opportunity's own form without clashing with its fields."""

    new_name = forms.CharField(label=_("Company name"), max_length=200)
    new_country = forms.CharField(label=_("Country (ISO code)"), max_length=2, required=False)
    new_registration_number = forms.CharField(
        label=_("Registration / VAT number"), max_length=40, required=False
    )
    new_domain = forms.CharField(label=_("Web domain"), max_length=200, required=False)
    new_parent = forms.ModelChoiceField(
        label=_("Part of group"), queryset=Account.objects.none(), required=False,
        widget=forms.HiddenInput,
    )  # fmt: skip
    new_home_company = forms.ModelChoiceField(
        label=_("Home company"), queryset=SalesCompany.objects.none(), required=False
    )
    new_ignore_duplicates = forms.BooleanField(
        label=_("None of these: create a new account"), required=False
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        parent = cast(forms.ModelChoiceField, self.fields["new_parent"])
        parent.queryset = Account.objects.visible_to(user)
        company = cast(forms.ModelChoiceField, self.fields["new_home_company"])
        company.queryset = visible_companies(user)

    def clean_new_country(self) -> str:
        # Upper-cased before validation: people type "se" as often as "SE".
        country = (self.cleaned_data.get("new_country") or "").upper()
        if country:
            validate_country(country)
        return country

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["new_name"],
            "country": data.get("new_country") or "",
            "registration_number": data.get("new_registration_number") or "",
            "domain": data.get("new_domain") or "",
        }


class ActivityForm(forms.Form):
    """Log an activity on the 360° page: kind and subject, the rest optional."""

    kind = forms.ChoiceField(
        label=_("Kind"), choices=ActivityKind.choices, initial=ActivityKind.CALL,
        widget=forms.RadioSelect,
    )  # fmt: skip
    subject = forms.CharField(label=_("Subject"), max_length=200)
    account = forms.ModelChoiceField(label=_("At"), queryset=Account.objects.none())
    due_at = forms.DateTimeField(
        label=_("Due (for a task)"), required=False,
        widget=ISO_DATETIME_INPUT,
    )  # fmt: skip
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=MAX_TEXT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, accounts: list[Account], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The group's accounts already on the page: no second query for the choices.
        self.accounts = {a.pk: a for a in accounts}
        self.fields["account"] = forms.TypedChoiceField(
            label=_("At"),
            coerce=int,
            choices=[(a.pk, f"{a.name} ({a.country})") for a in accounts],
            widget=QuickSelect,  # 200 subsidiaries in a big group
        )

    def clean_account(self) -> Account:
        return self.accounts[self.cleaned_data["account"]]


class AccountEditForm(forms.Form):
    """An account's own fields and its parent (group). Saved by ``account_update`` and
    ``account_set_parent``, which hold the "may change" and group-link rules."""

    name = forms.CharField(label=_("Company name"), max_length=200)
    country = forms.CharField(label=_("Country (ISO code)"), max_length=2, required=False)
    registration_number = forms.CharField(
        label=_("Registration / VAT number"), max_length=40, required=False
    )
    domain = forms.CharField(label=_("Web domain"), max_length=200, required=False)
    industry = forms.CharField(label=_("Industry"), max_length=100, required=False)
    segment = forms.ChoiceField(label=_("Segment"), choices=Segment.choices)
    lifecycle = forms.ChoiceField(label=_("Lifecycle"), choices=Lifecycle.choices)
    # An id, not a list of every visible account (a manager sees tens of thousands).
    parent = forms.ModelChoiceField(
        label=_("Part of group (parent account id)"),
        queryset=Account.objects.none(),
        required=False,
        widget=forms.NumberInput,
    )

    FIELDS = ("name", "country", "registration_number", "domain", "industry", "segment")

    def __init__(self, *args: Any, user: User, account: Account, **kwargs: Any) -> None:
        initial = {name: getattr(account, name) for name in (*self.FIELDS, "lifecycle")}
        initial["parent"] = account.parent_id
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        parent = cast(forms.ModelChoiceField, self.fields["parent"])
        parent.queryset = Account.objects.visible_to(user)

    def clean_country(self) -> str:
        country = (self.cleaned_data.get("country") or "").upper()
        if country:
            validate_country(country)
        return country


def parse_tiers(text: str) -> list[tuple[Decimal, Decimal]]:
    """One tier per line, "threshold; discount %" (a comma works as decimal mark too)."""
    tiers: list[tuple[Decimal, Decimal]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = [p.strip().replace(" ", "").replace(",", ".") for p in line.split(";")]
        if len(parts) != 2:
            raise forms.ValidationError(
                _('Line %(n)s: write "threshold; discount %%", e.g. 100000; 2.5.'),
                params={"n": number},
            )
        try:
            tiers.append((Decimal(parts[0]), Decimal(parts[1].rstrip("%"))))
        except InvalidOperation:
            raise forms.ValidationError(
                _("Line %(n)s: the threshold and the discount must be numbers."),
                params={"n": number},
            ) from None
    return tiers


class AgreementForm(forms.Form):
    group = forms.ModelChoiceField(label=_("Customer group"), queryset=Account.objects.none())
    name = forms.CharField(label=_("Name"), max_length=200)
    valid_from = forms.DateField(label=_("Valid from"), widget=ISO_DATE_INPUT)
    valid_to = forms.DateField(label=_("Valid to"), widget=ISO_DATE_INPUT)
    covered_companies = forms.ModelMultipleChoiceField(
        label=_("Covered sales companies"),
        queryset=SalesCompany.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )
    incoterm = forms.ChoiceField(
        label=_("Shipping terms (Incoterms 2020)"), choices=Incoterm.choices
    )
    payment_terms = forms.CharField(label=_("Payment terms"), max_length=200)
    tiers = forms.CharField(
        label=_("Discount tiers"),
        required=False,
        max_length=MAX_TEXT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "One per line: cumulative volume in the corporate currency; discount %. "
            "Ascending, e.g. 0; 0 then 250000; 2 then 1000000; 4."
        ),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        group = cast(forms.ModelChoiceField, self.fields["group"])
        group.queryset = (
            Account.objects.visible_to(user).filter(parent__isnull=True).order_by("name")
        )
        companies = cast(forms.ModelMultipleChoiceField, self.fields["covered_companies"])
        companies.queryset = visible_companies(user).order_by("name")

    def clean_tiers(self) -> list[tuple[Decimal, Decimal]]:
        return parse_tiers(self.cleaned_data.get("tiers") or "")


class TeamMemberForm(forms.Form):
    user = forms.ModelChoiceField(label=_("Person"), queryset=User.objects.none())
    role = forms.ChoiceField(label=_("Team role"), choices=TeamRole.choices)
    sales_company = forms.ModelChoiceField(
        label=_("Represents"),
        queryset=SalesCompany.objects.none(),
        required=False,
        empty_label=_("The person's own company"),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["user"]).queryset = (
            User.objects.visible_to(user)
            .filter(is_active=True)
            .select_related("sales_company")
            .order_by("full_name")
        )
        company = cast(forms.ModelChoiceField, self.fields["sales_company"])
        company.queryset = visible_companies(user).order_by("name")
