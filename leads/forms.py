"""Forms of the marketing pages (leads, campaigns).

Choice fields are always narrowed to what the acting user may see (``crm.visibility``), so a
posted id of an invisible or foreign row is just an invalid choice.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.forms import ISO_DATE_INPUT
from crm.models import SalesCompany, User
from crm.roles import Role
from crm.validators import validate_country, validate_currency
from crm.visibility import scoped_company_ids, visible_companies
from leads.models import Campaign, CampaignKind, LeadStatus


class LeadFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *LeadStatus.choices]
    )
    company = forms.ModelChoiceField(
        label=_("Sales company"),
        required=False,
        queryset=SalesCompany.objects.none(),
        empty_label=_("Any company"),
    )
    campaign = forms.ModelChoiceField(
        label=_("Campaign"),
        required=False,
        queryset=Campaign.objects.none(),
        empty_label=_("Any campaign"),
    )
    q = forms.CharField(label=_("Company, contact or e-mail"), required=False, max_length=100)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        company = cast(forms.ModelChoiceField, self.fields["company"])
        company.queryset = visible_companies(user).order_by("name")
        campaign = cast(forms.ModelChoiceField, self.fields["campaign"])
        campaign.queryset = Campaign.objects.visible_to(user).order_by("-starts_on", "id")


class LeadForm(forms.Form):
    company_name = forms.CharField(label=_("Company"), max_length=200)
    registration_number = forms.CharField(
        label=_("Registration / VAT number"), max_length=40, required=False
    )
    domain = forms.CharField(label=_("Web domain"), max_length=200, required=False)
    country = forms.CharField(
        label=_("Country"),
        max_length=2,
        help_text=_("ISO code, e.g. SE; it routes the lead to that country's sales company."),
    )
    contact_name = forms.CharField(label=_("Contact name"), max_length=200)
    contact_title = forms.CharField(label=_("Contact title"), max_length=200, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=50, required=False)
    source = forms.CharField(label=_("Source"), max_length=100, help_text=_("e.g. a trade fair"))
    campaign = forms.ModelChoiceField(
        label=_("Campaign"), required=False, queryset=Campaign.objects.none()
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        campaign = cast(forms.ModelChoiceField, self.fields["campaign"])
        campaign.queryset = Campaign.objects.visible_to(user).order_by("-starts_on", "id")

    def clean_country(self) -> str:
        # Upper-case first, then the model's validator: "se" is a fine way to type Sweden.
        value: str = self.cleaned_data["country"].strip().upper()
        validate_country(value)
        return value


class DisqualifyForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)


class AssignForm(forms.Form):
    owner = forms.ModelChoiceField(label=_("Seller"), queryset=User.objects.none())

    def __init__(self, *args: Any, user: User, company_id: int | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = User.objects.visible_to(user).filter(
            is_active=True, role__in=[Role.SALES_REP, Role.COUNTRY_MANAGER]
        )
        if company_id is not None:
            people = people.filter(sales_company_id=company_id)
        if user.role == Role.SALES_REP:
            # A seller converts the leads handed to him into his own deals (opportunity_create
            # lets a rep book for himself only).
            people = people.filter(pk=user.pk)
        cast(forms.ModelChoiceField, self.fields["owner"]).queryset = people.order_by("full_name")


class ConvertForm(AssignForm):
    """Hand-over to sales. ``account`` is empty on the first try; after the duplicate check it
    is a candidate's id, or ``new`` to confirm that the customer is new."""

    opportunity_name = forms.CharField(label=_("Opportunity name"), max_length=200, required=False)
    amount = forms.DecimalField(
        label=_("Amount"), required=False, min_value=0, max_digits=16, decimal_places=2
    )
    expected_close_date = forms.DateField(
        label=_("Expected close date"), required=False, widget=ISO_DATE_INPUT
    )
    account = forms.CharField(required=False, widget=forms.HiddenInput)


class MemberSearchForm(forms.Form):
    q = forms.CharField(label=_("Find contacts or leads by name"), max_length=100, required=False)


class MemberAddForm(forms.Form):
    contact = forms.IntegerField(required=False, widget=forms.HiddenInput)
    lead = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data (the stubs allow None)
        if bool(data.get("contact")) == bool(data.get("lead")):
            raise forms.ValidationError(_("Choose one contact or one lead."))
        return data


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=CampaignKind.choices)
    starts_on = forms.DateField(label=_("Starts"), widget=ISO_DATE_INPUT)
    ends_on = forms.DateField(label=_("Ends"), widget=ISO_DATE_INPUT)
    budget = forms.DecimalField(
        label=_("Budget"), required=False, min_value=0, max_digits=14, decimal_places=2
    )
    currency = forms.CharField(
        label=_("Currency"), max_length=3, help_text=_("ISO code, e.g. SEK.")
    )
    sales_companies = forms.ModelMultipleChoiceField(
        label=_("Sales companies"),
        queryset=SalesCompany.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        companies = cast(forms.ModelMultipleChoiceField, self.fields["sales_companies"])
        companies.queryset = visible_companies(user).order_by("name")
        if scoped_company_ids(user) is not None:
            # campaign_create refuses a company-bound user's campaign without companies; saying
            # so on the field beats a 403 after the post.
            self.fields["sales_companies"].required = True
        else:
            self.fields["sales_companies"].help_text = _(
                "None for a global campaign of the whole organization."
            )

    def clean_currency(self) -> str:
        value = self.cleaned_data["currency"].strip().upper()
        validate_currency(value)
        return value

    def clean_budget(self) -> Decimal:
        return self.cleaned_data["budget"] or Decimal(0)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data (the stubs allow None)
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", _("The campaign cannot end before it starts."))
        return data


class MarketingPauseForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        help_text=_("Why marketing must leave this customer alone, e.g. a complaint."),
    )
    until = forms.DateField(
        label=_("Paused until"), widget=ISO_DATE_INPUT, help_text=_("The last paused day.")
    )
    whole_group = forms.BooleanField(
        label=_("The whole group"),
        required=False,
        help_text=_("Every account of the group, in every country."),
    )
