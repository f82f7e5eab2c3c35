"""Forms of the process set-up (global stages, local processes and their mapping).

Choice fields are always narrowed to what the acting user may see (``crm.visibility``), so a
posted id of an invisible or foreign row is just an invalid choice.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.models import SalesCompany, User
from crm.visibility import visible_companies
from pipeline.models import ForecastCategory, GlobalStage

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
    suppresses_marketing = forms.BooleanField(
        label=_("Suppresses marketing"),
        required=False,
        help_text=_(
            "While a deal of any company is in this stage, no contact of any account of the "
            "customer's group is marketed to."
        ),
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
        company = cast(forms.ModelChoiceField, self.fields["sales_company"])
        company.queryset = visible_companies(user).filter(processes__isnull=True).order_by("code")


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
        stage = cast(forms.ModelChoiceField, self.fields["global_stage"])
        stage.queryset = GlobalStage.objects.for_org(organization_id).order_by("order")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data (the stubs allow None)
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
