"""Forms of the kernel pages: the user's preferences and the global admin's set-up.

Forms validate input and hand clean values to ``crm.services``; they never write themselves,
except the preference form, whose two fields are the user's own (see ``ProfileForm.save``).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.forms.boundfield import BoundField
from django.forms.utils import flatatt
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from crm.identity import PASSWORD_LOGIN_OFF_ATTR
from crm.markup import escape_value
from crm.models import LANGUAGES, Organization, Region, SalesCompany, User
from crm.roles import COMPANY_ROLES, Role
from crm.services import user_set_preferences
from crm.validators import CURRENCIES, validate_country

# The one date widget of every form: <input type=date> takes and gives ISO dates whatever the
# user's language, so the value is rendered as ISO, never in the locale's format.
ISO_DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
# The same for <input type=datetime-local>: "15.03.2027 10:00" in de would be dropped as invalid.
ISO_DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def apply_validation_error(form: forms.BaseForm, exc: ValidationError) -> None:
    """A service's ValidationError shown on the form: each message on its field when the form
    has that field, else on top (a service may name a field the form does not show)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class QuickSelect(forms.Select):
    """A single ``<select>`` rendered in Python, same markup as Django's.

    The stock widget renders every ``<option>`` through two template includes (~0.4 ms each):
    the director's filter of 500 owners and 120 products cost 250 ms of a 400 ms list page.
    Grouped choices fall back to the stock rendering."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        choices = list(self.choices)
        if any(isinstance(label, (list, tuple)) for _value, label in choices):
            return super().render(name, value, attrs, renderer)
        wanted = set(self.format_value(value))
        chosen = False
        options = []
        # One string per option, escaped as format_html would (crm.markup): a director's
        # filter has ~600 options, and format_html's per-value checks were most of its cost.
        for option_value, label in choices:
            key = "" if option_value is None else str(option_value)
            # Like the stock widget: only the first matching option is selected.
            selected = not chosen and key in wanted
            chosen |= selected
            options.append(
                f'<option value="{escape_value(key)}"{" selected" if selected else ""}>'
                f"{escape_value(label)}</option>"
            )
        return format_html(
            '<select name="{}"{}>{}</select>',
            name,
            flatatt(self.build_attrs(self.attrs, attrs)),
            mark_safe("".join(options)),  # noqa: S308 - each value escaped above
        )


# The stock label template (django/forms/label.html), which QuickBoundField writes in Python.
_STOCK_LABEL_TEMPLATE = forms.Form.template_name_label
# Django's own message (its catalogue translates it); a name, not a literal, so that the
# project's message extraction does not take it for one of ours.
_LABEL_PUNCTUATION = ":?.!"


class QuickBoundField(BoundField):
    """A BoundField whose ``label_tag()`` is built in Python, the markup of Django's label
    template (``<label for="id_q">Search:</label>``): a list page's filter form rendered a
    template per label, ~0.2 ms each. Anything the plain markup does not cover (contents, attrs
    or a tag of its own, a ``required_css_class``, another label template) takes the stock way."""

    def label_tag(
        self,
        contents: str | None = None,
        attrs: dict[str, Any] | None = None,
        label_suffix: str | None = None,
        tag: str | None = None,
    ) -> SafeString:
        form = self.form
        if (
            contents is not None
            or attrs
            or tag
            or hasattr(form, "required_css_class")
            or form.template_name_label != _STOCK_LABEL_TEMPLATE
        ):
            return super().label_tag(contents, attrs, label_suffix, tag)
        label: Any = self.label
        if label_suffix is None:
            field_suffix = self.field.label_suffix
            label_suffix = field_suffix if field_suffix is not None else form.label_suffix
        # As the stock one: no suffix after a label ending in punctuation (Django's translation).
        if label_suffix and label and label[-1] not in gettext(_LABEL_PUNCTUATION):
            label = format_html("{}{}", label, label_suffix)
        widget = self.field.widget
        id_ = widget.attrs.get("id") or self.auto_id
        if not id_:
            return conditional_escape(label)
        id_for_label = widget.id_for_label(id_)
        for_attr = flatatt({"for": id_for_label}) if id_for_label else ""
        return format_html("<label{}>{}</label>", for_attr, label)


@cache
def _timezone_choices() -> list[tuple[str, str]]:
    # ~600 names; computed once per process rather than per form.
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


def _language_choices(blank_label: Any) -> list[tuple[str, Any]]:
    return [("", blank_label), *settings.LANGUAGES]


class ProfileForm(forms.Form):
    """The user's own language and time zone; blank means "as my sales company"."""

    language = forms.ChoiceField(label=_("Language"), required=False)
    timezone = forms.ChoiceField(label=_("Time zone"), required=False, widget=QuickSelect)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"language": user.language, "timezone": user.timezone})
        super().__init__(*args, **kwargs)
        self.user = user
        cast(forms.ChoiceField, self.fields["language"]).choices = _language_choices(
            _("As my sales company")
        )
        cast(forms.ChoiceField, self.fields["timezone"]).choices = [
            ("", _("As my sales company")),
            *_timezone_choices(),
        ]

    def save(self) -> User:
        return user_set_preferences(
            user=self.user,
            language=self.cleaned_data["language"],
            timezone=self.cleaned_data["timezone"],
            acting_user=self.user,
        )


