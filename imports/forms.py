from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.models import User
from imports.mapping import fields_of, normalized_value
from imports.models import ImportJob, ImportKind, MatchChoice
from imports.parsing import MAX_FILE_BYTES
from imports.services import may_import


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"))
    file = forms.FileField(
        label=_("CSV or XLSX file"),
        help_text=_("First row: the column names. At most 100,000 rows."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.xlsx"}),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the kinds this user may import are offered.
        kind = self.fields["kind"]
        assert isinstance(kind, forms.ChoiceField)
        kind.choices = [(k, label) for k, label in ImportKind.choices if may_import(user, k)]

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(_("The file is larger than 50 MB."))
        return upload


class MappingForm(forms.Form):
    """One select per column of the file (suggested field preselected), what to do with
    matches, the template flag, and a text box per value nobody could resolve."""

    on_match = forms.ChoiceField(
        label=_("When a row matches an existing record"),
        choices=MatchChoice.choices,
        widget=forms.RadioSelect,
    )
    save_template = forms.BooleanField(
        label=_("Save this mapping for my next files of this kind"), required=False
    )

    def __init__(self, *args: Any, job: ImportJob, **kwargs: Any) -> None:
        initial: dict[str, Any] = {"on_match": job.on_match, "save_template": True}
        initial |= {f"col_{c}": f for c, f in job.mapping.items()}
        for name, values in job.unknown_values.items():
            mapped = job.value_map.get(name, {})
            for i, value in enumerate(values):
                initial[f"value_{name}_{i}"] = mapped.get(normalized_value(value), "")
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        self.job = job
        choices = [("", _("— not imported —")), *((f.name, f.label) for f in fields_of(job.kind))]
        self.column_fields = []
        for index, header in enumerate(job.headers):
            name = f"col_{index}"
            self.fields[name] = forms.ChoiceField(
                label=header or _("Column %(n)d") % {"n": index + 1},
                choices=choices,
                required=False,
            )
            self.column_fields.append(name)
        labels = {f.name: f.label for f in fields_of(job.kind)}
        self.value_fields = []
        for name, values in job.unknown_values.items():
            for i, value in enumerate(values):
                key = f"value_{name}_{i}"
                self.fields[key] = forms.CharField(
                    label=f"{labels.get(name, name)}: “{value}”",
                    required=False,
                    max_length=200,
                    help_text=_("Write the value to use instead (a code, a name or an e-mail)."),
                )
                self.value_fields.append(key)

    def mapping(self) -> dict[str, str]:
        return {
            name.removeprefix("col_"): self.cleaned_data[name]
            for name in self.column_fields
            if self.cleaned_data.get(name)
        }

    def value_map(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for name, values in self.job.unknown_values.items():
            for i, value in enumerate(values):
                given = self.cleaned_data.get(f"value_{name}_{i}")
                if given:
                    out.setdefault(name, {})[value] = given
        # Keep what was mapped before for values this dry run no longer found unknown.
        for name, values in self.job.value_map.items():
            for value, given in values.items():
                out.setdefault(name, {}).setdefault(value, given)
        return out
