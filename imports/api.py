"""API v1 of imports: /api/v1/imports/ (create with a file and an optional mapping, read with
counts and progress), /<id>/mapping/ (set the mapping; starts the dry run), /<id>/rows/ (the
dry run's verdicts, paginated), /<id>/commit/, /<id>/cancel/, /<id>/progress/. A user sees
his own jobs only; anyone else's id is a 404."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied as DRFPermissionDenied
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from crm.drf import VisibleViewSet
from imports import selectors, services
from imports.models import ImportJob, ImportKind, ImportRow, MatchChoice
from imports.parsing import MAX_FILE_BYTES


class ImportJobSerializer(serializers.ModelSerializer[ImportJob]):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "kind",
            "file_name",
            "status",
            "headers",
            "mapping",
            "value_map",
            "on_match",
            "unknown_values",
            "total_rows",
            "created_count",
            "updated_count",
            "skipped_count",
            "error_count",
            "message",
            "created_at",
            "finished_at",
            "progress",
        ]
        read_only_fields = fields

    def get_progress(self, job: ImportJob) -> dict[str, Any]:
        return services.job_progress(job)


class ImportCreateSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(choices=ImportKind.choices)
    file = serializers.FileField()
    # Optional: a mapping (JSON {column index: field}) to run the dry run at once.
    mapping = serializers.CharField(required=False)
    on_match = serializers.ChoiceField(choices=MatchChoice.choices, required=False)

    def validate_file(self, value: Any) -> Any:
        if value.size > MAX_FILE_BYTES:
            raise serializers.ValidationError("The file is larger than 50 MB.")
        return value

    def validate_mapping(self, value: str) -> dict[str, str]:
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise serializers.ValidationError("Not JSON.") from exc
        if not isinstance(parsed, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
        ):
            raise serializers.ValidationError("An object of column index -> field name.")
        return parsed


class MappingSerializer(serializers.Serializer[Any]):
    mapping = serializers.DictField(child=serializers.CharField(allow_blank=True))
    value_map = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField(allow_blank=True)),
        required=False,
    )
    on_match = serializers.ChoiceField(choices=MatchChoice.choices, default=MatchChoice.UPDATE)
    save_template = serializers.BooleanField(default=False)


class ImportRowSerializer(serializers.ModelSerializer[ImportRow]):
    class Meta:
        model = ImportRow
        fields = ["row_number", "action", "errors", "message"]
        read_only_fields = fields


def _service_errors(exc: ValidationError) -> DRFValidationError:
    if hasattr(exc, "error_dict"):
        return DRFValidationError(exc.message_dict)
    return DRFValidationError({"non_field_errors": exc.messages})


class ImportJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, VisibleViewSet):
    model = ImportJob
    serializer_class = ImportJobSerializer
    ordering_fields = ["created_at"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return ImportJob.objects.none()
        return super().get_queryset().defer("content").order_by("-created_at", "-pk")

    def _call(self, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except ValidationError as exc:
            raise _service_errors(exc) from exc
        except PermissionDenied as exc:
            raise DRFPermissionDenied(str(exc)) from exc

    @extend_schema(request=ImportCreateSerializer, responses={201: ImportJobSerializer})
    def create(self, request: Request) -> Response:
        serializer = ImportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = data["file"]
        job = self._call(
            services.import_job_create,
            user=self.request.user,
            kind=data["kind"],
            file_name=upload.name,
            content=upload.read(),
        )
        if "mapping" in data:
            self._call(
                services.import_job_set_mapping,
                job=job,
                user=self.request.user,
                mapping=data["mapping"],
                on_match=data.get("on_match", MatchChoice.UPDATE),
            )
            self._call(services.import_request_dry_run, job=job, user=self.request.user)
        job.refresh_from_db()
        return Response(ImportJobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MappingSerializer, responses={200: ImportJobSerializer})
    @action(detail=True, methods=["post"])
    def mapping(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        serializer = MappingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self._call(
            services.import_job_set_mapping,
            job=job,
            user=self.request.user,
            **serializer.validated_data,
        )
        self._call(services.import_request_dry_run, job=job, user=self.request.user)
        job.refresh_from_db()
        return Response(ImportJobSerializer(job).data)

    @extend_schema(request=None, responses={202: ImportJobSerializer})
    @action(detail=True, methods=["post"])
    def commit(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        self._call(services.import_request_commit, job=job, user=self.request.user)
        job.refresh_from_db()
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: ImportJobSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        self._call(services.import_cancel, job=job, user=self.request.user)
        job.refresh_from_db()
        return Response(ImportJobSerializer(job).data)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def progress(self, request: Request, pk: str) -> Response:
        return Response(services.job_progress(self.get_object()))

    @extend_schema(responses={200: ImportRowSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def rows(self, request: Request, pk: str) -> Response:
        job = self.get_object()
        rows = selectors.job_rows(
            self.request.user, job, errors_only=request.query_params.get("errors") == "1"
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(ImportRowSerializer(page, many=True).data)


def register(router: DefaultRouter) -> None:
    router.register("imports", ImportJobViewSet, basename="importjob")
