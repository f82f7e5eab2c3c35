"""The opportunity list's filter form and rows rendered without templates per label or option
and without model instances (issue 21: crm.forms.ListedRowChoiceField, QuickSelect,
QuickBoundField; crm.markup) show what the stock fields and filters show: the same options,
labels, selected filters and escaping, in the reader's language (decimal comma and day-first
dates in German)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django import forms
from django.forms.boundfield import BoundField
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import floatformat
from django.test import Client
from django.test.html import parse_html
from django.urls import reverse
from django.utils import translation

from crm.forms import ListedRowChoiceField
from crm.markup import LocalFormats, escape_value, format_html_rows
from crm.models import Region
from opportunities.forms import OpportunityFilterForm, _option_querysets
from opportunities.models import Product
from tests.accounts.factories import make_account
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, ProductFactory

pytestmark = pytest.mark.django_db

LANGUAGES = ["en", "sv", "de"]


def _stock_field(form: OpportunityFilterForm, name: str, field: forms.Field) -> forms.Field:
    """The field as Django's stock classes would render it: model instances labelled by their
    ``__str__``, the stock ``Select`` widget (a template per option)."""
    if isinstance(field, ListedRowChoiceField):
        # The option lists' one definition (the form reads them through compiled statements).
        querysets = _option_querysets(form.user)
        if name == "region":
            companies = querysets["company"]
            queryset: Any = Region.objects.for_org(form.user.organization_id).filter(
                id__in=companies.values("region_id")
            )
            queryset = queryset.order_by("name")
        else:
            queryset = querysets[name]
        return forms.ModelChoiceField(
            queryset=queryset, required=False, label=field.label, empty_label=field.empty_label
        )
    if isinstance(field, forms.ChoiceField):
        return forms.ChoiceField(choices=field.choices, required=False, label=field.label)
    return field


def _stock_form(data: dict[str, Any] | None, form: OpportunityFilterForm) -> forms.Form:
    stock = forms.Form(data)
    stock.fields = {name: _stock_field(form, name, f) for name, f in form.fields.items()}
    return stock


@pytest.fixture
def named(world: World) -> Product:
    """Names that need escaping, in the owner and product option lists."""
    world.rep_se.full_name = 'Åsa <b>"Öberg"</b> & Co\'s'
    world.rep_se.save(update_fields=["full_name"])
    return ProductFactory(organization=world.org, sku="P&<1>", name="Pumps 'x' <y>")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("reader", ["director", "manager_se", "rep_se"])
@pytest.mark.parametrize("filtered", [False, True])
def test_filters_show_what_the_stock_fields_show(
    world: World, named: Product, language: str, reader: str, filtered: bool
) -> None:
    user = getattr(world, reader)
    data: dict[str, Any] = (
        {
            "q": '<b>"x"</b>',
            "status": "all",
            "region": world.nordics.pk,
            "company": world.se.pk,
            "owner": world.rep_se.pk,
            "product": named.pk,
            "quarter": "",
            "sort": "-amount",
        }
        if filtered
        else {}
    )
    with translation.override(language):
        form = OpportunityFilterForm(data or None, user=user)
        stock = _stock_form(data or None, form)
        for name in form.fields:
            assert str(form[name].label_tag()) == str(BoundField.label_tag(stock[name])), name
            assert parse_html(str(form[name])) == parse_html(str(stock[name])), name
        owner_options = str(form["owner"])
    assert "Åsa &lt;b&gt;&quot;Öberg&quot;&lt;/b&gt; &amp; Co&#x27;s" in owner_options
    if filtered:
        # The chosen filters are selected and used, as ids.
        assert form.is_valid(), form.errors
        assert f'<option value="{world.rep_se.pk}" selected>' in owner_options
        assert f'<option value="{named.pk}" selected>' in str(form["product"])
        assert form.cleaned_data["owner"] == world.rep_se.pk
        assert form.cleaned_data["product"] == named.pk
        assert form.cleaned_data["company"] == world.se.pk


def test_an_option_the_user_may_not_choose_is_refused(world: World) -> None:
    """A German company is not in a Swedish rep's list: the value filters nothing (invalid)."""
    form = OpportunityFilterForm({"company": world.de.pk}, user=world.rep_se)
    assert not form.is_valid()
    assert f'value="{world.de.pk}"' not in str(form["company"])
    assert OpportunityFilterForm({"owner": "x"}, user=world.director).is_valid() is False


