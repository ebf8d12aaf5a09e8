"""DRF endpoints: POST a batch of scores (project key), list them with filters (key or session).

Each item of a batch is validated alone: the good ones are stored, the bad ones come back named
by index and field. The answer is 200 when at least one score was stored (like OTLP's
partial_success), 400 when none was."""

from __future__ import annotations

import math
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from aggregates.api import PROJECT_PARAM, BadParams, QueryApi, RangeParams
from ingest.api import normalize_id
from scores import selectors, services
from scores.models import Score
from tenancy.auth import api_key_of

MAX_BATCH = 10_000
DataType = Score.DataType


@extend_schema_field({"oneOf": [{"type": "number"}, {"type": "boolean"}], "nullable": True})
class ScoreValueField(serializers.Field):  # type: ignore[type-arg]
    """A JSON number, or true/false (a boolean score: stored as 1 or 0)."""

    default_error_messages = {"invalid": "must be a number or true/false"}

    def to_internal_value(self, data: Any) -> float | bool:
        if isinstance(data, bool):
            return data
        if isinstance(data, int | float) and math.isfinite(data):
            return float(data)
        self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value


class ScoreIn(serializers.Serializer[Any]):
    trace_id = serializers.CharField(
        max_length=128, help_text="the run: 32 hex chars (OTel), a UUID, or the string sent to /api/v1/ingest"
    )
    span_id = serializers.CharField(
        max_length=128, required=False, allow_blank=True, default="", help_text="a span of the run (optional)"
    )
    name = serializers.CharField(max_length=200, help_text="what is scored, e.g. helpfulness, grounded")
    value = ScoreValueField(required=False, allow_null=True, default=None)
    label = serializers.CharField(  # type: ignore[assignment]  # a field, not Field.label (DRF pops declared fields)
        max_length=200, required=False, allow_blank=True, default="", help_text="a category, or pass/fail"
    )
    data_type = serializers.ChoiceField(
        choices=DataType.choices,
        required=False,
        help_text="default: boolean for true/false, numeric for a number, categorical for a label alone",
    )
    explanation = serializers.CharField(
        max_length=services.MAX_EXPLANATION, required=False, allow_blank=True, default=""
    )
    author = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="who scored (an end user, your evaluator); default: the API key's prefix. "
        "Each author keeps their own score of a run.",
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        value, label = data["value"], data["label"]
        kind = data.get("data_type") or _kind_of(value, label)
        if kind == DataType.BOOLEAN:
            if value not in (True, False):  # 1.0 == True and 0.0 == False as well
                raise serializers.ValidationError({"value": "a boolean score needs true/false (or 1/0)"})
        elif kind == DataType.NUMERIC:
            if value is None or isinstance(value, bool):
                raise serializers.ValidationError({"value": "a numeric score needs a number"})
        elif kind == DataType.CATEGORICAL and not label:
            raise serializers.ValidationError({"label": "a categorical score needs a label"})
        elif not kind:
            raise serializers.ValidationError({"value": "give a value (a number or true/false) or a label"})
        data["data_type"] = kind
        data["value"] = None if value is None else float(value)
        return data


def _kind_of(value: float | bool | None, label: str) -> str:
    if isinstance(value, bool):
        return DataType.BOOLEAN
    if value is not None:
        return DataType.NUMERIC
    return DataType.CATEGORICAL if label else ""


class ScoreOut(serializers.ModelSerializer[Score]):
    class Meta:
        model = Score
        fields = [
            "id", "trace_id", "span_id", "name", "data_type", "value", "label", "explanation",
            "source", "author", "created_at", "updated_at",
        ]  # fmt: skip


class Rejection(serializers.Serializer[Any]):
    index = serializers.IntegerField(help_text="position of the item in the batch, from 0")
    field = serializers.CharField(allow_null=True, help_text="null when the item as a whole is wrong")
    error = serializers.CharField()


class ScorePagination(CursorPagination):
    ordering = "-created_at"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


