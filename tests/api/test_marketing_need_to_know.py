"""Issue 15, hole 6: marketing saw every conflict (sellers, deal ids, agreement details), every
sales activity with its notes, account plans' targets and agreements' discount tiers, because
the policies fell open when marketing's company scope is "the whole organization". Walks every
API list endpoint of the router as both marketing users, and the pages that show deal data."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import DiscountTier
from meridian.api_urls import router
from tests.api.makers import MAKERS
from tests.conftest import World

pytestmark = pytest.mark.django_db

# Deal data: none of it is marketing's (the role table: leads, campaigns; accounts read-only).
HIDDEN = {
    "opportunities.Opportunity",
    "opportunities.Conflict",
    "accounts.AccountPlan",
    "accounts.FrameworkAgreement",
    "accounts.Activity",
    "coaching.CoachingSession",
    "coaching.CoachingAction",
}
# What marketing works with and must still see.
SEEN = {"accounts.Account", "accounts.Contact", "leads.Lead", "leads.Campaign"}
MARKETING = ["marketing", "marketing_se"]


@pytest.fixture
def made(world: World) -> dict[str, object]:
    objs = {label: maker(world).obj for label, maker in MAKERS.items()}
    agreement = objs["accounts.FrameworkAgreement"]
    DiscountTier.objects.create(
        organization=world.org, agreement=agreement, threshold=1000, discount_percent=7
    )
    return objs


@pytest.mark.parametrize("who", MARKETING)
def test_every_list_endpoint_as_marketing(world: World, made: dict[str, object], who: str) -> None:
    client = APIClient()
    client.force_authenticate(getattr(world, who))
    checked: set[str] = set()
    for prefix, viewset, _basename in router.registry:
        label = viewset.model._meta.label
        response = client.get(f"/api/v1/{prefix}/", {"page_size": 200})
        if label in HIDDEN:
            assert response.status_code in (200, 403, 404), (prefix, response.status_code)
            if response.status_code == 200:
                assert response.json()["results"] == [], prefix
            detail = client.get(f"/api/v1/{prefix}/{made[label].pk}/")
            assert detail.status_code in (403, 404), (prefix, detail.status_code)
            checked.add(label)
        elif label in SEEN:
            assert response.status_code == 200, prefix
            ids = {row["id"] for row in response.json()["results"]}
            assert made[label].pk in ids, prefix
            checked.add(label)
    assert checked == HIDDEN | SEEN


@pytest.mark.parametrize("who", MARKETING)
def test_the_account_360_and_history_hold_no_deal_data(
    world: World, made: dict[str, object], who: str
) -> None:
    client = APIClient()
    client.force_authenticate(getattr(world, who))
    conflict = made["opportunities.Conflict"]
    for account in (made["accounts.FrameworkAgreement"].account, conflict.account):
        view = client.get(f"/api/v1/accounts/{account.pk}/360/")
        if who == "marketing_se" and account.home_company_id != world.se.pk:
            assert view.status_code == 404  # another company's customer: not in its scope
            continue
        assert view.status_code == 200
        body = view.json()
        assert (body["agreements"], body["open_conflicts"], body["plan"]) == ([], [], None)
        assert body["latest_activities"] == []
    history = client.get(
        f"/api/v1/accounts/{made['accounts.FrameworkAgreement'].account_id}/history/"
    )
    assert history.status_code == 200
    assert not [e for e in history.json() if "agreement" in e["kind"].lower()]
    assert not [e for e in history.json() if "tier" in e["kind"].lower()]


@pytest.mark.parametrize("who", MARKETING)
def test_the_pages_show_marketing_no_conflicts_or_activities(
    world: World, made: dict[str, object], who: str
) -> None:
    client = Client()
    client.force_login(getattr(world, who))
    conflict = made["opportunities.Conflict"]
    inbox = client.get(reverse("opportunities:conflicts"))
    assert inbox.status_code == 200
    assert conflict.account.name not in inbox.content.decode()
    assert client.get(reverse("opportunities:conflict", args=[conflict.pk])).status_code in (
        403,
        404,
    )
    activity = made["accounts.Activity"]
    page = client.get(reverse("accounts:detail", args=[activity.account_id]))
    assert page.status_code == 200
    assert activity.subject not in page.content.decode()


def test_sellers_still_see_their_deal_data(world: World, made: dict[str, object]) -> None:
    # The narrowing is marketing's only: the Swedish manager keeps plans, agreements, activities.
    client = APIClient()
    client.force_authenticate(world.manager_se)
    for prefix, label in [
        ("account-plans", "accounts.AccountPlan"),
        ("agreements", "accounts.FrameworkAgreement"),
        ("activities", "accounts.Activity"),
        ("opportunities", "opportunities.Opportunity"),
    ]:
        assert client.get(f"/api/v1/{prefix}/{made[label].pk}/").status_code == 200, prefix


def _argless_page_urls() -> list[str]:
    """Every page route that takes no argument (the API, admin and auth pages aside)."""
    from django.urls import URLPattern, URLResolver, get_resolver

    out: list[str] = []

    def walk(patterns: list, prefix: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif isinstance(p, URLPattern) and "<" not in route and "(" not in route:
                out.append("/" + route.lstrip("^").rstrip("$"))

    walk(get_resolver().url_patterns, "")
    skip = ("/api/", "/admin/", "/accounts/login", "/logout", "/login", "/static/", "/i18n/")
    return sorted({u for u in out if not u.startswith(skip)})


@pytest.mark.parametrize("who", MARKETING)
def test_no_page_shows_marketing_deal_data(world: World, made: dict[str, object], who: str) -> None:
    from accounts.models import AccountPlan, Activity, FrameworkAgreement
    from opportunities.models import Opportunity

    secrets = {
        "opportunity": "Secret-deal-name-7731",
        "plan": "Secret-plan-objective-7731",
        "activity": "Secret-activity-notes-7731",
        "agreement": "Secret-agreement-7731",
    }
    Opportunity.objects.for_org(world.org).update(name=secrets["opportunity"])
    AccountPlan.objects.for_org(world.org).update(objectives=secrets["plan"])
    Activity.objects.for_org(world.org).update(
        notes=secrets["activity"], subject=secrets["activity"]
    )
    FrameworkAgreement.objects.for_org(world.org).update(name=secrets["agreement"])
    client = Client()
    client.force_login(getattr(world, who))
    account_ids = {
        made[label].account_id
        for label in (
            "accounts.AccountPlan",
            "accounts.Activity",
            "accounts.FrameworkAgreement",
            "opportunities.Opportunity",
        )
    }
    urls = [
        *_argless_page_urls(),
        *(reverse("accounts:detail", args=[pk]) for pk in account_ids),
        "/search/?q=Secret",
    ]
    assert len(urls) > 10
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, url
        if response.status_code != 200 or response.get("Content-Type", "").startswith("image"):
            continue
        body = b"".join(response) if response.streaming else response.content
        text = body.decode(errors="replace")
        leaked = [k for k, secret in secrets.items() if secret in text]
        assert not leaked, (url, leaked)