@pytest.mark.parametrize("language", LANGUAGES)
def test_local_formats_equal_the_template_filters(language: str) -> None:
    amounts = [
        Decimal("0"),
        Decimal("0.4"),
        Decimal("0.5"),
        Decimal("-0.4"),
        Decimal("-0.5"),
        Decimal("2.5"),
        Decimal("999.5"),
        Decimal("1234.49"),
        Decimal("1234567.89"),
        Decimal("-1234567.005"),
        Decimal("12345678901234.99"),
        Decimal("1000000.00"),
        Decimal("0.005"),
        Decimal("0.004"),
        0,
        7,
        1234567,
    ]
    days = [dt.date(2027, 1, 9), dt.date(1999, 12, 31), dt.date(2026, 10, 20), None]
    with translation.override(language):
        local = LocalFormats()
        for value in amounts:
            for places in (0, 2):
                assert local.grouped(value, places) == floatformat(value, f"{places}g"), value
        for day in days:
            assert local.short_date(day) == date_filter(day, "SHORT_DATE_FORMAT")


def test_one_pass_escaping_equals_format_html_join() -> None:
    from django.utils.html import format_html_join
    from django.utils.safestring import mark_safe
    from django.utils.translation import gettext_lazy

    rows = [
        ("<a>", 'q"uote', "it's", "&amp;", mark_safe("<i>safe</i>"), 3, None, gettext_lazy("All"))
    ]
    fmt = "<td>{}</td>" * 8
    assert format_html_rows("|", fmt, rows) == format_html_join("|", fmt, rows)
    assert escape_value("<x>") == "&lt;x&gt;"


@pytest.mark.parametrize(
    ("language", "amount", "day"),
    [
        ("en", "1,234,568 EUR", "01/09/2027"),
        ("de", "1.234.568 EUR", "09.01.2027"),
        ("sv", "1\xa0234\xa0568 EUR", "2027-01-09"),
    ],
)
def test_the_page_shows_rows_options_and_filters_in_the_readers_language(
    client: Client,
    world: World,
    named: Product,
    language: str,
    amount: str,
    day: str,
    django_assert_max_num_queries: Any,
) -> None:
    account = make_account(organization=world.org, home_company=world.se, name="Läsbar <AB>")
    OpportunityFactory(
        account=account,
        owner=world.rep_se,
        name="Pumps & <drives>",
        amount=Decimal("1234567.89"),
        currency="EUR",
        expected_close_date=dt.date(2027, 1, 9),
    )
    world.director.language = language
    world.director.save(update_fields=["language"])
    client.force_login(world.director)
    url = reverse("opportunities:list")
    with django_assert_max_num_queries(10):
        body = client.get(url, {"owner": world.rep_se.pk, "status": "all"}).content.decode()
    assert f"<td>{day}</td>" in body
    assert f'<td class="num">{amount}</td>' in body
    assert "Pumps &amp; &lt;drives&gt;" in body and "Läsbar &lt;AB&gt;" in body
    assert f'<option value="{world.rep_se.pk}" selected>' in body
    assert '<option value="all" selected>' in body
    assert "P&amp;&lt;1&gt; Pumps &#x27;x&#x27; &lt;y&gt;" in body
    with translation.override(language):
        # The labels in the reader's language (the form's suffix too).
        owner_label = str(OpportunityFilterForm.base_fields["owner"].label)
        assert f'<label for="id_owner">{owner_label}:</label>' in body
