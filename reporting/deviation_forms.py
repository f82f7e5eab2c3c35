"""Forms of the deviation alert pages: the list's filters and the organization's thresholds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.models import SalesCompany, User
from crm.visibility import visible_companies
from reporting.deviations import Rule
from reporting.models import AlertStatus, Measure, ThresholdUnit

SORTS = {
    "newest": ("-week", "sales_company__code", "measure", "-id"),
    "oldest": ("week", "sales_company__code", "measure", "id"),
    "company": ("sales_company__code", "-week", "measure", "-id"),
    "measure": ("measure", "-week", "sales_company__code", "-id"),
}
SORT_CHOICES = [
    ("newest", _("Newest week first")),
    ("oldest", _("Oldest week first")),
    ("company", _("Company")),
    ("measure", _("Measure")),
]


class AlertFilterForm(forms.Form):
    """The list's filters and sort (GET); an unknown or invisible value is a form error, and
    the list then shows no filter for it rather than a 500."""

    company = forms.ModelChoiceField(
        label=_("Company"), queryset=SalesCompany.objects.none(), required=False
    )
    measure = forms.ChoiceField(
        label=_("Measure"), choices=[("", _("All")), *Measure.choices], required=False
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("All")), *AlertStatus.choices], required=False
    )
    sort = forms.ChoiceField(label=_("Sort by"), choices=SORT_CHOICES, required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["company"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = visible_companies(user).order_by("code")
        field.empty_label = str(_("All"))


class ThresholdsForm(forms.Form):
    """Per measure: on or off, the unit and the threshold (fields ``<measure>_enabled``,
    ``<measure>_unit``, ``<measure>_threshold``)."""

    def __init__(self, *args: Any, rules: dict[str, Rule], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for measure, label in Measure.choices:
            rule = rules[measure]
            self.fields[f"{measure}_enabled"] = forms.BooleanField(
                label=_("%(measure)s: on") % {"measure": label},
                required=False,
                initial=rule.enabled,
            )
            self.fields[f"{measure}_unit"] = forms.ChoiceField(
                label=_("%(measure)s: unit") % {"measure": label},
                choices=ThresholdUnit.choices,
                initial=rule.unit,
            )
            self.fields[f"{measure}_threshold"] = forms.DecimalField(
                label=_("%(measure)s: threshold") % {"measure": label},
                min_value=Decimal(0),
                max_value=Decimal(100_000),
                max_digits=8,
                decimal_places=2,
                initial=rule.threshold,
            )

    def rows(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [
            (
                str(label),
                [self[f"{measure}_{part}"] for part in ("enabled", "unit", "threshold")],
            )
            for measure, label in Measure.choices
        ]

    def rules(self) -> list[Rule]:
        data = self.cleaned_data
        return [
            Rule(m, bool(data[f"{m}_enabled"]), data[f"{m}_unit"], data[f"{m}_threshold"])
            for m in Measure.values
        ]
