"""In-app notifications (crm.notifications, crm.selectors, the page and the top bar's badge):
one stored row read in each reader's language, personal to its recipient (another user of the
organization, or of another organization, never lists, opens or marks it), links that stay
inside the app, and a badge that costs one query."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.http import Http404
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from crm.models import Notification, NotificationKind
from crm.notifications import ALL, mark_read, notify
from crm.scope import OrganizationScopeError, org_scope
from crm.selectors import access_notification_by_id, notification_list, unread_count
from crm.validators import validate_app_path
from tests.conftest import World
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CONFLICT = {"account": "Hansa Logistik", "companies": "Nordvik SE, Nordvik DE"}


def _notify(world: World, *users, kind: str = NotificationKind.CONFLICT_NEW, **kw) -> int:
    return notify(
        organization_id=world.org.pk,
        user_ids=[u.pk for u in users],
        kind=kind,
        params=kw.pop("params", CONFLICT),
        url=kw.pop("url", "/opportunities/conflicts/"),
    )


def _only(world: World, user) -> Notification:
    (row,) = notification_list(user=user)
    return row


# --- Rendering ---------------------------------------------------------------------------------


def test_one_row_reads_in_each_readers_language(world: World) -> None:
    _notify(world, world.rep_se)
    row = _only(world, world.rep_se)
    # Only the kind and the names are stored, never a sentence.
    assert row.params == CONFLICT and row.kind == "conflict_new"
    with translation.override("en"):
        english = row.message
    with translation.override("de"):
        german = row.message
    assert english == (
        "New conflict at Hansa Logistik: Nordvik SE, Nordvik DE work the same customer group."
    )
    assert german.startswith("Neuer Konflikt bei Hansa Logistik")
    assert "Nordvik SE, Nordvik DE" in german and german != english


def test_every_kind_is_translated_and_fills_its_placeholders() -> None:
    params = {
        "account": "A", "companies": "B", "company": "C", "user": "D", "group": "E",
        "value": "1.5", "reference": "2.5", "week": "2026-05-11", "manager": "F", "name": "G",
        "count": 10,
    }  # fmt: skip
    for kind in NotificationKind:
        row = Notification(kind=kind.value, params=params, url="/")
        with translation.override("en"):
            english = row.message
        assert "%(" not in english and "…" not in english, kind
        for language in ("sv", "da", "de"):
            with translation.override(language):
                translated = row.message
            assert translated != english and "%(" not in translated, (kind, language)
            assert "…" not in translated, (kind, language)


def test_a_placeholder_the_row_lacks_or_a_removed_kind_still_renders() -> None:
    gap = Notification(kind=NotificationKind.CONFLICT_NEW, params={"account": "A"}, url="/")
    with translation.override("en"):
        assert gap.message.startswith("New conflict at A: … work")
        gone = Notification(kind="kind_since_removed", params={}, url="/")
        assert gone.message == "You have a notification."


def test_numbers_and_dates_read_in_the_readers_format() -> None:
    """Params are stored as JSON (a decimal as its string, a date in ISO form); the sentence
    shows them as the reader writes them. Whole numbers and names stay as they are."""
    row = Notification(
        kind=NotificationKind.DEVIATION_WIN_RATE,
        params={
            "company": "Nordvik 2024 AB",
            "value": "20.5",
            "reference": "36",
            "week": "2026-11-23",
        },
        url="/",
    )
    with translation.override("de"):
        german = row.message
    with translation.override("en"):
        english = row.message
    assert "20,5" in german and "23.11.2026" in german and "Nordvik 2024 AB" in german
    assert "20.5" in english and "36" in english and "2026" in english
    assert "2026-11-23" not in german


# --- notify ------------------------------------------------------------------------------------


def test_notify_makes_one_row_per_active_recipient_of_the_organization(world: World) -> None:
    inactive = UserFactory(organization=world.org, sales_company=world.se, is_active=False)
    made = notify(
        organization_id=world.org.pk,
        user_ids=[
            world.rep_se.pk,
            world.rep_se.pk,
            world.manager_se.pk,
            inactive.pk,
            world.stranger.pk,
            0,
            -1,
            10**30,
        ],
        kind=NotificationKind.CONFLICT_NEW,
        params=CONFLICT,
        url="/opportunities/conflicts/",
    )
    assert made == 2
    rows = Notification.objects.for_org(world.org)
    assert sorted(rows.values_list("recipient_id", flat=True)) == sorted(
        [world.rep_se.pk, world.manager_se.pk]
    )
    assert all(r.read_at is None for r in rows)
    assert not Notification.objects.for_org(world.other_org).exists()


def test_notify_with_nobody_makes_nothing(world: World) -> None:
    assert _notify(world) == 0
    assert not Notification.objects.for_org(world.org).exists()


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("no_such_kind", CONFLICT, "not a valid"),
        (NotificationKind.CONFLICT_NEW, {"account": "A"}, "needs the param 'companies'"),
        (NotificationKind.CONFLICT_NEW, {**CONFLICT, "n": True}, "names and numbers"),
        (NotificationKind.CONFLICT_NEW, {**CONFLICT, "n": ["x"]}, "names and numbers"),
    ],
)
def test_notify_refuses_unknown_kinds_and_params_that_do_not_fit(
    world: World, kind: str, params: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _notify(world, world.rep_se, kind=kind, params=params)
    assert not Notification.objects.for_org(world.org).exists()


def test_notify_refuses_another_organization_while_one_is_in_scope(world: World) -> None:
    with org_scope(world.other_org), pytest.raises(OrganizationScopeError):
        _notify(world, world.rep_se)


# --- Links stay inside the app -------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/opportunities/conflicts/7/", "/accounts/3/?tab=team#x"])
def test_app_paths_are_links(url: str) -> None:
    validate_app_path(url)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/ /evil.example",
        "javascript:alert(1)",
        "opportunities/",
        "/a\nb",
    ],
)
def test_other_sites_are_refused(world: World, url: str) -> None:
    with pytest.raises(ValidationError, match="path inside Meridian"):
        validate_app_path(url)
    with pytest.raises(ValidationError):
        _notify(world, world.rep_se, url=url)
    assert not Notification.objects.for_org(world.org).exists()


def test_the_database_refuses_a_protocol_relative_link_too(world: World) -> None:
    # Rows written around the service (bulk code, raw SQL) meet the check constraint.
    with org_scope(world.org), pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(
            organization=world.org, recipient=world.rep_se, kind="conflict_new", url="//x.example"
        )


# --- Reads and mark_read: personal ---------------------------------------------------------------


def test_only_the_recipient_lists_counts_and_opens_it(world: World) -> None:
    _notify(world, world.rep_se)
    mine = _only(world, world.rep_se)
    assert unread_count(user=world.rep_se) == 1
    assert access_notification_by_id(world.rep_se, mine.pk) == mine
    # A colleague, the director and the admin (who see the whole organization's deals), marketing
    # and a user of another organization: none of them.
    for other in (
        world.rep_dk,
        world.manager_se,
        world.director,
        world.admin,
        world.marketing,
        world.stranger,
    ):
        assert list(notification_list(user=other)) == [], other
        assert unread_count(user=other) == 0
        with pytest.raises(Http404):
            access_notification_by_id(other, mine.pk)


def test_newest_first(world: World) -> None:
    _notify(world, world.rep_se)
    _notify(
        world,
        world.rep_se,
        kind=NotificationKind.REGROUPED,
        params={"account": "Hansa DK", "group": "Hansa Logistik"},
    )
    kinds = [n.kind for n in notification_list(user=world.rep_se)]
    assert kinds == ["regrouped", "conflict_new"]


def test_mark_read_by_ids_touches_only_the_users_own(world: World) -> None:
    _notify(world, world.rep_se, world.rep_dk)
    _notify(world, world.rep_se)
    first, second = notification_list(user=world.rep_se)
    theirs = _only(world, world.rep_dk)
    # Another user's id, malformed ids and a missing one are ignored.
    assert mark_read(user=world.rep_se, ids=[first.pk, theirs.pk, "x", "²", 10**30, 999999]) == 1
    assert unread_count(user=world.rep_se) == 1
    assert unread_count(user=world.rep_dk) == 1
    # Marking again changes nothing; the stranger cannot touch them at all.
    assert mark_read(user=world.rep_se, ids=[first.pk]) == 0
    assert mark_read(user=world.stranger, ids=[second.pk, theirs.pk]) == 0
    assert mark_read(user=world.stranger, ids=ALL) == 0
    assert mark_read(user=world.rep_se, ids=[]) == 0
    first.refresh_from_db()
    assert first.read_at is not None


def test_mark_all_read(world: World) -> None:
    for _ in range(3):
        _notify(world, world.rep_se, world.rep_dk)
    assert mark_read(user=world.rep_se, ids=ALL) == 3
    assert unread_count(user=world.rep_se) == 0
    assert unread_count(user=world.rep_dk) == 3


def test_unread_count_is_one_query_whatever_the_number(
    world: World, django_assert_num_queries
) -> None:
    with django_assert_num_queries(1):
        assert unread_count(user=world.rep_se) == 0
    for _ in range(30):
        _notify(world, world.rep_se)
    with django_assert_num_queries(1):
        assert unread_count(user=world.rep_se) == 30


def test_the_task_hook_notifies_in_the_organization(world: World) -> None:
    from crm.tasks import notify_in_app

    made = notify_in_app.delay(
        world.org.pk, [world.rep_se.pk, world.stranger.pk], "conflict_new", CONFLICT, "/"
    ).get()
    assert made == 1
    assert unread_count(user=world.rep_se) == 1


# --- The page ------------------------------------------------------------------------------------


def _signed_in(user, language: str = "en") -> Client:
    user.language = language
    user.save(update_fields=["language"])
    client = Client()
    client.force_login(user)
    return client


def test_the_page_lists_the_users_own_newest_first_unread_marked(world: World) -> None:
    _notify(world, world.rep_se, world.rep_dk)
    _notify(
        world,
        world.rep_se,
        kind=NotificationKind.REGROUPED,
        params={"account": "Hansa DK", "group": "Hansa Logistik"},
        url="/accounts/",
    )
    older, _newer = sorted(notification_list(user=world.rep_se), key=lambda n: n.pk)
    mark_read(user=world.rep_se, ids=[older.pk])
    response = _signed_in(world.rep_se).get(reverse("notifications"))
    assert response.status_code == 200
    html = response.content.decode()
    regrouped = html.index("Hansa DK is now part of the group Hansa Logistik.")
    conflict = html.index("New conflict at Hansa Logistik")
    assert regrouped < conflict  # newest first
    assert html.count('class="card notification unread"') == 1
    assert html.count('class="card notification"') == 1
    assert f'action="/notifications/{older.pk}/open/"' in html
    assert "Mark all as read" in html


def test_the_same_row_reads_in_the_readers_language_on_the_page(world: World) -> None:
    _notify(world, world.rep_se)
    english = _signed_in(world.rep_se, "en").get(reverse("notifications")).content.decode()
    german = _signed_in(world.rep_se, "de").get(reverse("notifications")).content.decode()
    assert "New conflict at Hansa Logistik: Nordvik SE, Nordvik DE work" in english
    assert "Neuer Konflikt bei Hansa Logistik: Nordvik SE, Nordvik DE bearbeiten" in german
    assert "Alle als gelesen markieren" in german


def test_names_in_params_are_escaped(world: World) -> None:
    _notify(world, world.rep_se, params={"account": "<script>x</script>", "companies": "A & B"})
    html = _signed_in(world.rep_se).get(reverse("notifications")).content.decode()
    assert "<script>x</script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "A &amp; B" in html


def test_nobody_else_sees_them_on_the_page(world: World) -> None:
    _notify(world, world.rep_se)
    for other in (world.rep_dk, world.director, world.admin, world.stranger):
        html = _signed_in(other).get(reverse("notifications")).content.decode()
        assert "Hansa Logistik" not in html, other
        assert "No notifications yet." in html
        assert "Mark all as read" not in html


def test_the_page_has_25_a_page_in_a_constant_number_of_queries(world: World) -> None:
    client = _signed_in(world.rep_se)
    _notify(world, world.rep_se)

    def queries(page: int = 1) -> tuple[int, str]:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("notifications"), {"page": page})
        assert response.status_code == 200
        return len(ctx.captured_queries), response.content.decode()

    few, _html = queries()
    for _ in range(29):
        _notify(world, world.rep_se)
    many, first = queries()
    assert many == few
    assert first.count('data-testid="notification"') == 25
    assert "Page 1 of 2" in first
    _count, second = queries(2)
    assert second.count('data-testid="notification"') == 5


def test_mark_all_as_read_is_a_post_with_csrf(world: World) -> None:
    _notify(world, world.rep_se, world.rep_dk)
    _notify(world, world.rep_se)
    client = _signed_in(world.rep_se)
    assert client.get(reverse("notifications_read")).status_code == 405
    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(world.rep_se)
    assert guarded.post(reverse("notifications_read")).status_code == 403
    assert unread_count(user=world.rep_se) == 2
    response = client.post(reverse("notifications_read"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("notifications")
    assert "All your notifications are marked as read." in response.content.decode()
    assert unread_count(user=world.rep_se) == 0
    assert unread_count(user=world.rep_dk) == 1  # someone else's stay unread


def test_opening_one_marks_it_read_and_follows_its_link(world: World) -> None:
    _notify(world, world.rep_se, url="/opportunities/conflicts/?status=open")
    row = _only(world, world.rep_se)
    client = _signed_in(world.rep_se)
    url = reverse("notification_open", args=[row.pk])
    assert client.get(url).status_code == 405  # opening changes state: POST only
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == "/opportunities/conflicts/?status=open"
    row.refresh_from_db()
    assert row.read_at is not None


def test_opening_someone_elses_is_404_and_changes_nothing(world: World) -> None:
    _notify(world, world.rep_se)
    row = _only(world, world.rep_se)
    url = reverse("notification_open", args=[row.pk])
    for other in (world.rep_dk, world.director, world.admin, world.stranger):
        assert _signed_in(other).post(url).status_code == 404, other
    assert _signed_in(world.rep_se).post("/notifications/99999999/open/").status_code == 404
    row.refresh_from_db()
    assert row.read_at is None


def test_a_stored_link_out_of_the_app_is_not_followed(world: World) -> None:
    # Past the check constraint (which stops "//"), but a tab before the second slash is "//"
    # to a browser: the view checks again and stays home.
    with org_scope(world.org):
        row = Notification.objects.create(
            organization=world.org, recipient=world.rep_se, kind="conflict_new", url="/\t/x.example"
        )
    response = _signed_in(world.rep_se).post(reverse("notification_open", args=[row.pk]))
    assert response["Location"] == reverse("notifications")


def test_the_pages_need_sign_in(client: Client, world: World) -> None:
    for url in (reverse("notifications"),):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    response = client.post(reverse("notifications_read"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- The top bar's badge -------------------------------------------------------------------------


def _count_queries(ctx: CaptureQueriesContext) -> int:
    return sum(
        1
        for q in ctx.captured_queries
        if '"crm_notification"' in q["sql"]
        and "COUNT(" in q["sql"].upper()
        and '"read_at" IS NULL' in q["sql"]
    )


@pytest.mark.parametrize(
    "role", ["admin", "director", "regional", "manager_se", "rep_se", "marketing", "stranger"]
)
def test_every_role_sees_its_unread_count_in_the_top_bar(world: World, role: str) -> None:
    user = getattr(world, role)
    client = _signed_in(user)
    html = client.get(reverse("home")).content.decode()
    assert 'data-testid="notifications-link"' in html
    assert 'aria-label="No unread notifications"' in html
    assert 'data-testid="unread-badge"' not in html
    notify(
        organization_id=user.organization_id,
        user_ids=[user.pk],
        kind=NotificationKind.CONFLICT_NEW,
        params=CONFLICT,
        url="/",
    )
    for _ in range(2):
        notify(
            organization_id=user.organization_id,
            user_ids=[user.pk],
            kind=NotificationKind.REGROUPED,
            params={"account": "A", "group": "G"},
            url="/",
        )
    with CaptureQueriesContext(connection) as ctx:
        html = client.get(reverse("home")).content.decode()
    assert _count_queries(ctx) == 1
    assert '<span class="badge" data-testid="unread-badge">3</span>' in html
    assert 'aria-label="3 unread notifications"' in html
    assert f'href="{reverse("notifications")}"' in html


def test_the_badge_is_one_query_also_on_the_page_that_shows_the_count_twice(
    world: World,
) -> None:
    _notify(world, world.rep_se)
    client = _signed_in(world.rep_se, "sv")
    with CaptureQueriesContext(connection) as ctx:
        html = client.get(reverse("notifications")).content.decode()
    assert _count_queries(ctx) == 1
    assert 'aria-label="1 oläst notis"' in html
    client.post(reverse("notifications_read"))
    html = client.get(reverse("home")).content.decode()
    assert 'data-testid="unread-badge"' not in html
