"""API v1 of GDPR tools: /api/v1/privacy/<contacts|leads>/<id>/export/ and /erase/."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.http import AuthenticatedRequest
from privacy import services
from privacy.models import SubjectKind


class EraseSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=services.MAX_REASON)


def _person(request: AuthenticatedRequest, kind: str, pk: int) -> Any:
    if kind == SubjectKind.CONTACT:
        return services.access_contact(request.user, pk)
    return services.access_lead(request.user, pk)


class ExportView(APIView):
    kind = SubjectKind.CONTACT

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, pk: int) -> Response:
        req: Any = request
        person = _person(req, self.kind, pk)
        if self.kind == SubjectKind.CONTACT:
            data = services.contact_export(contact=person, acting_user=req.user)
        else:
            data = services.lead_export(lead=person, acting_user=req.user)
        return Response(data)


class EraseView(APIView):
    kind = SubjectKind.CONTACT

    @extend_schema(request=EraseSerializer, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        req: Any = request
        person = _person(req, self.kind, pk)
        serializer = EraseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reason = serializer.validated_data["reason"]
        if person.erased_at is not None:
            return Response({"id": person.pk, "erased_at": person.erased_at})
        try:
            if self.kind == SubjectKind.CONTACT:
                person = services.contact_erase(contact=person, acting_user=req.user, reason=reason)
            else:
                person = services.lead_erase(lead=person, acting_user=req.user, reason=reason)
        except ValidationError as exc:
            return Response(exc.message_dict, status=status.HTTP_400_BAD_REQUEST)
        return Response({"id": person.pk, "erased_at": person.erased_at})


urlpatterns = [
    path("privacy/contacts/<int:pk>/export/", ExportView.as_view(kind=SubjectKind.CONTACT)),
    path("privacy/contacts/<int:pk>/erase/", EraseView.as_view(kind=SubjectKind.CONTACT)),
    path("privacy/leads/<int:pk>/export/", ExportView.as_view(kind=SubjectKind.LEAD)),
    path("privacy/leads/<int:pk>/erase/", EraseView.as_view(kind=SubjectKind.LEAD)),
]
