"""DRF endpoints: /api/v1/monitors (CRUD, project key auth, OpenAPI) and the one-click templates.
A monitor reads back with its current state: its open incidents per scope value and the values
of its last evaluation."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from budgets.models import Destination
from budgets.monitors import services
from budgets.monitors.models import Monitor, MonitorIncident
from budgets.monitors.templates import TEMPLATES
from tenancy.auth import HasProjectKey, ProjectKeyAuthentication, api_key_of
from tenancy.models import Project


class IncidentSerializer(serializers.ModelSerializer[MonitorIncident]):
    last_value = serializers.DecimalField(max_digits=24, decimal_places=6, normalize_output=True, allow_null=True)
    threshold = serializers.DecimalField(max_digits=20, decimal_places=6, normalize_output=True, allow_null=True)

    class Meta:
        model = MonitorIncident
        fields = ["scope_value", "state", "opened_at", "escalated_at", "last_value", "threshold", "no_data"]
        read_only_fields = fields


class MonitorSerializer(serializers.ModelSerializer[Monitor]):
    template = serializers.ChoiceField(
        choices=sorted(TEMPLATES), write_only=True, required=False,
        help_text="start from this template (GET /api/v1/monitors/templates); the other fields override it",
    )  # fmt: skip
    warning = serializers.DecimalField(
        max_digits=20, decimal_places=6, normalize_output=True, allow_null=True, required=False
    )
    critical = serializers.DecimalField(max_digits=20, decimal_places=6, normalize_output=True)
    # Checked against the project by services.monitor_save.
    destinations = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=Destination.objects.all(),
        help_text="ids of the project's destinations; empty: every destination of the project",
    )  # fmt: skip
    state = serializers.SerializerMethodField(help_text="ok, or the worst state of its open incidents")
    incidents = serializers.SerializerMethodField(help_text="the open incidents, one per scope value")

    class Meta:
        model = Monitor
        fields = [
            "id", "template", "name", "metric", "score_name", "scope", "scope_value", "window_minutes", "comparison",
            "warning", "critical", "min_volume", "no_data", "recovery_evaluations", "muted_until", "destinations",
            "enabled", "created_at", "state", "incidents", "last_evaluated_at", "last_values",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at", "last_evaluated_at", "last_values"]

    def _open(self, monitor: Monitor) -> list[MonitorIncident]:
        cached = getattr(monitor, "open_incidents", None)
        if cached is None:
            cached = list(open_incidents(monitor.incidents.all()))
        return list(cached)

    @extend_schema_field(serializers.ChoiceField(choices=["ok", "warning", "critical"]))
    def get_state(self, monitor: Monitor) -> str:
        states = {i.state for i in self._open(monitor)}
        return next((s for s in ("critical", "warning") if s in states), "ok")

    @extend_schema_field(IncidentSerializer(many=True))
    def get_incidents(self, monitor: Monitor) -> list[dict[str, Any]]:
        return list(IncidentSerializer(self._open(monitor), many=True).data)


def open_incidents(incidents: QuerySet[MonitorIncident]) -> QuerySet[MonitorIncident]:
    return incidents.filter(state__in=MonitorIncident.OPEN).order_by("scope_value")


def _monitors(project: Project) -> QuerySet[Monitor]:
    opened = Prefetch("incidents", queryset=open_incidents(MonitorIncident.objects.all()), to_attr="open_incidents")
    return Monitor.objects.filter(project=project).prefetch_related("destinations", opened).order_by("pk")


def _write(request: Request, monitor: Monitor, *, partial: bool) -> Response:
    """Validate the body (a template's settings under it, when it names one), then save through
    the service with the destinations it names (201 when new). Nothing is saved on a 400."""
    data: Any = request.data
    template = data.get("template") if isinstance(data, dict) else None
    if template is not None and (not isinstance(template, str) or template not in TEMPLATES):
        return Response({"errors": {"template": [f"no such template; one of {', '.join(sorted(TEMPLATES))}"]}}, 400)
    if template is not None:
        data = {**TEMPLATES[template], **data}
    serializer = MonitorSerializer(monitor if monitor.pk else None, data=data, partial=partial)
    if not serializer.is_valid():
        return Response({"errors": serializer.errors}, status=400)
    fields = dict(serializer.validated_data)
    fields.pop("template", None)
    destinations = fields.pop("destinations", None)
    for field, value in fields.items():
        setattr(monitor, field, value)
    created = monitor.pk is None
    try:
        services.monitor_save(monitor, None if destinations is None else [d.pk for d in destinations])
    except ValidationError as exc:
        return Response({"errors": exc.message_dict}, status=400)
    return Response(MonitorSerializer(monitor).data, status=201 if created else 200)


class MonitorsApi(APIView):
    """GET/POST /api/v1/monitors: thresholds on a metric over a sliding window, judged every minute."""

    authentication_classes = [ProjectKeyAuthentication]
    permission_classes = [HasProjectKey]

    @extend_schema(responses=MonitorSerializer(many=True), summary="List monitors and their state")
    def get(self, request: Request) -> Response:
        return Response(MonitorSerializer(_monitors(api_key_of(request).project), many=True).data)

    @extend_schema(
        request=MonitorSerializer,
        responses={201: MonitorSerializer},
        summary="Add a monitor",
        description="Rates are fractions (0.05 = 5%), latency in ms, money in USD. With `template`, the "
        "template's settings are the defaults and the body's fields override them.",
    )
    def post(self, request: Request) -> Response:
        return _write(request, Monitor(project=api_key_of(request).project), partial=False)


class MonitorApi(APIView):
    """GET/PUT/PATCH/DELETE /api/v1/monitors/<id>."""

    authentication_classes = [ProjectKeyAuthentication]
    permission_classes = [HasProjectKey]

    def _get(self, request: Request, pk: int) -> Monitor:
        return get_object_or_404(_monitors(api_key_of(request).project), pk=pk)

    @extend_schema(responses=MonitorSerializer, summary="One monitor and its state")
    def get(self, request: Request, pk: int) -> Response:
        return Response(MonitorSerializer(self._get(request, pk)).data)

    @extend_schema(request=MonitorSerializer, responses=MonitorSerializer, summary="Change a monitor")
    def put(self, request: Request, pk: int) -> Response:
        return _write(request, self._get(request, pk), partial=False)

    @extend_schema(request=MonitorSerializer, responses=MonitorSerializer, summary="Change some fields")
    def patch(self, request: Request, pk: int) -> Response:
        return _write(request, self._get(request, pk), partial=True)

    @extend_schema(responses={204: None}, summary="Remove a monitor")
    def delete(self, request: Request, pk: int) -> Response:
        self._get(request, pk).delete()
        return Response(status=204)


class MonitorTemplatesApi(APIView):
    """GET /api/v1/monitors/templates: the one-click monitors, to POST as {"template": id}."""

    authentication_classes = [ProjectKeyAuthentication]
    permission_classes = [HasProjectKey]

    @extend_schema(
        responses=inline_serializer(
            "MonitorTemplate",
            {"id": serializers.CharField(), "name": serializers.CharField(), "metric": serializers.CharField()},
            many=True,
        ),
        summary="One-click monitor templates",
    )
    def get(self, request: Request) -> Response:
        return Response([{"id": key, **fields} for key, fields in TEMPLATES.items()])
