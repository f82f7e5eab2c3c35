from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.models import Region, SalesCompany, User
from webhooks.models import SUBSCRIBABLE, DeliveryStatus, EventType, Scope, WebhookEndpoint


class EndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        label=_("Events"), choices=SUBSCRIBABLE, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "event_types", "scope", "region", "sales_company", "is_active"]

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        org = user.organization_id
        self.fields["region"].queryset = Region.objects.for_org(org)  # type: ignore[attr-defined]
        self.fields["sales_company"].queryset = SalesCompany.objects.for_org(org)  # type: ignore[attr-defined]
        self.fields["url"].help_text = _("Where the events are POSTed as JSON; https is required.")
        self.fields["scope"].help_text = _(
            "Only events about this part of the organization are sent, with what it may see."
        )


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any")), *DeliveryStatus.choices]
    )
    event_type = forms.ChoiceField(
        label=_("Event"), required=False, choices=[("", _("Any")), *EventType.choices]
    )


__all__ = ["DeliveryFilterForm", "EndpointForm", "Scope"]
