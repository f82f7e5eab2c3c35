"""``/api/v1/segment-rules/``: the organization's segment rule set. Everyone reads it (it is
configuration); creating and removing rules is the global admin's (``accounts.segments``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import mixins, serializers

from accounts import segments
from accounts.models import Segment, SegmentRule
from crm.drf import VisibleViewSet


class SegmentRuleSerializer(serializers.ModelSerializer):
    segment = serializers.ChoiceField(choices=Segment.choices)
    order = serializers.IntegerField(min_value=0, max_value=10_000)
    min_lifetime_value = serializers.DecimalField(
        max_digits=18, decimal_places=2, min_value=Decimal(0), required=False, allow_null=True
    )
    min_potential = serializers.DecimalField(
        max_digits=18, decimal_places=2, min_value=Decimal(0), required=False, allow_null=True
    )

    class Meta:
        model = SegmentRule
        fields = ["id", "order", "segment", "min_lifetime_value", "min_potential"]


class SegmentRuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    VisibleViewSet,
):
    """The first rule (by ``order``) whose thresholds an account meets gives its segment at the
    nightly refresh; none met is C. Writes: the global admin (403 for anyone else)."""

    model = SegmentRule
    serializer_class = SegmentRuleSerializer

    def perform_create(self, serializer: serializers.BaseSerializer[SegmentRule]) -> None:
        data: dict[str, Any] = dict(serializer.validated_data)
        serializer.instance = segments.segment_rule_create(acting_user=self.request.user, **data)

    def perform_destroy(self, instance: SegmentRule) -> None:
        segments.segment_rule_delete(rule=instance, acting_user=self.request.user)
