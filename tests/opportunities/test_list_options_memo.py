"""The list page's option lists from the per-process memo of rendered options
(crm.forms._rendered_options) are the page the renderer without a memo gave, byte for byte: a
director and a rep, in English and German, cold and warm, a chosen value, and a new user,
company or stage, which shows up on the next page at once (another list is another key)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.forms.utils import flatatt
from django.test import Client
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from crm import forms as crm_forms
from crm.markup import escape_value
from tests.conftest import World
from tests.factories import SalesCompanyFactory, UserFactory

pytestmark = pytest.mark.django_db

# The random parts of a page: the CSRF token (masked anew per request) and the CSP nonce.
_RANDOM = re.compile(r'((?:csrfmiddlewaretoken" value|X-CSRFToken": |nonce)=?"?)[^"&]+')


def _previous_render(
    self: Any, name: str, value: Any, attrs: Any = None, renderer: Any = None
) -> SafeString:
    """QuickSelect.render before the memo (as of 2f1be00), the reference."""
    choices = list(self.choices)
    if any(isinstance(label, (list, tuple)) for _value, label in choices):
        return super(crm_forms.QuickSelect, self).render(name, value, attrs, renderer)
    wanted = set(self.format_value(value))
    chosen = False
    options = []
    for option_value, label in choices:
        key = "" if option_value is None else str(option_value)
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
        mark_safe("".join(options)),
    )


def _page(client: Client, params: dict[str, Any]) -> str:
    response = client.get(reverse("opportunities:list"), params)
    assert response.status_code == 200
    return _RANDOM.sub(r"\1-", response.content.decode())


@pytest.mark.parametrize("who", ["director", "rep_se"])
@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("params", [{}, {"status": "all", "sort": "name"}, "owner"])
def test_the_page_with_the_memo_is_the_page_without(
    client: Client, world: World, monkeypatch: pytest.MonkeyPatch, who: str, language: str, params
) -> None:
    user = getattr(world, who)
    user.language = language
    user.save(update_fields=["language"])
    # Names that need escaping, and one that is already markup-like text.
    UserFactory(organization=world.org, sales_company=world.se, full_name='Åsa "<b>" & Co')
    if params == "owner":
        params = {"owner": world.rep_se.pk, "company": world.se.pk}
    client.force_login(user)
    with monkeypatch.context() as patched:
        patched.setattr(crm_forms.QuickSelect, "render", _previous_render)
        expected = _page(client, params)
    crm_forms._rendered_options.clear()
    cold = _page(client, params)
    warm = _page(client, params)
    assert cold == expected
    assert warm == expected
    assert crm_forms._rendered_options  # the warm page took its options from the memo
    assert "Åsa &quot;&lt;b&gt;&quot; &amp; Co" in warm


def test_a_new_user_company_or_stage_shows_up_on_the_next_page(
    client: Client, world: World
) -> None:
    from pipeline.models import GlobalStage
    from tests.opportunities.factories import global_stages_for

    global_stages_for(world.org)
    client.force_login(world.director)
    crm_forms._rendered_options.clear()
    before = _page(client, {})
    assert _page(client, {}) == before
    newcomer = UserFactory(organization=world.org, sales_company=world.se, full_name="Neu Ling")
    company = SalesCompanyFactory(organization=world.org, region=world.nordics, name="Nordvik NO")
    stage = GlobalStage.objects.for_org(world.org).order_by("order").first()
    assert stage is not None
    GlobalStage.objects.for_org(world.org).filter(pk=stage.pk).update(name="Qualify & <win>")
    after = _page(client, {})
    assert f'<option value="{newcomer.pk}">Neu Ling &lt;' in after
    assert f'<option value="{company.pk}">Nordvik NO</option>' in after
    assert f'<option value="{stage.pk}">Qualify &amp; &lt;win&gt;</option>' in after
    # A user deactivated leaves the list at once.
    newcomer.is_active = False
    newcomer.save(update_fields=["is_active"])
    assert f'value="{newcomer.pk}"' not in _page(client, {})


def test_the_memo_tells_safe_markup_from_text_and_stays_bounded(monkeypatch) -> None:
    from django import forms

    def render(choices: list[tuple[Any, Any]], value: Any = None) -> str:
        class Quick(forms.Form):
            pick = forms.ChoiceField(choices=choices, widget=crm_forms.QuickSelect, required=False)

        return str(Quick({"pick": value} if value is not None else None)["pick"])

    plain = render([("a", "<b>x</b>")])
    safe = render([("a", mark_safe("<b>x</b>"))])
    assert "&lt;b&gt;x&lt;/b&gt;" in plain and "<b>x</b>" in safe
    assert render([("a", "<b>x</b>")]) == plain
    assert render([("1", "one"), ("1", "again")], "1").count(" selected") == 1
    monkeypatch.setattr(crm_forms, "_OPTIONS_LIMIT", 3)
    for n in range(10):
        assert f'<option value="{n}">n{n}</option>' in render([(str(n), f"n{n}")])
        assert len(crm_forms._rendered_options) <= 3
