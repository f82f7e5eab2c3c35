"""Import pages: the flow upload -> mapping -> dry run -> commit -> rejected rows, and who may
open what (anonymous -> sign-in, another user or organization -> 404)."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext

from accounts.models import Account
from imports.models import ImportJob, ImportKind, ImportStatus
from tests.imports.helpers import dry_run, upload

TEXT = "Namn;Land;Bransch\nAlfa AB;Sverige;=CMD|' /C calc'!A0\nBeta AB;Atlantis;\n"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_whole_flow_in_pages(world, django_capture_on_commit_callbacks) -> None:
    client = client_for(world.manager_se)
    assert client.get("/imports/").status_code == 200
    response = client.post(
        "/imports/new/",
        {"kind": ImportKind.ACCOUNTS, "file": SimpleUploadedFile("old.csv", TEXT.encode())},
    )
    job = ImportJob.objects.for_org(world.org).get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{job.pk}/mapping/"
    page = client.get(f"/imports/{job.pk}/mapping/")
    assert page.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/imports/{job.pk}/mapping/",
            {"col_0": "name", "col_1": "country", "col_2": "industry", "on_match": "update"},
        )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportStatus.READY and job.error_count == 1
    detail = client.get(f"/imports/{job.pk}/").content.decode()
    assert "“Atlantis” is not a country we know." in detail
    # The unknown country is offered for a value mapping on the mapping page.
    assert "Atlantis" in client.get(f"/imports/{job.pk}/mapping/").content.decode()
    rejected = client.get(f"/imports/{job.pk}/rejected.csv")
    rows = list(csv.reader(io.StringIO(rejected.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Namn", "Land", "Bransch"]
    assert rows[1][:2] == ["Beta AB", "Atlantis"] and rows[1][3] == "3"
    assert "Land: “Atlantis”" in rows[1][4]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/imports/{job.pk}/commit/")
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    account = Account.objects.for_org(world.org).get()
    assert account.industry == "=CMD|' /C calc'!A0"  # text, as written
    progress = client.get(f"/imports/{job.pk}/progress/").content.decode()
    assert "100 %" in progress


def test_rejected_rows_escape_formulas(world, django_capture_on_commit_callbacks) -> None:
    job = upload(world.manager_se, ImportKind.ACCOUNTS, "Name;Country\n=HYPERLINK(1);Atlantis\n")
    dry_run(django_capture_on_commit_callbacks, job, world.manager_se)
    body = client_for(world.manager_se).get(f"/imports/{job.pk}/rejected.csv").content.decode()
    assert "'=HYPERLINK(1)" in body


def test_a_bad_file_is_a_form_error_not_a_500(world) -> None:
    client = client_for(world.manager_se)
    response = client.post(
        "/imports/new/",
        {"kind": ImportKind.ACCOUNTS, "file": SimpleUploadedFile("x.xlsx", b"PK\x03\x04nope")},
    )
    assert response.status_code == 400
    with translation.override("sv"):  # the reader's language
        expected = gettext("The file is not a readable XLSX workbook.")
    assert expected in response.content.decode()
    assert not ImportJob.objects.for_org(world.org).exists()


def test_mapping_errors_are_shown_in_the_readers_language(world) -> None:
    world.manager_se.language = "sv"
    world.manager_se.save()
    job = upload(world.manager_se, ImportKind.ACCOUNTS, TEXT)
    response = client_for(world.manager_se).post(
        f"/imports/{job.pk}/mapping/", {"col_0": "name", "on_match": "update"}
    )
    assert response.status_code == 400
    with translation.override("sv"):
        expected = gettext("Map a column to: %(fields)s.") % {"fields": gettext("Country")}
    assert expected in response.content.decode()


@pytest.mark.parametrize("path", ["", "mapping/", "progress/", "rejected.csv", "cancel/"])
def test_other_users_and_organizations_get_404(world, path: str) -> None:
    job = upload(world.manager_se, ImportKind.ACCOUNTS, TEXT)
    for user in (world.stranger, world.rep_se, world.admin):
        assert client_for(user).get(f"/imports/{job.pk}/{path}").status_code == 404
    for verb in ("commit/", "cancel/"):
        assert client_for(world.stranger).post(f"/imports/{job.pk}/{verb}").status_code == 404
    response = Client().get(f"/imports/{job.pk}/{path}")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_anonymous_is_sent_to_sign_in(world) -> None:
    for path in ("/imports/", "/imports/new/"):
        response = Client().get(path)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_cancel_asks_first(world) -> None:
    job = upload(world.manager_se, ImportKind.ACCOUNTS, TEXT)
    client = client_for(world.manager_se)
    assert client.get(f"/imports/{job.pk}/cancel/").status_code == 200
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED  # a GET only asks
    client.post(f"/imports/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED


def test_the_list_has_an_empty_state_and_a_constant_query_count(
    world, django_assert_max_num_queries
) -> None:
    client = client_for(world.manager_se)
    with translation.override("sv"):  # the reader's language
        empty = gettext(
            "No imports yet. Import a CSV or XLSX file from your old CRM or a spreadsheet."
        )
    assert empty in client.get("/imports/").content.decode()
    for _ in range(3):
        upload(world.manager_se, ImportKind.ACCOUNTS, TEXT)
    with django_assert_max_num_queries(12) as captured:
        client.get("/imports/")
    few = len(captured)
    for _ in range(10):
        upload(world.manager_se, ImportKind.ACCOUNTS, TEXT)
    with django_assert_max_num_queries(few):
        assert client.get("/imports/").status_code == 200
    # Only one's own jobs are listed.
    assert "old.csv" not in client_for(world.manager_de).get("/imports/").content.decode()
