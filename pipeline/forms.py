"""Forms of the marketing pages (leads, campaigns) and of the process set-up.

Choice fields are always narrowed to what the acting user may see (``crm.visibility``), so a
posted id of an invisible or foreign row is just an invalid choice.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Incoterm, TeamRole
from crm.limits import MAX_TEXT_LENGTH
from crm.models import SalesCompany, User
from crm.roles import Role
from crm.validators import validate_country, validate_currency
from crm.visibility import apply, scoped_company_ids, visible_companies
from pipeline.models import Campaign, CampaignKind, ForecastCategory, GlobalStage, LeadStatus

_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


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
        self.fields["company"].queryset = visible_companies(user).order_by("name")
        self.fields["campaign"].queryset = apply(Campaign.objects.unscoped(), user).order_by(
            "-starts_on", "id"
        )


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
        self.fields["campaign"].queryset = apply(Campaign.objects.unscoped(), user).order_by(
            "-starts_on", "id"
        )

    def clean_country(self) -> str:
        # Upper-case first, then the model's validator: "se" is a fine way to type Sweden.
        value = self.cleaned_data["country"].strip().upper()
        validate_country(value)
        return value


class DisqualifyForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200)


class AssignForm(forms.Form):
    owner = forms.ModelChoiceField(label=_("Seller"), queryset=User.objects.none())

    def __init__(self, *args: Any, user: User, company_id: int | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        people = apply(User.objects.unscoped(), user).filter(
            is_active=True, role__in=[Role.SALES_REP, Role.COUNTRY_MANAGER]
        )
        if company_id is not None:
            people = people.filter(sales_company_id=company_id)
        self.fields["owner"].queryset = people.order_by("full_name")


class ConvertForm(AssignForm):
    """Hand-over to sales. ``account`` is empty on the first try; after the duplicate check it
    is a candidate's id, or ``new`` to confirm that the customer is new."""

    opportunity_name = forms.CharField(label=_("Opportunity name"), max_length=200, required=False)
    amount = forms.DecimalField(
        label=_("Amount"), required=False, min_value=0, max_digits=16, decimal_places=2
    )
    expected_close_date = forms.DateField(
        label=_("Expected close date"), required=False, widget=_DATE
    )
    account = forms.CharField(required=False, widget=forms.HiddenInput)


class MemberSearchForm(forms.Form):
    q = forms.CharField(label=_("Find contacts or leads by name"), max_length=100, required=False)


class MemberAddForm(forms.Form):
    contact = forms.IntegerField(required=False, widget=forms.HiddenInput)
    lead = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if bool(data.get("contact")) == bool(data.get("lead")):
            raise forms.ValidationError(_("Choose one contact or one lead."))
        return data


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=CampaignKind.choices)
    starts_on = forms.DateField(label=_("Starts"), widget=_DATE)
    ends_on = forms.DateField(label=_("Ends"), widget=_DATE)
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
        self.fields["sales_companies"].queryset = visible_companies(user).order_by("name")
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
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", _("The campaign cannot end before it starts."))
        return data


# --- Set-up ------------------------------------------------------------------------------------


class GlobalStageForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    probability = forms.IntegerField(
        label=_("Probability %"),
        min_value=0,
        max_value=100,
        help_text=_("Weighs the stage's open amounts in the pipeline; won is 100, lost 0."),
    )
    forecast_category = forms.ChoiceField(
        label=_("Forecast category"), choices=ForecastCategory.choices
    )


class ProcessForm(forms.Form):
    """The process itself; its local stages come in a ``LocalStageRowFormSet``."""

    sales_company = forms.ModelChoiceField(
        label=_("Sales company"), queryset=SalesCompany.objects.none()
    )
    name = forms.CharField(label=_("Process name"), max_length=100)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the companies still without one: a company has exactly one process.
        self.fields["sales_company"].queryset = (
            visible_companies(user).filter(processes__isnull=True).order_by("code")
        )


class LocalStageRowForm(forms.Form):
    """One local stage. A row without a name is left out, so the admin drops a pre-filled
    stage by clearing its name and adds one by filling a blank row."""

    name = forms.CharField(label=_("Local stage"), max_length=100, required=False)
    order = forms.IntegerField(label=_("Order"), min_value=0, max_value=32767, required=False)
    global_stage = forms.ModelChoiceField(
        label=_("Global stage"), queryset=GlobalStage.objects.none(), required=False
    )

    def __init__(self, *args: Any, organization_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["global_stage"].queryset = GlobalStage.objects.for_org(
            organization_id
        ).order_by("order")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if (data.get("name") or "").strip():
            for field in ("order", "global_stage"):
                if data.get(field) is None and field not in self.errors:
                    self.add_error(field, _("A local stage needs this."))
        return data

    def stage(self) -> tuple[str, int, GlobalStage] | None:
        """The (name, order, global stage) of a filled row, as sales_process_create takes."""
        data = self.cleaned_data
        name = (data.get("name") or "").strip()
        return (name, data["order"], data["global_stage"]) if name else None


# Two blank rows after the pre-filled ones: room to refine a global stage into two local ones.
# validate_max: without it a posted TOTAL_FORMS up to max_num + 1000 is processed.
LocalStageRowFormSet = forms.formset_factory(
    LocalStageRowForm, extra=2, max_num=50, validate_max=True
)


class RemapForm(forms.Form):
    global_stage = forms.ModelChoiceField(
        label=_("New global stage"), queryset=GlobalStage.objects.none()
    )
    # Set by the confirmation step: the first POST only shows what would change.
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, organization_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["global_stage"].queryset = GlobalStage.objects.for_org(
            organization_id
        ).order_by("order")


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
    valid_from = forms.DateField(label=_("Valid from"), widget=_DATE)
    valid_to = forms.DateField(label=_("Valid to"), widget=_DATE)
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
        self.fields["group"].queryset = (
            apply(Account.objects.unscoped(), user).filter(parent__isnull=True).order_by("name")
        )
        self.fields["covered_companies"].queryset = visible_companies(user).order_by("name")

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
        self.fields["user"].queryset = (
            apply(User.objects.unscoped(), user)
            .filter(is_active=True)
            .select_related("sales_company")
            .order_by("full_name")
        )
        self.fields["sales_company"].queryset = visible_companies(user).order_by("name")