class ApiTokenForm(forms.Form):
    """A new API token of the signed-in user, named for what it is for."""

    name = forms.CharField(
        label=_("Token name"),
        max_length=100,
        help_text=_("What the token is for, e.g. the script or integration using it."),
    )


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), max_length=100, required=False)


# --- Set-up ------------------------------------------------------------------------------------


class SalesCompanyForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=10, help_text=_("Short code, e.g. SE."))
    name = forms.CharField(label=_("Name"), max_length=200)
    region = forms.ModelChoiceField(label=_("Region"), queryset=Region.objects.none())
    country = forms.CharField(
        label=_("Country"),
        max_length=2,
        help_text=_("ISO 3166 code, two letters, e.g. SE."),
    )
    currency = forms.ChoiceField(label=_("Currency"), choices=[(c, c) for c in sorted(CURRENCIES)])
    language = forms.ChoiceField(label=_("Language"), choices=LANGUAGES)
    timezone = forms.ChoiceField(label=_("Time zone"), widget=QuickSelect)

    def __init__(self, *args: Any, organization_id: int, editing: bool = False, **kw: Any) -> None:
        super().__init__(*args, **kw)
        region = cast("forms.ModelChoiceField[Region]", self.fields["region"])
        region.queryset = Region.objects.for_org(organization_id).order_by("name")
        cast(forms.ChoiceField, self.fields["timezone"]).choices = _timezone_choices()
        if editing:
            # The code is the company's key in imports and the API; renaming it is a migration.
            self.fields["code"].disabled = True

    def clean_country(self) -> str:
        # Upper-case first, then the model's validator: "se" is a fine way to type Sweden.
        value: str = self.cleaned_data["country"].strip().upper()
        validate_country(value)
        return value


