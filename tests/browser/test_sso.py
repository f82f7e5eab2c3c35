"""Single sign-on in Chromium against a real OpenID Connect provider on loopback: from
Meridian's sign-in page to the provider's and back, signed in as a user created just in time."""

from __future__ import annotations

import re

import pytest
from django.utils import translation
from django.utils.translation import gettext
from playwright.sync_api import Page, expect

from crm.models import User
from crm.roles import Role
from crm.scope import org_scope
from tests.browser.conftest import screenshot
from tests.conftest import World
from tests.oidc_provider import Idp, configure

pytestmark = pytest.mark.browser


def test_sign_in_with_the_organizations_provider_creates_the_user_just_in_time(
    page: Page, live_server: object, world: World, idp_a: Idp
) -> None:
    # The provider's page links a stylesheet on a CDN: never fetched (no internet, no waiting).
    page.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
    configure(
        world.org, idp_a, default_company=world.se, name="Nordvik ID",
        role_map=[["crm-managers", Role.COUNTRY_MANAGER]], company_map=[["denmark", "DK"]],
    )  # fmt: skip
    idp_a.set_user("kari-7", email="kari.nord@nordvik.example", name="Kari Nord",
                   groups=["crm-managers", "denmark"])  # fmt: skip
    base = live_server.url  # type: ignore[attr-defined]
    with translation.override("en"):  # the browser reads en-GB; no one is signed in yet
        short_name = gettext("Organization's short name")
        go_on = gettext("Continue")
        button = gettext("Sign in with %(name)s") % {"name": "Nordvik ID"}
    page.goto(f"{base}/login/")
    page.get_by_label(short_name).fill(world.org.slug)
    page.get_by_role("button", name=go_on).click()
    screenshot(page, "sso-organization")
    page.get_by_role("link", name=button).click()
    # The provider's own sign-in page, on another port of loopback.
    expect(page).to_have_url(re.compile("^" + re.escape(idp_a.issuer) + "/oauth2/authorize"))
    page.get_by_placeholder("sub").fill("kari-7")
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Kari Nord")
    expect(page.get_by_test_id("organization")).to_have_text("Nordvik")
    screenshot(page, "sso-signed-in")
    with org_scope(world.org.pk):
        user = User.objects.for_org(world.org).get(email="kari.nord@nordvik.example")
    assert (user.role, user.sales_company_id, user.organization_id) == (
        Role.COUNTRY_MANAGER, world.dk.pk, world.org.pk,
    )  # fmt: skip
    with org_scope(world.other_org.pk):
        assert not User.objects.for_org(world.other_org).filter(email=user.email).exists()
