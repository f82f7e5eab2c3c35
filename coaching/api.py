"""API v1 of coaching: sessions and deal reviews (with their actions and the rep's
acknowledgement), agreed actions (marked done), and the topic list. Same rules as the pages:
reads through the visibility policy (404 for anything not visible), writes through the
services (403 for a visible row the user may not change, 400 with field messages)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from coaching import services
from coaching.models import (
    MAX_SESSION_MINUTES,
    CoachingAction,
    CoachingSession,
    CoachingTopic,
    SessionKind,
)
from crm.drf import VisibleRelatedField, VisibleViewSet
from crm.http import AuthenticatedRequest
from crm.limits import MAX_NAME_LENGTH, MAX_TEXT_LENGTH, check_payload_counts
from crm.models import User
from opportunities.models import Opportunity


class ActionSerializer(serializers.ModelSerializer):
    session = VisibleRelatedField(CoachingSession)
    owner = VisibleRelatedField(User, required=False, allow_null=True)
    text = serializers.CharField(max_length=MAX_NAME_LENGTH)

    class Meta:
        model = CoachingAction
        fields = ["id", "session", "text", "owner", "due_on", "done_at"]
        read_only_fields = ["done_at"]


class NewActionSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_NAME_LENGTH)
    due_on = serializers.DateField()


class SessionSerializer(serializers.ModelSerializer):
    rep = VisibleRelatedField(User)
    kind = serializers.ChoiceField(choices=SessionKind.choices)
    duration_minutes = serializers.IntegerField(min_value=1, max_value=MAX_SESSION_MINUTES)
    topics = VisibleRelatedField(CoachingTopic, many=True, required=False)
    notes = serializers.CharField(max_length=MAX_TEXT_LENGTH, required=False, allow_blank=True)
    opportunity = VisibleRelatedField(Opportunity, required=False, allow_null=True)
    actions = serializers.SerializerMethodField()
    new_actions = NewActionSerializer(many=True, required=False, write_only=True)

    def to_internal_value(self, data: Any) -> Any:
        check_payload_counts(
            data,
            {
                "topics": services.MAX_TOPICS_PER_SESSION,
                "new_actions": services.MAX_ACTIONS_PER_SESSION,
            },
        )
        return super().to_internal_value(data)

    def get_actions(self, session: CoachingSession) -> list[dict[str, Any]]:
        return [
            {"id": a.pk, "text": a.text, "owner": a.owner_id, "due_on": a.due_on,
             "done_at": a.done_at}
            for a in session.actions.all()
        ]  # fmt: skip

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        opportunity = attrs.get("opportunity", getattr(self.instance, "opportunity", None))
        if kind == SessionKind.DEAL_REVIEW and opportunity is None:
            raise serializers.ValidationError(
                {"opportunity": "A deal review is about one opportunity: choose it."}
            )
        if self.instance is not None and "rep" in attrs and attrs["rep"].pk != self.instance.rep_id:
            raise serializers.ValidationError({"rep": "A new rep is a new session."})
        return attrs

    class Meta:
        model = CoachingSession
        fields = [
            "id", "manager", "rep", "sales_company", "kind", "held_on", "duration_minutes",
            "topics", "notes", "opportunity", "acknowledged_at", "created_at", "actions",
            "new_actions",
        ]  # fmt: skip
        read_only_fields = ["manager", "sales_company", "acknowledged_at", "created_at"]


class SessionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    VisibleViewSet,
):
    """Coaching sessions and deal reviews: a rep sees his own, a manager his scope's."""

    model = CoachingSession
    serializer_class = SessionSerializer
    select_related = ("manager", "rep", "sales_company", "opportunity")
    prefetch_related = ("topics", "actions")
    filterset_fields = ["kind", "rep", "manager", "sales_company", "opportunity"]
    ordering_fields = ["held_on", "duration_minutes", "created_at"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return CoachingSession.objects.none()
        return super().get_queryset()

    def perform_create(self, serializer: serializers.BaseSerializer[CoachingSession]) -> None:
        data = dict(serializer.validated_data)
        actions = [services.ActionInput(**a) for a in data.pop("new_actions", [])]
        serializer.instance = services.coaching_session_create(
            acting_user=self.request.user, actions=actions, topics=data.pop("topics", []), **data
        )

    def perform_update(self, serializer: serializers.BaseSerializer[CoachingSession]) -> None:
        session = serializer.instance
        assert session is not None
        data = dict(serializer.validated_data)
        data.pop("rep", None)
        data.pop("new_actions", None)
        serializer.instance = services.coaching_session_update(
            session=session,
            acting_user=self.request.user,
            kind=data.get("kind", session.kind),
            held_on=data.get("held_on", session.held_on),
            duration_minutes=data.get("duration_minutes", session.duration_minutes),
            topics=data.get("topics", list(session.topics.all())),
            notes=data.get("notes", session.notes),
            opportunity=data.get("opportunity", session.opportunity),
        )

    @extend_schema(request=None, responses={200: SessionSerializer})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        """The coached rep says he has read the session (others: 403)."""
        session = services.coaching_session_acknowledge(
            session=self.get_object(), acting_user=request.user
        )
        return Response(SessionSerializer(session, context={"request": request}).data)


class MarkSerializer(serializers.Serializer):
    done = serializers.BooleanField(default=True)


class ActionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, VisibleViewSet
):
    """Agreed actions of the sessions the user sees; ``POST …/mark/`` marks one done or open."""

    model = CoachingAction
    serializer_class = ActionSerializer
    filterset_fields = ["session", "owner"]
    ordering_fields = ["due_on"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return CoachingAction.objects.none()
        return super().get_queryset()

    def perform_create(self, serializer: serializers.BaseSerializer[CoachingAction]) -> None:
        data = serializer.validated_data
        serializer.instance = services.coaching_action_add(
            session=data["session"],
            acting_user=self.request.user,
            action=services.ActionInput(
                text=data["text"], due_on=data["due_on"], owner=data.get("owner")
            ),
        )

    @extend_schema(request=MarkSerializer, responses={200: ActionSerializer})
    @action(detail=True, methods=["post"])
    def mark(self, request: AuthenticatedRequest, pk: str | None = None) -> Response:
        data = MarkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        done = services.coaching_action_mark(
            action=self.get_object(), acting_user=request.user, done=data.validated_data["done"]
        )
        return Response(ActionSerializer(done, context={"request": request}).data)


class TopicSerializer(serializers.ModelSerializer):
    class Meta:
        model = CoachingTopic
        fields = ["id", "name", "is_active"]


class TopicViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, VisibleViewSet):
    """The organization's coaching topics (set up by the admin on the pages)."""

    model = CoachingTopic
    serializer_class = TopicSerializer

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return CoachingTopic.objects.none()
        return super().get_queryset()


def register(router: DefaultRouter) -> None:
    router.register("coaching-sessions", SessionViewSet, basename="coachingsession")
    router.register("coaching-actions", ActionViewSet, basename="coachingaction")
    router.register("coaching-topics", TopicViewSet, basename="coachingtopic")
