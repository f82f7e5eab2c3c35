"""The opportunity list's rows rendered in Python (opportunities.rows, issue 21) are the
template's rows byte for byte: escaping, amounts and dates in the reader's language, the dashes
of a missing amount or close date."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.template import engines
from django.test import Client
from django.urls import reverse
from django.utils import translation

from opportunities.models import Opportunity
from opportunities.rows import row_values, rows_html
from tests.conftest import World
from tests.opportunities.factories import OpportunityFactory, account_for

pytestmark = pytest.mark.django_db

# The list template's loop as it was before the rows were rendered in Python.
TEMPLATE_ROWS = (
    "{% for o in rows %}\n    <tr>\n"
    '      <th scope="row"><a href="{% url \'opportunities:detail\' o.pk %}">'
    "{{ o.name }}</a></th>\n"
    "      <td><a href=\"{% url 'accounts:detail' o.account_id %}\">{{ o.account.name }}</a></td>\n"
    "      <td>{{ o.sales_company.code }}</td><td>{{ o.owner.full_name }}</td>\n"
    "      <td>{{ o.local_stage.name }} "
    '<span class="muted">({{ o.global_stage.name }})</span></td>\n'
    '      <td class="num">{% if o.amount is not None %}'
    '{{ o.amount|floatformat:"0g" }} {{ o.currency }}{% else %}—{% endif %}</td>\n'
    '      <td>{{ o.expected_close_date|date:"SHORT_DATE_FORMAT"|default:"—" }}</td>\n'
    "    </tr>{% endfor %}"
)


@pytest.fixture
def deals(world: World) -> list[Opportunity]:
    account = account_for(world.se, name='Smith & <Sons> "AB"')
    owner = world.rep_se
    owner.full_name = "Åsa <b>Öberg</b>"
    owner.save()
    return [
        OpportunityFactory(account=account, owner=owner, name="Pumps <script>x</script>"),
        OpportunityFactory(
            account=account, owner=owner, amount=Decimal("1234567.89"), name="Big & bold"
        ),
        OpportunityFactory(account=account, owner=owner, amount=None, expected_close_date=None),
        OpportunityFactory(
            account=account,
            owner=owner,
            amount=Decimal("0.40"),
            expected_close_date=dt.date(2027, 1, 9),
        ),
    ]


@pytest.mark.parametrize("language", ["en", "sv", "de"])
def test_rows_are_the_templates_rows(world: World, deals: list[Opportunity], language: str) -> None:
    qs = (
        Opportunity.objects.visible_to(world.director)
        .select_related("account", "sales_company", "owner", "local_stage", "global_stage")
        .order_by("-created_at", "-id")
    )
    with translation.override(language):
        expected = engines["django"].from_string(TEMPLATE_ROWS).render({"rows": list(qs)})
        got = rows_html(row_values(qs.all()[:25]))
    assert got == expected
    assert "&lt;script&gt;" in got and "<script>" not in got


def test_the_list_page_shows_the_rows_in_one_read(
    client: Client, world: World, deals: list[Opportunity], django_assert_max_num_queries
) -> None:
    client.force_login(world.rep_se)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("opportunities:list"))
    body = response.content.decode()
    assert response.status_code == 200
    for deal in deals:
        assert reverse("opportunities:detail", args=[deal.pk]) in body
    assert "Smith &amp; &lt;Sons&gt; &quot;AB&quot;" in body
