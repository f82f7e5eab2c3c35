"""QuickSelect renders what Django's Select renders, only without a template per option."""

from __future__ import annotations

import pytest
from django import forms
from django.test.html import parse_html

from crm.forms import ListedModelChoiceField, QuickSelect
from crm.models import SalesCompany

CHOICES = [("", "All"), ("a", "Alfa & Omega"), ("b", '<b>"bold"</b>'), ("c", "Çà")]


def _squeeze(html: object) -> object:
    # Compared as HTML: the stock templates put each option on its own line and order the
    # attributes differently; a browser sees the same element.
    return parse_html(str(html))


def _pair(**field_kwargs: object) -> tuple[forms.Form, forms.Form]:
    class Stock(forms.Form):
        pick = forms.ChoiceField(choices=CHOICES, **field_kwargs)

    class Quick(forms.Form):
        pick = forms.ChoiceField(choices=CHOICES, widget=QuickSelect, **field_kwargs)

    return Stock, Quick


@pytest.mark.parametrize("data", [None, {"pick": "b"}, {"pick": "zz"}, {"pick": ""}])
@pytest.mark.parametrize("required", [True, False])
def test_same_markup_as_the_stock_select(data: dict[str, str] | None, required: bool) -> None:
    Stock, Quick = _pair(required=required)
    stock, quick = Stock(data), Quick(data)
    if data is not None:
        assert stock.is_valid() == quick.is_valid()
    assert _squeeze(quick["pick"]) == _squeeze(stock["pick"])
    assert "&lt;b&gt;&quot;bold&quot;&lt;/b&gt;" in str(quick["pick"])  # labels are escaped


def test_marks_the_chosen_value_selected_once() -> None:
    _, Quick = _pair()
    html = str(Quick({"pick": "a"})["pick"])
    assert html.count(" selected") == 1
    assert '<option value="a" selected>' in html


def test_grouped_choices_fall_back_to_the_stock_rendering() -> None:
    grouped = [("Nordics", [("se", "Sweden"), ("dk", "Denmark")]), ("x", "Other")]

    class Quick(forms.Form):
        pick = forms.ChoiceField(choices=grouped, widget=QuickSelect)

    html = str(Quick(initial={"pick": "dk"})["pick"])
    assert '<optgroup label="Nordics">' in html
    assert '<option value="dk" selected>' in html


@pytest.mark.django_db
def test_model_choices_render_like_the_stock_field(world) -> None:  # type: ignore[no-untyped-def]
    companies = SalesCompany.objects.for_org(world.org.pk).order_by("code")

    class Stock(forms.Form):
        company = forms.ModelChoiceField(queryset=companies, required=False)

    class Quick(forms.Form):
        company = ListedModelChoiceField(queryset=companies, required=False)

    chosen = str(companies[1].pk)
    assert _squeeze(Quick({"company": chosen})["company"]) == _squeeze(
        Stock({"company": chosen})["company"]
    )
