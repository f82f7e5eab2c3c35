"""API v1 of the sales process: global stages and local processes."""

from __future__ import annotations

from rest_framework import mixins, serializers
from rest_framework.routers import DefaultRouter

from crm.drf import VisibleViewSet
from pipeline.models import (
    GlobalStage,
    LocalStage,
    SalesProcess,
)


class GlobalStageSerializer(serializers.ModelSerializer):
    class Meta:
        model = GlobalStage
        fields = [
            "id",
            "order",
            "name",
            "probability",
            "forecast_category",
            "is_won",
            "is_lost",
            "suppresses_marketing",
        ]


class GlobalStageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, VisibleViewSet):
    model = GlobalStage
    serializer_class = GlobalStageSerializer


class LocalStageSerializer(serializers.ModelSerializer):
    class Meta:
        model = LocalStage
        fields = ["id", "name", "order", "global_stage"]


class SalesProcessSerializer(serializers.ModelSerializer):
    stages = LocalStageSerializer(many=True, read_only=True)

    class Meta:
        model = SalesProcess
        fields = ["id", "sales_company", "name", "stages"]


class SalesProcessViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, VisibleViewSet):
    """Each sales company's local process and how its stages map to the global ones."""

    model = SalesProcess
    serializer_class = SalesProcessSerializer
    prefetch_related = ("stages",)
    filterset_fields = ["sales_company"]


def register(router: DefaultRouter) -> None:
    router.register("stages", GlobalStageViewSet, basename="globalstage")
    router.register("processes", SalesProcessViewSet, basename="salesprocess")
