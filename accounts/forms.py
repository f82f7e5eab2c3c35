"""Forms of the account pages: the inline new account, logging an activity (on the 360° and on a
deal), editing an account, and the contact pages."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import (
    MAX_ACTIVITY_MINUTES,
    Account,
    ActionStatus,
    ActivityKind,
    Contact,
    Incoterm,
    Lifecycle,
    PlanStatus,
    Segment,
    TeamRole,
)
from crm.forms import ISO_DATE_INPUT, ListedModelChoiceField, QuickSelect
from crm.limits import MAX_TEXT_LENGTH
from crm.models import LANGUAGES, SalesCompany, User
from crm.validators import validate_country
from crm.visibility import visible_companies


class AccountSearchForm(forms.Form):
    q = forms.CharField(label=_("Search accounts"), required=False, max_length=100)
    segment = forms.ChoiceField(
        label=_("Segment"), choices=[("", _("All segments")), *Segment.choices], required=False
    )
    sort = forms.ChoiceField(
        label=_("Sort by"),
        choices=[
            ("name", _("Name")),
            ("segment", _("Segment")),
            ("value", _("Lifetime value (highest first)")),
        ],
        required=False,
    )


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
    segment_by_rules = forms.BooleanField(
        label=_("Let the segment rules decide the segment (the next nightly run assigns it)"),
        required=False,
    )
    lifecycle = forms.ChoiceField(label=_("Lifecycle"), choices=Lifecycle.choices)
    potential = forms.DecimalField(
        label=_("Potential (corporate currency)"),
        max_digits=18,
        decimal_places=2,
        min_value=Decimal(0),
        required=False,
    )
    potential_source = forms.CharField(
        label=_("Source of the potential"), max_length=200, required=False
    )
    # An id, not a list of every visible account (a manager sees tens of thousands).
    parent = forms.ModelChoiceField(
        label=_("Part of group (parent account id)"),
        queryset=Account.objects.none(),
        required=False,
        widget=forms.NumberInput,
    )

    FIELDS = (
        "name",
        "country",
        "registration_number",
        "domain",
        "industry",
        "segment",
        "potential",
        "potential_source",
    )

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


# --- Contacts ------------------------------------------------------------------------------------

_LANGUAGE_CHOICES = [("", _("(not set)")), *LANGUAGES]


class ContactForm(forms.Form):
    """A contact's own fields, saved by ``contact_create`` / ``contact_update``."""

    full_name = forms.CharField(label=_("Name"), max_length=200)
    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=50, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=_LANGUAGE_CHOICES, required=False)
    marketing_consent = forms.BooleanField(label=_("Marketing consent"), required=False)

    FIELDS = ("full_name", "title", "email", "phone", "language", "marketing_consent")


