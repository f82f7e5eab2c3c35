from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.models import Organization
from privacy.services import MAX_REASON


class EraseForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=MAX_REASON,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Say why the person's data is erased.")},
    )


class RetentionForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["lead_retention_months"]