class UserForm(forms.Form):
    email = forms.EmailField(label=_("E-mail"))
    full_name = forms.CharField(label=_("Full name"), max_length=200)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    sales_company = forms.ModelChoiceField(
        label=_("Sales company"), queryset=SalesCompany.objects.none(), required=False
    )
    region = forms.ModelChoiceField(
        label=_("Region"), queryset=Region.objects.none(), required=False
    )
    language = forms.ChoiceField(label=_("Language"), required=False)
    timezone = forms.ChoiceField(label=_("Time zone"), required=False, widget=QuickSelect)
    data_protection = forms.BooleanField(
        label=_("Data protection (GDPR export and erasure of people's data)"), required=False
    )
    password = forms.CharField(
        label=_("Initial password"),
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text=_("Only for new users; they change it themselves."),
    )

    def __init__(self, *args: Any, organization_id: int, editing: bool = False, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.editing = editing
        company = cast("forms.ModelChoiceField[SalesCompany]", self.fields["sales_company"])
        company.queryset = SalesCompany.objects.for_org(organization_id).order_by("name")
        region = cast("forms.ModelChoiceField[Region]", self.fields["region"])
        region.queryset = Region.objects.for_org(organization_id).order_by("name")
        cast(forms.ChoiceField, self.fields["language"]).choices = _language_choices(
            _("As the sales company")
        )
        cast(forms.ChoiceField, self.fields["timezone"]).choices = [
            ("", _("As the sales company")),
            *_timezone_choices(),
        ]
        if editing:
            # The e-mail is the sign-in name and the key user_ensure matches on.
            self.fields["email"].disabled = True
            del self.fields["password"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data (the stubs allow None)
        role = data.get("role")
        # The same rules as the model's, said next to the field that breaks them.
        if role in COMPANY_ROLES and not data.get("sales_company"):
            self.add_error("sales_company", _("This role needs a sales company."))
        if role == Role.REGIONAL_MANAGER and not data.get("region"):
            self.add_error("region", _("A regional manager needs a region."))
        if not self.editing:
            password = data.get("password") or ""
            if not password:
                self.add_error("password", _("A new user needs an initial password."))
            else:
                from django.contrib.auth.password_validation import validate_password

                try:
                    validate_password(password)
                except ValidationError as exc:
                    self.add_error("password", exc)
        return data


class ExchangeRateForm(forms.Form):
    currency = forms.ChoiceField(label=_("Currency"), choices=[(c, c) for c in sorted(CURRENCIES)])
    rate = forms.DecimalField(
        label=_("Rate to the corporate currency"),
        max_digits=18,
        decimal_places=8,
        min_value=Decimal("0.00000001"),
        help_text=_("How much one unit of the currency is worth in the corporate currency."),
    )
    valid_from = forms.DateField(
        label=_("Valid from"),
        widget=ISO_DATE_INPUT,
    )


if TYPE_CHECKING:
    # Generic only in the stubs; at run time not subscriptable.
    _ModelChoiceIterator = forms.models.ModelChoiceIterator[Any]
    _ModelChoiceField = forms.ModelChoiceField[Any]
else:
    _ModelChoiceIterator = forms.models.ModelChoiceIterator
    _ModelChoiceField = forms.ModelChoiceField


class _ListedIterator(_ModelChoiceIterator):
    field: ListedModelChoiceField

    def __iter__(self) -> Any:
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.field.listed():
            yield self.choice(obj)

    def __len__(self) -> int:
        return len(self.field.listed()) + (1 if self.field.empty_label is not None else 0)


class ListedModelChoiceField(_ModelChoiceField):
    """A ModelChoiceField that reads its options once per form: the dropdown and the check of
    the chosen value share one query (the stock field runs a second ``get`` for the value), so
    a filtered list page costs what an unfiltered one does. For short option lists."""

    iterator = _ListedIterator
    widget = QuickSelect

    def listed(self) -> list[Any]:
        queryset = self.queryset
        assert queryset is not None  # a ModelChoiceField is made with one
        if getattr(self, "_listed_for", None) is not queryset:
            self._listed, self._listed_for = list(queryset), queryset
        return self._listed

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values:
            return None
        key = self.to_field_name or "pk"
        for obj in self.listed():
            if str(getattr(obj, key)) == str(value):
                return obj
        raise ValidationError(
            self.error_messages["invalid_choice"], code="invalid_choice", params={"value": value}
        )


class _ListedRowIterator(_ListedIterator):
    field: ListedRowChoiceField

    def choice(self, obj: Any) -> tuple[Any, Any]:
        return (obj[0], self.field.row_label(obj))


class ListedRowChoiceField(ListedModelChoiceField):
    """A ListedModelChoiceField over plain rows, for the long option lists of the list pages'
    filters (a director's 500 owners): the options are read as ``values_list(*fields,
    named=True)`` (the first field the id) and labelled by ``option_label(row)`` (the model's
    ``__str__``, written for the row), no model instances. The cleaned value is the chosen
    row's id, which the selectors take as they take an instance (``filter(owner=id)``)."""

    iterator = _ListedRowIterator

    def __init__(
        self, *, fields: tuple[str, ...], option_label: Callable[[Any], str], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.row_fields = fields
        self.row_label = option_label

    # Set by a form to read the rows another way than from ``queryset`` (a compiled statement
    # of the same queryset: the same rows, named as ``values_list(..., named=True)`` names them).
    rows_from: Callable[[], list[Any]] | None = None

    def listed(self) -> list[Any]:
        queryset = self.queryset
        assert queryset is not None  # a ModelChoiceField is made with one
        if getattr(self, "_listed_for", None) is not queryset:
            rows_from = self.rows_from
            self._listed = (
                rows_from()
                if rows_from is not None
                else list(queryset.values_list(*self.row_fields, named=True))
            )
            self._listed_for = queryset
        return self._listed

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values:
            return None
        for row in self.listed():
            if str(row[0]) == str(value):
                return row[0]
        raise ValidationError(
            self.error_messages["invalid_choice"], code="invalid_choice", params={"value": value}
        )


class SignInForm(AuthenticationForm):
    """Django's sign-in form; it also explains a refusal because the user's organization signs
    in through single sign-on (the backend flags it on the request only for a right password)."""

    # Set when the refusal was for password sign-in being off: the page links to its SSO.
    sso_organization: Organization | None = None

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except ValidationError:
            org = getattr(self.request, PASSWORD_LOGIN_OFF_ATTR, None)
            if org is None:
                raise
            self.sso_organization = org
            raise ValidationError(
                _(
                    "%(organization)s signs in with single sign-on only: use “Sign in with "
                    "your organization” below."
                )
                % {"organization": org.name},
                code="password_login_off",
            ) from None
