"""The imports API: create with a file and a mapping (dry run at once), rows, commit,
progress, cancel; other users and organizations get 404, anonymous 401/403."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.models import Account
from imports.models import ImportKind
from tests.factories import as_user

TEXT = "Name,Country\nAlfa AB,SE\nBeta AB,Atlantis\n"


def _create(client: APIClient, **extra):
    return client.post(
        "/api/v1/imports/",
        {"kind": ImportKind.ACCOUNTS, "file": SimpleUploadedFile("a.csv", TEXT.encode()), **extra},
        format="multipart",
    )


def test_create_dry_run_commit(world, django_capture_on_commit_callbacks) -> None:
    client = as_user(world.manager_se)
    with django_capture_on_commit_callbacks(execute=True):
        response = _create(client, mapping=json.dumps({"0": "name", "1": "country"}))
    assert response.status_code == 201, response.json()
    job = client.get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert job["status"] == "ready" and job["error_count"] == 1
    rows = client.get(f"/api/v1/imports/{job['id']}/rows/", {"errors": "1"}).json()
    assert rows["results"][0]["row_number"] == 3
    assert rows["results"][0]["errors"][0]["column"] == "Country"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/imports/{job['id']}/commit/")
    assert response.status_code == 202
    progress = client.get(f"/api/v1/imports/{job['id']}/progress/").json()
    assert progress["status"] == "done" and progress["percent"] == 100
    assert list(Account.objects.for_org(world.org).values_list("name", flat=True)) == ["Alfa AB"]


def test_bad_input_is_400_with_field_messages(world) -> None:
    client = as_user(world.manager_se)
    response = client.post(
        "/api/v1/imports/",
        {"kind": "accounts", "file": SimpleUploadedFile("a.xlsx", b"PK\x03\x04x")},
        format="multipart",
    )
    assert response.status_code == 400 and "file" in response.json()
    response = _create(client, mapping="{not json")
    assert response.status_code == 400 and "mapping" in response.json()
    job = _create(client).json()
    response = client.post(f"/api/v1/imports/{job['id']}/commit/")
    assert response.status_code == 400  # no dry run yet
    response = client.post(
        f"/api/v1/imports/{job['id']}/mapping/", {"mapping": {"0": "name"}}, format="json"
    )
    assert response.status_code == 400 and "mapping" in response.json()


def test_marketing_may_not_import_accounts(world) -> None:
    assert _create(as_user(world.marketing)).status_code == 403


def test_others_get_404_and_anonymous_is_refused(world) -> None:
    job = _create(as_user(world.manager_se)).json()
    for user in (world.stranger, world.manager_de, world.admin):
        client = as_user(user)
        for path in ("", "rows/", "progress/"):
            assert client.get(f"/api/v1/imports/{job['id']}/{path}").status_code == 404
        for path in ("commit/", "cancel/", "mapping/"):
            assert client.post(f"/api/v1/imports/{job['id']}/{path}").status_code == 404
        assert client.get("/api/v1/imports/").json()["results"] == []
    assert APIClient().get("/api/v1/imports/").status_code in (401, 403)
    assert APIClient().post(f"/api/v1/imports/{job['id']}/commit/").status_code in (401, 403)
