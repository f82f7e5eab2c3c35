"""Forms of the coaching pages. Choices are narrowed to what the acting user may see and
coach, so a posted id of an invisible or foreign row is just an invalid choice."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from coaching.models import MAX_SESSION_MINUTES, CoachingTopic, SessionKind
from coaching.selectors import SORTS, active_topics
from coaching.services import coachable_reps
from crm.forms import ISO_DATE_INPUT
from crm.limits import MAX_TEXT_LENGTH
from crm.models import SalesCompany, User
from crm.roles import Role
from crm.visibility import visible_companies
from opportunities.models import Opportunity


class SessionFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("Any kind")), *SessionKind.choices]
    )
    rep = forms.ModelChoiceField(
        label=_("Sales rep"), required=False, queryset=User.objects.none(), empty_label=_("Anyone")
    )
    company = forms.ModelChoiceField(
        label=_("Sales company"),
        required=False,
        queryset=SalesCompany.objects.none(),
        empty_label=_("Any company"),
    )
    held_from = forms.DateField(label=_("From"), required=False, widget=ISO_DATE_INPUT)
    held_to = forms.DateField(label=_("To"), required=False, widget=ISO_DATE_INPUT)
    unacknowledged = forms.BooleanField(label=_("Not yet acknowledged"), required=False)
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("-date", _("Newest first")),
            ("date", _("Oldest first")),
            ("rep", _("Sales rep")),
            ("manager", _("Manager")),
            ("-duration", _("Longest first")),
        ],
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rep = cast(forms.ModelChoiceField, self.fields["rep"])
        company = cast(forms.ModelChoiceField, self.fields["company"])
        if user.role == Role.SALES_REP:
            # A rep's list holds his own sessions only: nothing to filter by person or company.
            del self.fields["rep"], self.fields["company"]
            return
        rep.queryset = coachable_reps(user)
        company.queryset = visible_companies(user).order_by("name")

    def clean_sort(self) -> str:
        value = self.cleaned_data.get("sort") or "-date"
        return value if value in SORTS else "-date"


class SessionForm(forms.Form):
    rep = forms.ModelChoiceField(label=_("Sales rep"), queryset=User.objects.none())
    kind = forms.ChoiceField(label=_("Kind"), choices=SessionKind.choices)
    held_on = forms.DateField(label=_("Date"), widget=ISO_DATE_INPUT)
    duration_minutes = forms.IntegerField(
        label=_("Duration (minutes)"), min_value=1, max_value=MAX_SESSION_MINUTES
    )
    opportunity = forms.ModelChoiceField(
        label=_("Opportunity"),
        required=False,
        queryset=Opportunity.objects.none(),
        help_text=_("Required for a deal review: one of the rep's deals."),
    )
    topics = forms.ModelMultipleChoiceField(
        label=_("Topics"),
        required=False,
        queryset=CoachingTopic.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=MAX_TEXT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(self, *args: Any, user: User, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rep_field = cast(forms.ModelChoiceField, self.fields["rep"])
        rep_field.queryset = coachable_reps(user)
        cast(forms.ModelMultipleChoiceField, self.fields["topics"]).queryset = active_topics(user)
        if editing:
            rep_field.disabled = True  # a new rep is a new session
        # The deal list is the chosen rep's (the page reloads it when the rep changes); the
        # ids posted are checked against it, so no other deal can be named.
        rep_id = self.data.get("rep") if self.is_bound else self.initial.get("rep")
        if editing:
            rep_id = self.initial.get("rep")
        deals = Opportunity.objects.visible_to(user).none()
        if rep_id:
            rep_pk = str(getattr(rep_id, "pk", rep_id))
            if rep_pk.isdigit():
                deals = Opportunity.objects.visible_to(user).filter(owner_id=int(rep_pk))
        cast(forms.ModelChoiceField, self.fields["opportunity"]).queryset = deals.order_by(
            "name", "id"
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == SessionKind.DEAL_REVIEW and not data.get("opportunity"):
            self.add_error("opportunity", _("A deal review is about one opportunity: choose it."))
        return data


class ActionForm(forms.Form):
    text = forms.CharField(label=_("Agreed action"), max_length=200, required=False)
    due_on = forms.DateField(label=_("Due date"), required=False, widget=ISO_DATE_INPUT)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("text") and not data.get("due_on"):
            self.add_error("due_on", _("An action needs a due date."))
        if data.get("due_on") and not data.get("text"):
            self.add_error("text", _("Say what is to be done."))
        return data


ActionFormSet = forms.formset_factory(ActionForm, extra=3, max_num=20)


class SettingsForm(forms.Form):
    review_threshold = forms.DecimalField(
        label=_("Deal value that needs a review before proposal"),
        min_value=0,
        max_digits=16,
        decimal_places=2,
        help_text=_("In the corporate currency."),
    )
    proposal_stage = forms.ModelChoiceField(
        label=_("Proposal stage"), queryset=Opportunity.objects.none(), required=False
    )

    def __init__(self, *args: Any, stages: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["proposal_stage"]).queryset = stages


class TopicForm(forms.Form):
    name = forms.CharField(label=_("New topic"), max_length=100)