class ContactFilterForm(forms.Form):
    """The contact list's search, filters and sort. The account arrives as an id (from the
    360° or a contact's page): a manager sees too many accounts for a drop-down."""

    q = forms.CharField(label=_("Search name, e-mail or title"), required=False, max_length=100)
    account = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
    company = ListedModelChoiceField(
        label=_("Home company"),
        queryset=SalesCompany.objects.none(),
        required=False,
        empty_label=_("All companies"),
    )
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("name", _("Name (A-Z)")),
            ("-name", _("Name (Z-A)")),
            ("account", _("Account")),
            ("-created", _("Newest first")),
            ("created", _("Oldest first")),
        ],
    )
    archived = forms.BooleanField(label=_("Archived contacts only"), required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        company = cast(ListedModelChoiceField, self.fields["company"])
        company.queryset = visible_companies(user).order_by("code")


class ContactMergeForm(forms.Form):
    """Merge the page's contact (kept) with another of its account: per field, whose value
    survives; and an explicit confirmation, since the other contact is deleted."""

    other = forms.TypedChoiceField(label=_("Merge with"), coerce=int)
    confirm = forms.BooleanField(
        label=_("I understand that the other contact is removed and its activities and deal "
                "roles move to the one kept."),
    )  # fmt: skip

    def __init__(self, *args: Any, keep: Contact, candidates: list[Contact], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keep = keep
        self.candidates = {c.pk: c for c in candidates}
        self.fields["other"] = forms.TypedChoiceField(
            label=_("Merge with"),
            coerce=int,
            choices=[(c.pk, f"{c.full_name} ({c.email or '—'})") for c in candidates],
        )
        for name in ContactForm.FIELDS:
            self.fields[f"take_{name}"] = forms.ChoiceField(
                label=ContactForm.base_fields[name].label,
                choices=[("keep", _("this contact's")), ("other", _("the other's"))],
                initial="keep",
                widget=forms.RadioSelect,
                required=False,
            )

    def clean_other(self) -> Contact:
        return self.candidates[self.cleaned_data["other"]]

    def take_from_removed(self) -> list[str]:
        return [n for n in ContactForm.FIELDS if self.cleaned_data.get(f"take_{n}") == "other"]


class ActivityLogForm(forms.Form):
    """Log what happened, in one step, on a deal's page or on the 360°: kind, subject, when it
    happened (a date and a time in the user's time zone, now by default: the inputs are ISO,
    the browser shows them in the reader's format), duration, outcome, notes and, optionally,
    the contact it was with. On a deal's page the deal and its account are implied; the 360°
    passes ``accounts`` (at which of the group's accounts) and ``opportunities`` (optionally on
    which of its deals). One form for both, so the two pages cannot drift apart."""

    kind = forms.ChoiceField(
        label=_("Kind"), choices=ActivityKind.choices, initial=ActivityKind.CALL,
        widget=forms.RadioSelect,
    )  # fmt: skip
    subject = forms.CharField(label=_("Subject"), max_length=200)
    # Empty means now (a client that only names kind and subject logs what just happened).
    happened_on = forms.DateField(label=_("Date"), widget=ISO_DATE_INPUT, required=False)
    happened_time = forms.TimeField(
        label=_("Time"),
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        required=False,
    )
    duration_minutes = forms.IntegerField(
        label=_("Duration (minutes)"), required=False, min_value=0, max_value=MAX_ACTIVITY_MINUTES
    )
    # Rendered in Python (crm.forms.QuickSelect): a group's contacts and open deals are
    # hundreds of options, each two template includes through the stock widget.
    contact = forms.TypedChoiceField(
        label=_("With"), coerce=int, required=False, empty_value=None, widget=QuickSelect
    )
    outcome = forms.CharField(label=_("Outcome"), max_length=200, required=False)
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=MAX_TEXT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(
        self,
        *args: Any,
        contacts: list[Contact],
        accounts: list[Account] | None = None,
        opportunities: list[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not args or args[0] is None:
            now = timezone.localtime()
            kwargs.setdefault("initial", {})
            kwargs["initial"] = {
                "happened_on": now.date(),
                "happened_time": now.time().replace(second=0, microsecond=0),
                **kwargs["initial"],
            }
        super().__init__(*args, **kwargs)
        self.contacts = {c.pk: c for c in contacts}
        field = cast(forms.TypedChoiceField, self.fields["contact"])
        field.choices = [("", _("(nobody in particular)"))] + [
            (c.pk, f"{c.full_name} · {c.account.name}") for c in contacts
        ]
        # The lists come from the page (already read there, through the user's visibility):
        # no query for the choices, and a value outside them is a form error, not a 404.
        self.accounts = {a.pk: a for a in accounts or []}
        if accounts is not None:
            self.fields["account"] = forms.TypedChoiceField(
                label=_("At"),
                coerce=int,
                choices=[(a.pk, f"{a.name} ({a.country})") for a in accounts],
                widget=QuickSelect,  # 200 subsidiaries in a big group
            )
        self.opportunities = {o.pk: o for o in opportunities or []}
        if opportunities is not None:
            self.fields["opportunity"] = forms.TypedChoiceField(
                label=_("Opportunity"),
                coerce=int,
                required=False,
                empty_value=None,
                choices=[("", _("(none)"))]
                + [(o.pk, f"{o.name} · {o.account.name}") for o in opportunities],
                widget=QuickSelect,
            )

    def clean_contact(self) -> Contact | None:
        pk = self.cleaned_data.get("contact")
        return None if pk is None else self.contacts[pk]

    def clean_account(self) -> Account:
        return self.accounts[self.cleaned_data["account"]]

    def clean_opportunity(self) -> Any:
        pk = self.cleaned_data.get("opportunity")
        return None if pk is None else self.opportunities[pk]

    def happened_at(self) -> dt.datetime:
        """The date and time typed, in the user's time zone (the active one); a missing date
        is today, a missing time now."""
        data = self.cleaned_data
        now = timezone.localtime()
        day = data.get("happened_on") or now.date()
        time = data.get("happened_time") or now.time().replace(microsecond=0)
        naive = dt.datetime.combine(day, time)
        return timezone.make_aware(naive, timezone.get_current_timezone())

    def service_fields(self) -> dict[str, Any]:
        """``services.activity_log``'s arguments from the form (account and deal as chosen
        here, if the form asks; a page that implies them passes its own)."""
        data = self.cleaned_data
        happened_at = self.happened_at()
        is_task = data["kind"] == ActivityKind.TASK
        fields: dict[str, Any] = {
            "kind": data["kind"],
            "subject": data["subject"],
            "contact": data.get("contact"),
            "notes": data.get("notes") or "",
            "outcome": data.get("outcome") or "",
            "duration_minutes": data.get("duration_minutes"),
            "happened_at": happened_at,
            # A task is planned for then and open until done; the rest was done then.
            "due_at": happened_at if is_task else None,
            "done_at": None if is_task else happened_at,
        }
        if "account" in self.fields:
            fields["account"] = data["account"]
        if "opportunity" in self.fields:
            fields["opportunity"] = data.get("opportunity")
        return fields


def _people(user: User) -> Any:
    """The organization's active people, for an owner field (everyone sees their colleagues)."""
    return User.objects.visible_to(user).filter(is_active=True).order_by("full_name", "pk")


class AccountPlanForm(forms.Form):
    """An account plan of a group: its year (fixed once created), target, objectives, owner."""

    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    revenue_target = forms.DecimalField(
        label=_("Revenue target (corporate currency)"),
        min_value=Decimal(0),
        max_digits=16,
        decimal_places=2,
        localize=True,
    )
    status = forms.ChoiceField(label=_("Status"), choices=PlanStatus.choices)
    owner = forms.ModelChoiceField(
        label=_("Owner"), queryset=User.objects.none(), widget=QuickSelect
    )
    objectives = forms.CharField(
        label=_("Objectives"), required=False, max_length=MAX_TEXT_LENGTH, widget=forms.Textarea
    )

    def __init__(self, *args: Any, user: User, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["owner"]).queryset = _people(user)
        if editing:
            # A plan is the plan of its year; another year is another plan.
            self.fields["year"].disabled = True


class PlanActionForm(forms.Form):
    """A step of an account plan: what, who, by when; and, when editing, whether it is done."""

    title = forms.CharField(label=_("Action"), max_length=200)
    owner = forms.ModelChoiceField(
        label=_("Owner"), queryset=User.objects.none(), widget=QuickSelect
    )
    due_date = forms.DateField(label=_("Due date"), required=False, widget=ISO_DATE_INPUT)
    status = forms.ChoiceField(label=_("Status"), choices=ActionStatus.choices)

    def __init__(self, *args: Any, user: User, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["owner"]).queryset = _people(user)
        if not editing:
            del self.fields["status"]  # a new action is open


class SegmentRuleForm(forms.Form):
    order = forms.IntegerField(label=_("Order"), min_value=0, max_value=10_000, initial=10)
    segment = forms.ChoiceField(label=_("Segment"), choices=Segment.choices)
    min_lifetime_value = forms.DecimalField(
        label=_("Minimum lifetime value"),
        max_digits=18,
        decimal_places=2,
        min_value=Decimal(0),
        required=False,
    )
    min_potential = forms.DecimalField(
        label=_("Minimum potential"),
        max_digits=18,
        decimal_places=2,
        min_value=Decimal(0),
        required=False,
    )
