"""A dashboard, report or API answer whose figures need a missing exchange rate names the rate
and who can add it (200 with the message on pages, 409 in the API), never a 500; the stored
figures' refresh records the error for the page instead of failing (and being queued again)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import ExchangeRate
from reporting import figures, services
from reporting.models import DashboardFigures, ExportFormat, ExportStatus
from reporting.tasks import refresh_dashboard
from tests.opportunities.factories import OpportunityFactory
from tests.reporting.conftest import AS_OF, Dataset

pytestmark = pytest.mark.django_db
URL = reverse("reporting:dashboard")


def _without_nok_rate(dataset: Dataset) -> str:
    """An open NOK deal (the dataset has no NOK rate); the message the pages show for it."""
    w = dataset.world
    OpportunityFactory(account=dataset.accounts["se"], owner=w.rep_se, currency="NOK")
    day = timezone.localdate()
    return f"No EUR rate for NOK on {day:%Y-%m-%d}: ask your admin to add it under Set-up"


def _stored(org) -> object:
    row = DashboardFigures.objects.for_org(org).get(scope_key="organization")
    return figures.loads(row.data)


def test_the_dashboard_names_the_missing_rate(client, dataset: Dataset) -> None:
    message = _without_nok_rate(dataset)
    client.force_login(dataset.world.director)
    response = client.get(URL)
    assert response.status_code == 200
    assert message in response.content.decode()


def test_the_stored_figures_record_the_missing_rate_until_it_is_added(
    client, dataset: Dataset, django_assert_max_num_queries
) -> None:
    w = dataset.world
    message = _without_nok_rate(dataset)
    client.force_login(w.director)
    client.get(URL)
    assert _stored(w.org) == figures.MissingRate(currency="NOK", on_date=timezone.localdate())
    # The next view reads the recorded error: no aggregate is computed (and fails) again (session,
    # user, organization, the stored row and the top bar's unread notification count).
    with django_assert_max_num_queries(5):
        again = client.get(URL)
    assert again.status_code == 200 and message in again.content.decode()
    ExchangeRate.objects.create(
        organization=w.org, currency="NOK", rate=Decimal("0.085"), valid_from=dt.date(2020, 1, 1)
    )
    fixed = client.get(URL)
    assert fixed.status_code == 200 and "shown" in fixed.context
    assert not isinstance(_stored(w.org), figures.MissingRate)


def test_the_message_is_in_the_readers_language(client, dataset: Dataset) -> None:
    w = dataset.world
    _without_nok_rate(dataset)
    w.director.language = "de"
    w.director.save(update_fields=["language"])
    client.force_login(w.director)
    response = client.get(URL)
    assert response.status_code == 200
    assert "Kein EUR-Kurs für NOK am" in response.content.decode()


def test_the_refresh_task_records_the_error_instead_of_failing(dataset: Dataset) -> None:
    w = dataset.world
    _without_nok_rate(dataset)
    today = timezone.localdate().isoformat()
    result = refresh_dashboard(w.director.pk, w.org.pk, "organization", today)
    assert result.startswith("missing rate:") and "NOK" in result
    assert _stored(w.org) == figures.MissingRate(currency="NOK", on_date=timezone.localdate())
    row = DashboardFigures.objects.for_org(w.org).get(scope_key="organization")
    assert row.refreshing_since is None  # not left claimed: the next stale view may retry


def test_the_refresh_command_goes_on_past_a_missing_rate(dataset: Dataset) -> None:
    w = dataset.world
    _without_nok_rate(dataset)
    done = figures.rebuild(organization_id=w.org.pk, as_of=timezone.localdate())
    assert ("organization" in {key for key, _ in done}) and len(done) > 1


def test_the_api_answers_409_naming_the_rate(dataset: Dataset) -> None:
    w = dataset.world
    _without_nok_rate(dataset)
    api = APIClient()
    api.force_authenticate(w.director)
    response = api.get(f"/api/v1/accounts/{dataset.accounts['se'].pk}/360/")
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["currency"] == "NOK" and body["date"] == timezone.localdate().isoformat()
    assert body["detail"].startswith("No EUR rate for NOK on ")


def test_the_failed_export_says_which_rate_to_add(dataset: Dataset, settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path
    w = dataset.world
    OpportunityFactory(account=dataset.accounts["se"], owner=w.rep_se, currency="NOK")
    export = services.export_request(acting_user=w.director, file_format=ExportFormat.CSV)
    export = services.export_generate(export=export, as_of=AS_OF)
    assert export.status == ExportStatus.FAILED
    assert export.error.startswith("No EUR rate for NOK on 2026-05-15: ask your admin")
