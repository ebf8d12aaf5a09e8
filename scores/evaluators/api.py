"""DRF endpoints: evaluators (LLM-as-judge) of the key's project, CRUD. The judge's API key is
write-only: answers show it masked, and leaving it out of a change keeps it."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from pricing.money import decimal_string
from scores.evaluators import selectors, services
from scores.models import Evaluator
from tenancy.auth import HasProjectKey, ProjectKeyAuthentication, api_key_of


class EvaluatorSerializer(serializers.ModelSerializer[Evaluator]):
    api_key = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="the judge endpoint's key; never shown again (see masked_api_key). Leave it out to keep "
        'the current one, send "" to remove it (then AGENTLEDGER_JUDGE_API_KEY is used, and only '
        "when base_url is empty)",
    )
    masked_api_key = serializers.CharField(read_only=True, help_text='e.g. "sk-…wxyz"; empty: none set')
    spend_today_usd = serializers.SerializerMethodField(help_text="judge cost today, the project's calendar day")

    class Meta:
        model = Evaluator
        fields = [
            "id", "name", "enabled", "agent_name", "run_status", "sample_rate", "min_run_cost_usd", "rubric",
            "verdict_type", "score_name", "judge_model", "base_url", "api_key", "masked_api_key", "daily_cap_usd",
            "spend_today_usd", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at"]

    def get_spend_today_usd(self, evaluator: Evaluator) -> str:
        return decimal_string(selectors.spend_today(evaluator))


def _write(request: Request, evaluator: Evaluator, *, partial: bool) -> Response:
    serializer = EvaluatorSerializer(evaluator if evaluator.pk else None, data=request.data, partial=partial)
    if not serializer.is_valid():
        return Response({"errors": serializer.errors}, status=400)
    data: dict[str, Any] = dict(serializer.validated_data)
    for field, value in data.items():
        setattr(evaluator, field, value)
    created = evaluator.pk is None
    try:
        services.evaluator_save(evaluator)
    except ValidationError as exc:
        return Response({"errors": exc.message_dict}, status=400)
    return Response(EvaluatorSerializer(evaluator).data, status=201 if created else 200)


class EvaluatorsApi(APIView):
    """GET/POST /api/v1/evaluators."""

    authentication_classes = [ProjectKeyAuthentication]
    permission_classes = [HasProjectKey]

    @extend_schema(responses=EvaluatorSerializer(many=True), summary="List evaluators (LLM-as-judge)")
    def get(self, request: Request) -> Response:
        evaluators = Evaluator.objects.filter(project=api_key_of(request).project).select_related("project")
        return Response(EvaluatorSerializer(evaluators.order_by("pk"), many=True).data)

    @extend_schema(
        request=EvaluatorSerializer,
        responses={201: EvaluatorSerializer},
        summary="Add an evaluator",
        description="An LLM judge that grades the project's finished runs: the ones matching agent_name, "
        "run_status and min_run_cost_usd, sampled at sample_rate percent by trace id. The rubric is a Django "
        "template over {{ input }}, {{ output }}, {{ tool_calls }} and {{ run }}. Each verdict becomes a score "
        "(source evaluator, author = the evaluator's name). Errors name the field.",
    )
    def post(self, request: Request) -> Response:
        return _write(request, Evaluator(project=api_key_of(request).project), partial=False)


class EvaluatorApi(APIView):
    """GET/PUT/PATCH/DELETE /api/v1/evaluators/<id>."""

    authentication_classes = [ProjectKeyAuthentication]
    permission_classes = [HasProjectKey]

    def _get(self, request: Request, pk: int) -> Evaluator:
        return get_object_or_404(
            Evaluator.objects.select_related("project"), pk=pk, project=api_key_of(request).project
        )

    @extend_schema(responses=EvaluatorSerializer, summary="One evaluator")
    def get(self, request: Request, pk: int) -> Response:
        return Response(EvaluatorSerializer(self._get(request, pk)).data)

    @extend_schema(request=EvaluatorSerializer, responses=EvaluatorSerializer, summary="Change an evaluator")
    def put(self, request: Request, pk: int) -> Response:
        return _write(request, self._get(request, pk), partial=False)

    @extend_schema(request=EvaluatorSerializer, responses=EvaluatorSerializer, summary="Change some fields")
    def patch(self, request: Request, pk: int) -> Response:
        return _write(request, self._get(request, pk), partial=True)

    @extend_schema(responses={204: None}, summary="Remove an evaluator (and its evaluations; its scores stay)")
    def delete(self, request: Request, pk: int) -> Response:
        self._get(request, pk).delete()
        return Response(status=204)