class ScoreListParams(RangeParams):
    default_since = None

    trace_id = serializers.CharField(required=False)
    span_id = serializers.CharField(required=False)
    name = serializers.CharField(required=False)
    source = serializers.ChoiceField(choices=Score.Source.choices, required=False)  # type: ignore[assignment]  # as label above
    author = serializers.CharField(required=False, allow_blank=True)
    cursor = serializers.CharField(required=False, help_text="from `next`/`previous`")
    limit = serializers.IntegerField(min_value=1, max_value=ScorePagination.max_page_size, required=False)


class ScoresApi(QueryApi):
    """GET/POST /api/v1/scores"""

    Params = ScoreListParams

    @extend_schema(
        operation_id="scores_list",
        parameters=[ScoreListParams, PROJECT_PARAM],
        responses=inline_serializer(
            "ScorePage",
            {
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": ScoreOut(many=True),
            },
        ),
        summary="Scores, newest first (cursor pagination)",
        description="The project's scores from every source (api, annotation, otel, evaluator). "
        "`since`/`until` select by when a score was first received; `trace_id` and `span_id` take "
        "the same forms as intake (hex ids, UUIDs or the strings sent to /api/v1/ingest).",
    )
    def get(self, request: Request) -> Response:
        project, params = self.parse(request)
        filters: dict[str, str] = {k: params[k] for k in ("name", "source", "author") if k in params}
        if "trace_id" in params:
            filters["trace_id"] = normalize_id(params["trace_id"], 32)
        if "span_id" in params:
            filters["span_id"] = normalize_id(params["span_id"], 16)
        scores = selectors.scores_for_project(project, span=params["range"], **filters)
        paginator = ScorePagination()
        try:
            page = paginator.paginate_queryset(scores, request, view=self)
        except NotFound:
            raise BadParams({"cursor": ["invalid cursor"]}) from None
        return paginator.get_paginated_response(ScoreOut(page, many=True).data)

    @extend_schema(
        operation_id="scores_create",
        request=ScoreIn(many=True),
        responses={
            (200, "application/json"): inline_serializer(
                "ScoreBatchResult",
                {"accepted": serializers.IntegerField(), "rejected": Rejection(many=True)},
            ),
            (400, "application/json"): OpenApiTypes.OBJECT,
        },
        summary="Send scores (a batch; a re-sent score replaces the one before it)",
        description='The body is a JSON list of scores, or `{"scores": [...]}`. Each item is checked '
        "alone: the good ones are stored, the bad ones are listed in `rejected` with their index and "
        "field. 200 when at least one score was stored; 400 when none was (the same body), or when the "
        "body is not a list of scores. A score is one per run, span, name, source and author: sending "
        "it again replaces its value, label and explanation. Needs the project's API key.",
    )
    def post(self, request: Request) -> Response:
        api_key = api_key_of(request)
        items = request.data.get("scores") if isinstance(request.data, dict) else request.data
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            message = f'expected a JSON list of 1 to {MAX_BATCH} scores, or {{"scores": [...]}}'
            return Response({"errors": {"body": [message]}}, status=400)
        accepted: list[services.NewScore] = []
        rejected: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            serializer = ScoreIn(data=item)
            if serializer.is_valid():
                accepted.append(_new_score(serializer.validated_data, author=api_key.prefix))
            else:
                rejected.extend(_rejections(index, serializer.errors))
        if accepted:
            services.scores_upsert(api_key.project, accepted)
        return Response({"accepted": len(accepted), "rejected": rejected}, status=200 if accepted else 400)


def _new_score(data: dict[str, Any], *, author: str) -> services.NewScore:
    return services.NewScore(
        trace_id=normalize_id(data["trace_id"], 32),
        span_id=normalize_id(data["span_id"], 16) if data["span_id"] else "",
        name=data["name"],
        data_type=data["data_type"],
        value=data["value"],
        label=data["label"],
        explanation=data["explanation"],
        source=Score.Source.API,
        author=data["author"] or author,
    )


def _rejections(index: int, errors: Any) -> list[dict[str, Any]]:
    """DRF's errors of one item as [{"index": 2, "field": "value", "error": "..."}]."""
    out = []
    for field, messages in errors.items():
        for message in messages if isinstance(messages, list) else [messages]:
            named = None if field == "non_field_errors" else field
            out.append({"index": index, "field": named, "error": str(message)})
    return out
