"""DRF endpoints: budgets, anomaly rules and destinations (CRUD, project key auth) and the
pre-flight check."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from budgets import selectors, services
from budgets.models import AnomalyRule, Budget, Destination
from pricing.money import decimal_string
from tenancy.auth import HasProjectKey, ProjectKeyAuthentication, api_key_of


def _errors(exc: ValidationError) -> Response:
    return Response({"errors": exc.message_dict}, status=400)


class BudgetSerializer(serializers.ModelSerializer[Budget]):
    destinations = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=Destination.objects.all()
    )  # checked against the project by services.budget_save

    class Meta:
        model = Budget
        fields = [
            "id", "name", "scope", "scope_value", "period", "amount_usd", "thresholds",
            "run_cost_cap_usd", "run_tool_call_cap", "destinations", "enabled",
        ]  # fmt: skip
        read_only_fields = ["id"]


class AnomalyRuleSerializer(serializers.ModelSerializer[AnomalyRule]):
    destinations = serializers.PrimaryKeyRelatedField(
        many=True,
        required=False,
        queryset=Destination.objects.all(),
        help_text="ids of the project's destinations; empty: every destination of the project",
    )  # checked against the project by services.anomaly_rule_save

    class Meta:
        model = AnomalyRule
        fields = [
            "id", "metric", "scope", "scope_value", "score_name", "floor", "sensitivity", "sustained",
            "min_volume", "destinations", "enabled", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at"]


HTTP_URL = URLValidator(schemes=["http", "https"])


class DestinationSerializer(serializers.ModelSerializer[Destination]):
    """Each kind takes its own settings: url (slack, webhook), secret (webhook, optional),
    routing_key (pagerduty), to (email). The url, secret and routing key are write-only: the
    answer shows the URL masked and whether a secret or routing key is set."""

    kind = serializers.ChoiceField(choices=Destination.Kind.choices, default=Destination.Kind.SLACK)
    url = serializers.URLField(
        write_only=True, required=False, allow_blank=True, max_length=500, validators=[HTTP_URL],
        help_text="slack: the incoming-webhook URL; webhook: where the JSON is POSTed (write-only)",
    )  # fmt: skip
    webhook_url = serializers.URLField(
        write_only=True, required=False, max_length=500, validators=[HTTP_URL],
        help_text="the former name of url, still accepted (write-only)",
    )  # fmt: skip
    secret = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=200,
        help_text="webhook, optional: signs each body (X-AgentLedger-Signature: sha256=<hex HMAC-SHA256>); write-only",
    )  # fmt: skip
    routing_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=100,
        help_text="pagerduty: the integration key of an Events API v2 integration (write-only)",
    )  # fmt: skip
    to = serializers.CharField(
        required=False, allow_blank=True, max_length=1000, help_text="email: one or more addresses, comma separated"
    )
    masked_url = serializers.CharField(read_only=True)
    has_secret = serializers.BooleanField(read_only=True)
    has_routing_key = serializers.BooleanField(read_only=True)
    enabled = serializers.BooleanField(read_only=True)

    class Meta:
        model = Destination
        fields = [
            "id", "name", "kind", "url", "webhook_url", "secret", "routing_key", "to", "masked_url", "has_secret",
            "has_routing_key", "daily_digest", "enabled", "disabled_reason", "created",
        ]  # fmt: skip
        read_only_fields = ["id", "disabled_reason", "created"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """webhook_url is url by its former name."""
        if "webhook_url" in attrs:
            webhook_url = attrs.pop("webhook_url")
            if attrs.get("url", webhook_url) != webhook_url:
                raise serializers.ValidationError(
                    {"webhook_url": ["give url or webhook_url (its former name), not both"]}
                )
            attrs["url"] = webhook_url
        return attrs


def _write(
    request: Request,
    obj: Budget | AnomalyRule,
    serializer_class: Any,
    save: Callable[[Any, list[int] | None], object],
    *,
    partial: bool,
    refuse: Callable[[dict[str, Any]], dict[str, list[str]] | None] = lambda data: None,
) -> Response:
    """Validate the body, then save through the service with the destinations it names (201 when new)."""
    serializer = serializer_class(obj if obj.pk else None, data=request.data, partial=partial)
    if not serializer.is_valid():
        return Response({"errors": serializer.errors}, status=400)
    data = dict(serializer.validated_data)
    if errors := refuse(data):
        return Response({"errors": errors}, status=400)
    destinations = data.pop("destinations", None)
    destination_ids = None if destinations is None else [d.pk for d in destinations]
    for field, value in data.items():
        setattr(obj, field, value)
    created = obj.pk is None
    try:
        save(obj, destination_ids)
    except ValidationError as exc:
        return _errors(exc)
    return Response(serializer_class(obj).data, status=201 if created else 200)


def _organization_scope(data: dict[str, Any]) -> dict[str, list[str]] | None:
    """A project key must not limit other projects."""
    if data.get("scope") != Budget.Scope.ORGANIZATION:
        return None
    return {"scope": ["organization budgets count every project of the organization: set them in the Django admin"]}


def _budget_write(request: Request, budget: Budget, *, partial: bool) -> Response:
    return _write(request, budget, BudgetSerializer, services.budget_save, partial=partial, refuse=_organization_scope)


class BudgetsApi(APIView):
    """GET/POST /api/v1/budgets."""

    authentication_classes = [ProjectKeyAuthentication]
    permission_classes = [HasProjectKey]

    @extend_schema(responses=BudgetSerializer(many=True), summary="List budgets")
    def get(self, request: Request) -> Response:
        budgets = Budget.objects.filter(project=api_key_of(request).project).prefetch_related("destinations")
        return Response(BudgetSerializer(budgets.order_by("pk"), many=True).data)

    @extend_schema(request=BudgetSerializer, responses={201: BudgetSerializer}, summary="Add a budget")
    def post(self, request: Request) -> Response:
        return _budget_write(request, Budget(project=api_key_of(request).project), partial=False)


class BudgetApi(APIView):
    """GET/PUT/PATCH/DELETE /api/v1/budgets/<id>."""

    authentication_classes = [ProjectKeyAuthentication]
    permission_classes = [HasProjectKey]

    def _get(self, request: Request, pk: int) -> Budget:
        return get_object_or_404(Budget, pk=pk, project=api_key_of(request).project)

    @extend_schema(responses=BudgetSerializer, summary="One budget")
    def get(self, request: Request, pk: int) -> Response:
        return Response(BudgetSerializer(self._get(request, pk)).data)

    @extend_schema(request=BudgetSerializer, responses=BudgetSerializer, summary="Change a budget")
    def put(self, request: Request, pk: int) -> Response:
        return _budget_write(request, self._get(request, pk), partial=False)

    @extend_schema(request=BudgetSerializer, responses=BudgetSerializer, summary="Change some fields")
    def patch(self, request: Request, pk: int) -> Response:
        return _budget_write(request, self._get(request, pk), partial=True)

    @extend_schema(responses={204: None}, summary="Remove a budget")
    def delete(self, request: Request, pk: int) -> Response:
        self._get(request, pk).delete()
        return Response(status=204)


def _anomaly_rule_write(request: Request, rule: AnomalyRule, *, partial: bool) -> Response:
    return _write(request, rule, AnomalyRuleSerializer, services.anomaly_rule_save, partial=partial)


class AnomalyRulesApi(APIView):
    """GET/POST /api/v1/anomaly-rules: which series are watched for anomalies, how closely, and
    who is told. A project gets one rule per metric on its first detection pass (or with the first
    rule added here); disable a rule rather than delete it, or a project left with none gets the
    defaults again."""

    authentication_classes = [ProjectKeyAuthentication]
    permission_classes = [HasProjectKey]

    @extend_schema(responses=AnomalyRuleSerializer(many=True), summary="List anomaly rules")
    def get(self, request: Request) -> Response:
        rules = AnomalyRule.objects.filter(project=api_key_of(request).project).prefetch_related("destinations")
        return Response(AnomalyRuleSerializer(rules.order_by("pk"), many=True).data)

    @extend_schema(request=AnomalyRuleSerializer, responses={201: AnomalyRuleSerializer}, summary="Add an anomaly rule")
    def post(self, request: Request) -> Response:
        return _anomaly_rule_write(request, AnomalyRule(project=api_key_of(request).project), partial=False)


class AnomalyRuleApi(APIView):
    """GET/PUT/PATCH/DELETE /api/v1/anomaly-rules/<id>."""

    authentication_classes = [ProjectKeyAuthentication]
    permission_classes = [HasProjectKey]

    def _get(self, request: Request, pk: int) -> AnomalyRule:
        return get_object_or_404(AnomalyRule, pk=pk, project=api_key_of(request).project)

    @extend_schema(responses=AnomalyRuleSerializer, summary="One anomaly rule")
    def get(self, request: Request, pk: int) -> Response:
        return Response(AnomalyRuleSerializer(self._get(request, pk)).data)

    @extend_schema(request=AnomalyRuleSerializer, responses=AnomalyRuleSerializer, summary="Change an anomaly rule")
    def put(self, request: Request, pk: int) -> Response:
        return _anomaly_rule_write(request, self._get(request, pk), partial=False)

    @extend_schema(request=AnomalyRuleSerializer, responses=AnomalyRuleSerializer, summary="Change some fields")
    def patch(self, request: Request, pk: int) -> Response:
        return _anomaly_rule_write(request, self._get(request, pk), partial=True)

    @extend_schema(
        responses={204: None},
        summary="Remove an anomaly rule",
        description="To silence a rule, set enabled to false instead: a project left with no rule at all "
        "gets the default rules again on the next detection pass.",
    )
    def delete(self, request: Request, pk: int) -> Response:
        self._get(request, pk).delete()
        return Response(status=204)


def _destination_write(request: Request, destination: Destination, *, partial: bool) -> Response:
    serializer = DestinationSerializer(destination if destination.pk else None, data=request.data, partial=partial)
    if not serializer.is_valid():
        return Response({"errors": serializer.errors}, status=400)
    data = dict(serializer.validated_data)
    if data.get("kind", destination.kind) != destination.kind:  # another kind: the old one's settings go
        for field in Destination.FIELD_LABELS:
            setattr(destination, field, "")
    for field, value in data.items():
        setattr(destination, field, value)
    created = destination.pk is None
    try:
        services.destination_save(destination)
    except ValidationError as exc:
        return _errors(exc)
    return Response(DestinationSerializer(destination).data, status=201 if created else 200)


class DestinationsApi(APIView):
    """GET/POST /api/v1/destinations: where alerts go, by kind: slack, webhook, pagerduty, email
    (URLs, secrets and routing keys are write-only)."""

    authentication_classes = [ProjectKeyAuthentication]
    permission_classes = [HasProjectKey]

    @extend_schema(responses=DestinationSerializer(many=True), summary="List destinations")
    def get(self, request: Request) -> Response:
        destinations = Destination.objects.filter(project=api_key_of(request).project).order_by("pk")
        return Response(DestinationSerializer(destinations, many=True).data)

    @extend_schema(request=DestinationSerializer, responses={201: DestinationSerializer}, summary="Add one")
    def post(self, request: Request) -> Response:
        return _destination_write(request, Destination(project=api_key_of(request).project), partial=False)


class DestinationApi(APIView):
    """GET/PATCH/DELETE /api/v1/destinations/<id>."""

    authentication_classes = [ProjectKeyAuthentication]
    permission_classes = [HasProjectKey]

    def _get(self, request: Request, pk: int) -> Destination:
        return get_object_or_404(Destination, pk=pk, project=api_key_of(request).project)

    @extend_schema(responses=DestinationSerializer, summary="One destination")
    def get(self, request: Request, pk: int) -> Response:
        return Response(DestinationSerializer(self._get(request, pk)).data)

    @extend_schema(request=DestinationSerializer, responses=DestinationSerializer, summary="Change some fields")
    def patch(self, request: Request, pk: int) -> Response:
        return _destination_write(request, self._get(request, pk), partial=True)

    @extend_schema(responses={204: None}, summary="Remove a destination")
    def delete(self, request: Request, pk: int) -> Response:
        self._get(request, pk).delete()
        return Response(status=204)


class BudgetCheckApi(APIView):
    """GET /api/v1/budgets/check?agent=&user=&model=: is any budget covering this work exceeded?
    (the calling key's own API-key budgets count too). For a hard stop on the caller's side."""

    authentication_classes = [ProjectKeyAuthentication]
    permission_classes = [HasProjectKey]

    @extend_schema(
        parameters=[OpenApiParameter(name, str, required=False) for name in ("agent", "user", "model")],
        responses=inline_serializer(
            "BudgetCheck",
            {"exceeded": serializers.BooleanField(), "budgets": serializers.ListField(child=serializers.DictField())},
        ),
        summary="Pre-flight budget check",
    )
    def get(self, request: Request) -> Response:
        api_key = api_key_of(request)
        params = {name: request.query_params.get(name) or None for name in ("agent", "user", "model")}
        budgets = selectors.budgets_applicable(api_key.project, api_key=api_key, **params)
        rows = [
            {
                "id": status.budget.pk,
                "name": status.budget.name,
                "scope": status.budget.scope,
                "scope_value": status.budget.scope_value,
                "period": status.budget.period,
                "period_start": status.period.since,
                "period_end": status.period.until,
                "amount_usd": decimal_string(status.budget.amount_usd),
                "spend_usd": decimal_string(status.spend),
                "remaining_usd": decimal_string(max(status.budget.amount_usd - status.spend, Decimal(0))),
                "percent_used": float(round(status.percent, 2)),
                "state": status.state,
            }
            for status in selectors.budget_statuses(budgets)
        ]
        return Response({"exceeded": any(r["state"] == "exceeded" for r in rows), "budgets": rows})
