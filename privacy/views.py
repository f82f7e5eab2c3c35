"""Pages of the data-protection officer: a person's data (readable and JSON), erasure with a
reason, and the retention setting. Everyone without the right gets 404 (privacy.access)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Model
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm.http import AuthenticatedHttpRequest
from crm.services import organization_set_lead_retention
from privacy import services
from privacy.access import require_personal_data_right
from privacy.forms import EraseForm, RetentionForm
from privacy.models import SubjectKind


def _person(request: AuthenticatedHttpRequest, kind: str, pk: int) -> Model:
    if kind not in SubjectKind.values:
        raise Http404("No such page.")
    if kind == SubjectKind.CONTACT:
        return services.access_contact(request.user, pk)
    return services.access_lead(request.user, pk)


def _export(request: AuthenticatedHttpRequest, kind: str, person: Any) -> dict[str, Any]:
    if kind == SubjectKind.CONTACT:
        return services.contact_export(contact=person, acting_user=request.user)
    return services.lead_export(lead=person, acting_user=request.user)


def _readable(value: Any) -> Any:
    """The export for people: ISO timestamps in the reader's format, an account by its name."""
    if isinstance(value, dict):
        if set(value) == {"id", "name"}:
            return value["name"]
        return {key: _readable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_readable(item) for item in value]
    if isinstance(value, str) and len(value) >= 19 and value[4:5] == "-" and value[10:11] == "T":
        moment = parse_datetime(value)
        if moment is not None:
            return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return value


def _labelled(person: Model, record: dict[str, Any]) -> list[tuple[str, Any]]:
    """The record's fields under their labels in the reader's language."""
    rows = []
    for name, value in record.items():
        try:
            field = person._meta.get_field(name)
        except FieldDoesNotExist:
            field = None
        # Relations seen from the other side have no label of their own: the key stays.
        label = capfirst(str(getattr(field, "verbose_name", name)))
        rows.append((label, value))
    return rows


@login_required
def person_data(request: AuthenticatedHttpRequest, kind: str, pk: int) -> HttpResponse:
    person = _person(request, kind, pk)
    data = _export(request, kind, person)
    if request.GET.get("format") == "json":
        response = HttpResponse(
            json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="{kind}-{pk}-personal-data.json"'
        return response
    shown = _readable(data)
    return render(
        request,
        "privacy/person.html",
        {
            "person": person,
            "kind": kind,
            "data": shown,
            "record": _labelled(person, shown["record"]),
            "pk": pk,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def person_erase(request: AuthenticatedHttpRequest, kind: str, pk: int) -> HttpResponse:
    person: Any = _person(request, kind, pk)
    form = EraseForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and person.erased_at is None:
        try:
            if kind == SubjectKind.CONTACT:
                services.contact_erase(
                    contact=person, acting_user=request.user, reason=form.cleaned_data["reason"]
                )
            else:
                services.lead_erase(
                    lead=person, acting_user=request.user, reason=form.cleaned_data["reason"]
                )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("The person's data is erased."))
            return redirect("privacy:person", kind=kind, pk=pk)
    return render(
        request,
        "privacy/erase.html",
        {
            "person": person,
            "kind": kind,
            "pk": pk,
            "form": form,
            "effects": services.erasure_effects(kind),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def retention(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_personal_data_right(request.user)
    org = request.user.organization
    form = RetentionForm(request.POST or None, instance=org)
    if request.method == "POST" and form.is_valid():
        organization_set_lead_retention(
            organization=org,
            months=form.cleaned_data["lead_retention_months"],
            acting_user=request.user,
        )
        messages.success(request, _("The retention setting is saved."))
        return redirect("privacy:retention")
    return render(
        request, "privacy/retention.html", {"form": form}, status=400 if form.errors else 200
    )
