"""Forms of the opportunity pages. They validate input and build querysets limited to what the
user may see; the services write and the selectors read."""

from __future__ import annotations

import datetime as dt
from collections import namedtuple
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, NamedTuple, cast

from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, Contact
from crm.db.compiled import CompiledQuery
from crm.forms import (
    ISO_DATE_INPUT,
    ListedModelChoiceField,
    ListedRowChoiceField,
    QuickBoundField,
    QuickSelect,
)
from crm.ids import parse_id
from crm.limits import MAX_LINES_PER_OPPORTUNITY, MAX_RESOLUTION_NOTE_LENGTH
from crm.models import Region, SalesCompany, User
from crm.validators import CURRENCIES, validate_country
from crm.visibility import (
    USER_VALUES,
    UserShape,
    compiled_per_shape,
    stand_in_user,
    user_shape,
    user_values,
    visible_companies,
)
from opportunities import pricing, selectors
from opportunities.models import (
    BuyingRole,
    Conflict,
    ConflictKind,
    ConflictStatus,
    Opportunity,
    OpportunityLine,
    Product,
    Resolution,
)
from opportunities.services import LineInput
from pipeline.models import GlobalStage, LocalStage

PAGE_SIZE = 50

# A text box for decimals: <input type=number> refuses "1234,50" in most browsers' hands, and
# its value would be whatever the browser's (not the user's) locale makes of it.
DECIMAL_INPUT = forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})

SORTS = {
    "newest": ("-created_at", "-id"),
    "close": ("expected_close_date", "id"),
    "-close": ("-expected_close_date", "-id"),
    "amount": ("amount", "id"),
    "-amount": ("-amount", "-id"),
    "name": ("name", "id"),
    "account": ("account__name", "id"),
    "stage": ("global_stage__order", "local_stage__order", "id"),
}
SORT_CHOICES = [
    ("newest", _("Newest first")),
    ("close", _("Close date, soonest")),
    ("-close", _("Close date, latest")),
    ("-amount", _("Amount, largest")),
    ("amount", _("Amount, smallest")),
    ("name", _("Name")),
    ("account", _("Account")),
    ("stage", _("Stage")),
]
STATUS_CHOICES = [("open", _("Open")), ("closed", _("Closed")), ("all", _("All"))]


