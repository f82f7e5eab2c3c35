"""Forms of the reporting pages: setting a target."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from crm.forms import QuickSelect
from crm.models import SalesCompany, User
from crm.visibility import visible_companies
from reporting.models import PeriodKind, TargetKind
from reporting.periods import Period, fiscal_year, quarters_of_year
from reporting.services import may_set_target


def target_periods(user: User, today: dt.date) -> list[Period]:
    """The periods a target is set for on the page: this fiscal year and the next, each year
    followed by its quarters."""
    org = user.organization
    this_year = fiscal_year(org, today)
    periods: list[Period] = []
    for year in (this_year, fiscal_year(org, this_year.end)):
        periods.append(year)
        periods.extend(quarters_of_year(org, year))
    return periods


def target_subjects(user: User) -> tuple[list[SalesCompany], list[User]]:
    """The companies and people ``user`` may set targets for (``may_set_target``), read in two
    queries."""
    companies = [
        c for c in visible_companies(user).order_by("code") if may_set_target(user, sales_company=c)
    ]
    people = [
        p
        for p in User.objects.visible_to(user)
        .filter(is_active=True, sales_company__in=[c.pk for c in companies])
        .select_related("sales_company")
        .order_by("full_name", "pk")
        if may_set_target(user, person=p)
    ]
    return companies, people


class TargetForm(forms.Form):
    """One target: for a company or a person, a period, a kind, a value. ``who`` and ``period``
    are coded choices ("company:12", "quarter:2027-01-01") so one field picks each."""

    who = forms.ChoiceField(label=_("For"), widget=QuickSelect)
    period = forms.ChoiceField(label=_("Period"))
    kind = forms.ChoiceField(label=_("Target"), choices=TargetKind.choices)
    value = forms.DecimalField(
        label=_("Value"), min_value=Decimal(0), max_digits=16, decimal_places=2, localize=True
    )

    def __init__(
        self,
        *args: Any,
        user: User,
        today: dt.date,
        subjects: tuple[list[SalesCompany], list[User]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        companies, people = subjects
        self._companies = {str(c.pk): c for c in companies}
        self._people = {str(p.pk): p for p in people}
        cast(forms.ChoiceField, self.fields["who"]).choices = [
            *((f"company:{c.pk}", f"{c.code} · {c.name}") for c in companies),
            *(
                (
                    f"user:{p.pk}",
                    f"{p.full_name} ({p.sales_company.code if p.sales_company else '—'})",
                )
                for p in people
            ),
        ]
        self._periods = {f"{p.kind}:{p.start.isoformat()}": p for p in target_periods(user, today)}
        cast(forms.ChoiceField, self.fields["period"]).choices = [
            (key, f"{p.label} ({PeriodKind(p.kind).label})") for key, p in self._periods.items()
        ]

    def target_fields(self) -> dict[str, Any]:
        """The service's arguments for the valid form."""
        kind, _sep, pk = self.cleaned_data["who"].partition(":")
        period = self._periods[self.cleaned_data["period"]]
        return {
            "sales_company": self._companies.get(pk) if kind == "company" else None,
            "user": self._people.get(pk) if kind == "user" else None,
            "period_kind": period.kind,
            "period_start": period.start,
            "kind": self.cleaned_data["kind"],
            "value": self.cleaned_data["value"],
        }