def quarter_of(day: dt.date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def quarter_bounds(value: str) -> tuple[dt.date, dt.date]:
    year, q = int(value[:4]), int(value[-1])
    start = dt.date(year, 3 * (q - 1) + 1, 1)
    end = dt.date(year + (q == 4), (3 * q) % 12 + 1, 1) - dt.timedelta(days=1)
    return start, end


def quarter_choices(today: dt.date, before: int = 4, after: int = 6) -> list[tuple[str, str]]:
    """Recent and coming calendar quarters, e.g. ("2026Q2", "Q2 2026")."""
    index = today.year * 4 + (today.month - 1) // 3
    out = []
    for i in range(index - before, index + after + 1):
        year, q = divmod(i, 4)
        out.append((f"{year}Q{q + 1}", f"Q{q + 1} {year}"))
    return out


def colleagues(user: User) -> QuerySet[User]:
    """People of the companies in the user's scope (owners to filter by or assign to)."""
    return (
        User.objects.visible_to(user)
        .filter(is_active=True, sales_company_id__in=visible_companies(user).values("id"))
        .order_by("full_name")
    )


def visible_accounts(user: User) -> QuerySet[Account]:
    return Account.objects.visible_to(user)


class _RegionRow(NamedTuple):
    id: int
    name: str


class RegionsOfCompaniesField(ListedRowChoiceField):
    """The regions of the companies another field lists (their rows carry the region's id and
    name): the options cost no query of their own."""

    companies: ListedRowChoiceField

    def listed(self) -> list[Any]:
        regions = {
            c.region_id: _RegionRow(c.region_id, c.region__name) for c in self.companies.listed()
        }
        return sorted(regions.values(), key=lambda r: r.name)


# The option lists of the list's filters as plain rows (crm.forms.ListedRowChoiceField), each
# labelled as its model's __str__ labels an instance (the stock field's label).
def _name_label(row: Any) -> str:
    return str(row.name)


def _user_label(row: Any) -> str:
    return f"{row.full_name} <{row.email}>"  # User.__str__


def _product_label(row: Any) -> str:
    return f"{row.sku} {row.name}"  # Product.__str__


# The filter's four option lists: the one definition of each (the form's querysets and the
# compiled statements are both built from it).
def _option_querysets(user: User) -> dict[str, QuerySet[Any]]:
    org = user.organization_id
    return {
        "company": visible_companies(user).order_by("code"),
        "stage": GlobalStage.objects.for_org(org).order_by("order"),
        "owner": colleagues(user),
        "product": Product.objects.for_org(org).order_by("name"),
    }


# The rows' fields, as the form's fields read them (``values_list(*fields, named=True)``).
_OPTION_FIELDS = {
    "company": ("id", "name", "region_id", "region__name"),
    "stage": ("id", "name"),
    "owner": ("id", "full_name", "email"),
    "product": ("id", "sku", "name"),
}
_OPTION_ROWS = {name: namedtuple("Row", fields) for name, fields in _OPTION_FIELDS.items()}
# Per option list and user shape (crm.visibility.user_shape): the option lists' querysets
# built, resolved and compiled by the ORM on every list page were ~40 % of the director's
# page's CPU (the form with its options read: ~9.6 ms at 1M). Run prepared with the user's
# values; row-level security and the organization's scope as for any compiled statement.
_option_statements: dict[str, dict[UserShape, CompiledQuery]] = {
    name: {} for name in _OPTION_FIELDS
}


def _option_statement(name: str, shape: UserShape) -> CompiledQuery:
    def build(**values: Any) -> QuerySet[Any]:
        user = stand_in_user(shape, **values)
        return _option_querysets(user)[name].values_list(*_OPTION_FIELDS[name])

    return CompiledQuery(build, *USER_VALUES, scope="organization_id")


def _compiled_options(name: str, user: User, shape: UserShape) -> list[Any]:
    statement = compiled_per_shape(
        _option_statements[name], shape, partial(_option_statement, name)
    )
    row = _OPTION_ROWS[name]
    return [row(*values) for values in statement.rows(**user_values(user))]


class OpportunityFilterForm(forms.Form):
    """The list's filters, search and sort (GET). Unknown or invisible values are ignored."""

    # Labels without a template each (crm.forms.QuickBoundField): the same markup.
    bound_field_class = QuickBoundField

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    status = forms.ChoiceField(
        label=_("Status"), choices=STATUS_CHOICES, required=False, widget=QuickSelect
    )
    # The region dashboard's "Opportunity list" link lands here with ?region=<id>.
    # Cleaned values are ids (ListedRowChoiceField): the selector filters by them.
    region = RegionsOfCompaniesField(
        label=_("Region"),
        queryset=Region.objects.none(),
        required=False,
        fields=("id", "name"),
        option_label=_name_label,
    )
    company = ListedRowChoiceField(
        label=_("Company"),
        queryset=SalesCompany.objects.none(),
        required=False,
        fields=("id", "name", "region_id", "region__name"),
        option_label=_name_label,
    )
    stage = ListedRowChoiceField(
        label=_("Stage"),
        queryset=GlobalStage.objects.none(),
        required=False,
        fields=("id", "name"),
        option_label=_name_label,
    )
    owner = ListedRowChoiceField(
        label=_("Owner"),
        queryset=User.objects.none(),
        required=False,
        fields=("id", "full_name", "email"),
        option_label=_user_label,
    )
    quarter = forms.ChoiceField(label=_("Close quarter"), required=False, widget=QuickSelect)
    product = ListedRowChoiceField(
        label=_("Product"),
        queryset=Product.objects.none(),
        required=False,
        fields=("id", "sku", "name"),
        option_label=_product_label,
    )
    sort = forms.ChoiceField(
        label=_("Sort by"), choices=SORT_CHOICES, required=False, widget=QuickSelect
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        company, stage, owner, product = (
            cast(ListedRowChoiceField, self.fields[name])
            for name in ("company", "stage", "owner", "product")
        )
        shape = user_shape(user)
        if shape is None:
            for name, queryset in _option_querysets(user).items():
                cast(ListedRowChoiceField, self.fields[name]).queryset = queryset
        else:
            # The same rows from the compiled statements (each read only if the form asks): the
            # querysets are not even built (a third of the form's CPU). The fields keep their
            # empty queryset, which ``listed`` only uses to know it has read its rows.
            for name in _OPTION_FIELDS:
                rows_from: Callable[[], list[Any]] = partial(_compiled_options, name, user, shape)
                cast(ListedRowChoiceField, self.fields[name]).rows_from = rows_from
        # The regions of the companies in the user's scope: a country manager's one region.
        region = cast(RegionsOfCompaniesField, self.fields["region"])
        region.companies = company
        region.empty_label = _("All")
        quarter = cast(forms.ChoiceField, self.fields["quarter"])
        quarter.choices = [("", _("Any")), *quarter_choices(timezone.localdate())]
        company.empty_label = _("All")
        stage.empty_label = _("All")
        owner.empty_label = _("Anyone")
        product.empty_label = _("Any")

    def list_filters(self) -> dict[str, Any]:
        """The chosen filters and sort as ``list_queryset`` takes them; a bad value filters
        nothing."""
        data = self.cleaned_data if self.is_valid() else {}
        status = data.get("status") or "open"
        filters: dict[str, Any] = {
            "region": data.get("region"),
            "sales_company": data.get("company"),
            "owner": data.get("owner"),
            "global_stage": data.get("stage"),
            "is_open": {"open": True, "closed": False}.get(status),
            "search": data.get("q") or "",
            "product": data.get("product"),
            "sort": data.get("sort") or "newest",
        }
        if data.get("quarter"):
            filters["closing_from"], filters["closing_to"] = quarter_bounds(data["quarter"])
        return filters

    def opportunities(self) -> QuerySet[Opportunity]:
        """The visible opportunities matching the filters, sorted; a bad value filters nothing."""
        return list_queryset(self.user, **self.list_filters())


def list_queryset(
    user: User, *, product: Any = None, sort: str = "newest", **filters: Any
) -> QuerySet[Opportunity]:
    """The list page's opportunities: ``selectors.opportunity_list``'s filters, the product's
    deals, the sort. The one definition of the page's query (``opportunities.list_query``
    compiles it once per shape)."""
    qs = selectors.opportunity_list(user=user, **filters)
    if product is not None:
        lines = OpportunityLine.objects.for_org(user.organization_id).filter(product=product)
        qs = qs.filter(id__in=lines.values("opportunity_id"))
    return qs.order_by(*SORTS[sort])


class OpportunityForm(forms.Form):
    """Create or edit. The account is a radio choice filled by the autocomplete; the version
    read travels in a hidden field so that a stale save is refused, never overwrites."""

    name = forms.CharField(label=_("Name"), max_length=200)
    account = forms.ModelChoiceField(
        label=_("Account"),
        queryset=Account.objects.none(),
        error_messages={"required": _("Search for the account and choose it.")},
    )
    sales_company = forms.ModelChoiceField(
        label=_("Booking company"), queryset=SalesCompany.objects.none()
    )
    local_stage = forms.ModelChoiceField(
        label=_("Stage"), queryset=LocalStage.objects.none(), required=False
    )
    amount = forms.DecimalField(
        label=_("Amount"),
        max_digits=16,
        decimal_places=2,
        min_value=0,
        required=False,
        localize=True,
        widget=DECIMAL_INPUT,
    )
    currency = forms.CharField(label=_("Currency"), max_length=3, min_length=3)
    expected_close_date = forms.DateField(
        label=_("Expected close"), required=False, widget=ISO_DATE_INPUT
    )
    next_step = forms.CharField(label=_("Next step"), max_length=200, required=False)
    delivery_country = forms.CharField(
        label=_("Delivery country"),
        max_length=2,
        required=False,
        help_text=_("Ship-to country (ISO code, e.g. DE); empty: the booking company's."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(
        self, *args: Any, user: User, instance: Opportunity | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.instance = instance
        companies = visible_companies(user).order_by("code")
        cast(forms.ModelChoiceField, self.fields["account"]).queryset = visible_accounts(user)
        cast(forms.ModelChoiceField, self.fields["sales_company"]).queryset = companies
        local_stage = cast(forms.ModelChoiceField, self.fields["local_stage"])
        local_stage.queryset = (
            LocalStage.objects.visible_to(user)
            .filter(process__sales_company__in=companies.values("id"))
            .filter(global_stage__is_won=False, global_stage__is_lost=False)
            .select_related("process__sales_company")
            .order_by("process__sales_company__code", "order")
        )
        # An instance's own label (a field subclass per label would say no more).
        local_stage.label_from_instance = lambda s: (  # type: ignore[method-assign, assignment]
            f"{s.process.sales_company.code} · {s.name}"
        )
        self.fields["name"].widget.attrs.update(autofocus=True, autocomplete="off")
        self.fields["currency"].widget.attrs.update(size=3, autocomplete="off")
        if instance is not None:
            # Stage and booking company have their own moves (history, rules of engagement).
            self.fields["sales_company"].disabled = True
            self.fields["sales_company"].required = False
            del self.fields["local_stage"]
            self.fields["version"].required = True

    @classmethod
    def initial_for(cls, user: User, instance: Opportunity | None = None) -> dict[str, Any]:
        """Sensible defaults: the user's company, its currency and first stage, +90 days."""
        if instance is not None:
            return {
                "name": instance.name,
                "account": instance.account_id,
                "sales_company": instance.sales_company_id,
                "amount": instance.amount,
                "currency": instance.currency,
                "expected_close_date": instance.expected_close_date,
                "next_step": instance.next_step,
                "delivery_country": instance.delivery_country or instance.sales_company.country,
                "version": instance.version,
            }
        company = user.sales_company
        initial: dict[str, Any] = {
            "expected_close_date": timezone.localdate() + dt.timedelta(days=90),
        }
        if company is not None:
            first = (
                LocalStage.objects.visible_to(user)
                .filter(process__sales_company=company)
                .order_by("order")
                .values_list("pk", flat=True)
                .first()
            )
            initial.update(
                sales_company=company.pk,
                currency=company.currency,
                local_stage=first,
                delivery_country=company.country,
            )
        return initial

    def clean_currency(self) -> str:
        currency: str = self.cleaned_data["currency"].upper()
        if not pricing.has_rate(organization=self.user.organization, currency=currency):
            raise forms.ValidationError(pricing.no_rate_message(currency), code="no_rate")
        return currency

    def clean_delivery_country(self) -> str | None:
        country: str = (self.cleaned_data.get("delivery_country") or "").strip().upper()
        if country:
            validate_country(country)
        return country or None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data (the stubs allow None)
        stage, company = data.get("local_stage"), data.get("sales_company")
        if (
            stage is not None
            and company is not None
            and stage.process.sales_company_id != company.pk
        ):
            self.add_error("local_stage", _("Choose a stage of the booking company's process."))
        return data


class LineForm(forms.Form):
    # A plain choice over the formset's one product list: a ModelChoiceField per line would
    # read the catalog once per line.
    product = forms.TypedChoiceField(
        label=_("Product"), coerce=int, empty_value=None, required=False
    )
    # Localized: a German, Danish or Swedish seller types "1234,50" (a dot is read as the
    # decimal point too, the thousands separator is not used on input).
    quantity = forms.DecimalField(
        label=_("Quantity"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        localize=True,
        widget=DECIMAL_INPUT,
    )
    unit_price = forms.DecimalField(
        label=_("Unit price"),
        max_digits=16,
        decimal_places=2,
        min_value=0,
        required=False,
        help_text=_("Empty: the price book's or the list price, converted if need be"),
        localize=True,
        widget=DECIMAL_INPUT,
    )
    discount_percent = forms.DecimalField(
        label=_("Discount %"), max_digits=5, decimal_places=2, min_value=0, max_value=100,
        required=False, localize=True, widget=DECIMAL_INPUT,
    )  # fmt: skip

    def __init__(self, *args: Any, products: dict[int, Product], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.products = products
        cast(forms.ChoiceField, self.fields["product"]).choices = [
            ("", "—"),
            *(
                (p.pk, f"{p.name} ({number_format(p.list_price, 2)} {p.currency})")
                for p in products.values()
            ),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        assert data is not None  # Form.clean returns cleaned_data (the stubs allow None)
        if data.get("product") is not None:
            data["product"] = self.products[data["product"]]
            if not data.get("quantity"):
                self.add_error("quantity", _("How many?"))
        return data


class BaseLineFormSet(forms.BaseFormSet):
    def __init__(self, *args: Any, organization_id: int, **kwargs: Any) -> None:
        self.products = {
            p.pk: p
            for p in Product.objects.for_org(organization_id)
            .filter(is_active=True)
            .order_by("name")
        }
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        return {**super().get_form_kwargs(index), "products": self.products}

    def lines(self) -> list[LineInput]:
        return [
            LineInput(
                product=f.cleaned_data["product"],
                quantity=f.cleaned_data["quantity"],
                unit_price=f.cleaned_data.get("unit_price"),
                discount_percent=f.cleaned_data.get("discount_percent") or Decimal(0),
            )
            for f in self.forms
            if getattr(f, "cleaned_data", None) and f.cleaned_data.get("product") is not None
        ]

    def product_ids(self) -> list[int]:
        """Products chosen so far, read leniently (for the live preview of unsaved input)."""
        ids = []
        for f in self.forms:
            value = f.data.get(f.add_prefix("product"), "") if f.is_bound else ""
            product_id = parse_id(value)
            if product_id is not None and product_id in self.products:
                ids.append(product_id)
        return ids

    def typed_lines(self) -> list[tuple[Product, Decimal | None, Decimal]]:
        """(product, unit price or None, discount) of the lines with a product so far, read
        leniently like ``product_ids`` (the live preview's price rule)."""
        found = []
        for f in self.forms:
            product_id = parse_id(f.data.get(f.add_prefix("product"), "")) if f.is_bound else None
            if product_id is None or product_id not in self.products:
                continue
            values: list[Decimal | None] = []
            for name in ("unit_price", "discount_percent"):
                raw = (f.data.get(f.add_prefix(name), "") or "").strip().replace(",", ".")
                try:
                    value = Decimal(raw) if raw else None
                except InvalidOperation:
                    value = None
                values.append(value if value is not None and value.is_finite() else None)
            price, discount = values
            if discount is None or not Decimal(0) <= discount <= Decimal(100):
                discount = Decimal(0)
            found.append((self.products[product_id], price, discount))
        return found

    def lowest_discount(self) -> Decimal | None:
        """The lowest discount typed on a line with a product so far (for the live preview's
        agreement rule, the same as the save's); None without such a line."""
        lowest: Decimal | None = None
        for f in self.forms:
            if not f.is_bound or parse_id(f.data.get(f.add_prefix("product"), "")) is None:
                continue
            raw = (f.data.get(f.add_prefix("discount_percent"), "") or "0").replace(",", ".")
            try:
                value = Decimal(raw)
            except InvalidOperation:
                continue
            if value.is_finite() and (lowest is None or value < lowest):
                lowest = value
        return lowest


# formset_factory makes a subclass of the formset it is given; the stubs say a plain BaseFormSet.
LineFormSet = cast(
    "type[BaseLineFormSet]",
    forms.formset_factory(
        LineForm,
        formset=BaseLineFormSet,
        # Enough for most deals without a script; the script adds and removes rows in place.
        extra=3,
        max_num=MAX_LINES_PER_OPPORTUNITY,
        validate_max=True,
    ),
)


def line_initial(opportunity: Opportunity) -> list[dict[str, Any]]:
    """The saved lines as the formset's initial data; a converted price says so on its row."""
    return [
        {
            "product": ln.product_id,
            "quantity": ln.quantity,
            "unit_price": ln.unit_price,
            "discount_percent": ln.discount_percent,
            "line": ln,
        }
        for ln in OpportunityLine.objects.for_org(opportunity.organization_id)
        .filter(opportunity=opportunity)
        .order_by("pk")
    ]


class PriceBookForm(forms.Form):
    """One price book entry: a product's price in another currency; no price removes it."""

    product = forms.ModelChoiceField(label=_("Product"), queryset=Product.objects.none())
    currency = forms.ChoiceField(label=_("Currency"))
    price = forms.DecimalField(
        label=_("Price"),
        max_digits=16,
        decimal_places=2,
        min_value=0,
        required=False,
        localize=True,
        widget=DECIMAL_INPUT,
        help_text=_("Empty: remove the entry (the list price is converted again)."),
    )

    def __init__(self, *args: Any, organization_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        product = cast(forms.ModelChoiceField, self.fields["product"])
        product.queryset = Product.objects.for_org(organization_id).order_by("name")
        cast(forms.ChoiceField, self.fields["currency"]).choices = [
            (c, c) for c in sorted(CURRENCIES)
        ]


class MoveForm(forms.Form):
    local_stage = forms.ModelChoiceField(label=_("Move to"), queryset=LocalStage.objects.none())
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    lost_reason = forms.CharField(label=_("Lost reason"), max_length=200, required=False)

    def __init__(self, *args: Any, opportunity: Opportunity, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The booking company's process only; the service checks again under a lock.
        local_stage = cast(forms.ModelChoiceField, self.fields["local_stage"])
        local_stage.queryset = LocalStage.objects.for_org(opportunity.organization_id).filter(
            process__sales_company_id=opportunity.sales_company_id
        )


class _DealChoice(forms.ModelChoiceField):
    """A deal of the situation, named as far as the resolver may see it (else its company and
    seller only)."""

    visible_ids: set[int] = set()

    def label_from_instance(self, obj: Any) -> str:
        who = f"{obj.sales_company.code} · {obj.owner.full_name}"
        return f"{obj.name} ({who})" if obj.pk in self.visible_ids else who


class ResolveForm(forms.Form):
    resolution = forms.ChoiceField(label=_("Resolution"), choices=Resolution.choices)
    opportunity = _DealChoice(label=_("Deal"), queryset=Opportunity.objects.none(), required=False)
    owner = forms.ModelChoiceField(
        label=_("New owner"), queryset=User.objects.none(), required=False
    )
    other_opportunity = _DealChoice(
        label=_("Split with the seller of"), queryset=Opportunity.objects.none(), required=False
    )
    keep_account = forms.ModelChoiceField(
        label=_("Account to keep"), queryset=Account.objects.none(), required=False
    )
    split_percent = forms.DecimalField(
        label=_("Share for the other seller (%)"), max_digits=5, decimal_places=2,
        min_value=Decimal("0.01"), max_value=Decimal("99.99"), required=False,
    )  # fmt: skip
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=MAX_RESOLUTION_NOTE_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        user: User,
        conflict: Any,
        deals: list[Opportunity] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        deals = deals or []
        company_ids = {d.sales_company_id for d in deals} | {conflict.sales_company_id}
        owner = cast(forms.ModelChoiceField, self.fields["owner"])
        owner.queryset = (
            User.objects.visible_to(user)
            .filter(is_active=True, sales_company_id__in=company_ids)
            .select_related("sales_company")
            .order_by("sales_company__code", "full_name")
        )
        # An instance's own label (a field subclass per label would say no more).
        owner.label_from_instance = lambda u: (  # type: ignore[method-assign, assignment]
            f"{u.full_name} ({u.sales_company.code})"
        )
        visible = (
            set(
                Opportunity.objects.visible_to(user)
                .filter(pk__in=[d.pk for d in deals])
                .values_list("pk", flat=True)
            )
            if deals
            else set()
        )
        for name in ("opportunity", "other_opportunity"):
            field = cast(_DealChoice, self.fields[name])
            field.queryset = (
                Opportunity.objects.for_org(conflict.organization_id)
                .filter(pk__in=[d.pk for d in deals])
                .select_related("sales_company", "owner")
                .order_by("created_at", "pk")
            )
            field.visible_ids = visible
            field.empty_label = _("As suggested")
        accounts = [a for a in (conflict.account_id, conflict.other_account_id) if a]
        keep_account = cast(forms.ModelChoiceField, self.fields["keep_account"])
        keep_account.queryset = visible_accounts(user).filter(Q(pk__in=accounts))


class BulkAcknowledgeForm(forms.Form):
    """The inbox's bulk action: the ticked situations (only those the user sees; at most a
    page), a note, and the confirmation of the second step."""

    MAX = 100
    conflicts = forms.ModelMultipleChoiceField(
        queryset=Conflict.objects.none(),
        error_messages={
            "required": _("Tick the conflicts to acknowledge first."),
            "invalid_choice": _("A ticked conflict is not (or no longer) in your inbox."),
            "invalid_pk_value": _("A ticked conflict is not (or no longer) in your inbox."),
        },
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=MAX_RESOLUTION_NOTE_LENGTH)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ModelMultipleChoiceField, self.fields["conflicts"])
        field.queryset = Conflict.objects.visible_to(user).filter(status=ConflictStatus.OPEN)

    def clean_conflicts(self) -> Any:
        chosen = self.cleaned_data["conflicts"]
        if len(chosen) > self.MAX:
            raise forms.ValidationError(
                _("Acknowledge at most %(n)d conflicts at once.") % {"n": self.MAX}
            )
        return chosen

    def problems(self) -> list[str]:
        return [str(e) for errors in self.errors.values() for e in errors]


class RemapForm(forms.Form):
    global_stage = forms.ModelChoiceField(
        label=_("New global stage"), queryset=GlobalStage.objects.none()
    )
    # Set by the confirmation step: the first POST only shows what would change.
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, organization_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        global_stage = cast(forms.ModelChoiceField, self.fields["global_stage"])
        global_stage.queryset = GlobalStage.objects.for_org(organization_id).order_by("order")


INBOX_ORDER = [
    ("newest", _("Newest first")),
    ("oldest", _("Longest waiting first")),
    ("value", _("Value at stake")),
]
INBOX_AGE = [
    ("", _("Any age")),
    ("overdue", _("Past the target")),
    ("within", _("Within the target")),
]


class ConflictFilterForm(forms.Form):
    """The conflicts inbox's filters (GET): status, kind, a company on any side, the account
    group, the age against the organization's target, only the user's own deals, the order and
    the grouping. Unknown or invisible values are ignored."""

    status = forms.ChoiceField(
        label=_("Status"), choices=ConflictStatus.choices, required=False, widget=QuickSelect
    )
    kind = forms.ChoiceField(label=_("Kind"), required=False, widget=QuickSelect)
    company = ListedModelChoiceField(
        label=_("Company"), queryset=SalesCompany.objects.none(), required=False
    )
    group = forms.CharField(label=_("Account group"), required=False, max_length=100)
    age = forms.ChoiceField(label=_("Age"), choices=INBOX_AGE, required=False, widget=QuickSelect)
    mine = forms.BooleanField(label=_("Only my deals"), required=False)
    order = forms.ChoiceField(
        label=_("Sort by"), choices=INBOX_ORDER, required=False, widget=QuickSelect
    )
    by_group = forms.BooleanField(label=_("Group by account group"), required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind = cast(forms.ChoiceField, self.fields["kind"])
        kind.choices = [("", _("All kinds")), *ConflictKind.choices]
        company = cast(ListedModelChoiceField, self.fields["company"])
        company.queryset = visible_companies(user).order_by("code")
        company.empty_label = _("All")

    def filters(self) -> dict[str, Any]:
        """The selector's keyword arguments; a bad value filters nothing."""
        data = self.cleaned_data if self.is_valid() else {}
        company = data.get("company")
        return {
            "status": data.get("status") or ConflictStatus.OPEN,
            "kind": data.get("kind") or "",
            "company_id": company.pk if company is not None else None,
            "mine": bool(data.get("mine")),
            "group": (data.get("group") or "").strip(),
            "age": data.get("age") or "",
            "order": data.get("order") or "newest",
            "by_group": bool(data.get("by_group")),
        }


class ContactRoleForm(forms.Form):
    """Give a contact of the deal's group a buying-centre role."""

    contact = forms.TypedChoiceField(label=_("Contact"), coerce=int)
    role = forms.ChoiceField(label=_("Buying role"), choices=BuyingRole.choices)

    def __init__(self, *args: Any, contacts: list[Contact], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.contacts = {c.pk: c for c in contacts}
        field = cast(forms.TypedChoiceField, self.fields["contact"])
        field.choices = [(c.pk, f"{c.full_name} · {c.account.name}") for c in contacts]

    def clean_contact(self) -> Contact:
        return self.contacts[self.cleaned_data["contact"]]
