"""DRF endpoints of the ingest app: the JSON intake for stacks without OpenTelemetry."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_errors import flatten_errors
from ingest import otlp, services
from ingest.conventions import values
from ingest.records import RawSpan, SpanFields, SpanKind
from tenancy import auth


def _optional_text(max_length: int) -> serializers.CharField:
    return serializers.CharField(max_length=max_length, required=False, allow_blank=True, default="")


_HEX = re.compile(r"^[0-9a-f]+$")
MAX_COUNT = values.MAX_COUNT  # a token count fits a BIGINT column


def normalize_id(value: str, length: int) -> str:
    """Keep an OTel-style hex id (or a UUID) as is; map any other string to a stable hex id."""
    lowered = value.lower().replace("-", "") if len(value) == 36 else value.lower()
    if len(lowered) == length and _HEX.match(lowered) and lowered.strip("0"):
        return lowered
    return hashlib.blake2b(value.encode(), digest_size=length // 2).hexdigest()


class IngestApi(APIView):
    """POST /api/v1/ingest: a batch of spans (and optional run fields) as plain JSON."""

    authentication_classes = [auth.ProjectKeyAuthentication]
    permission_classes = [auth.HasProjectKey]

    class SpanIn(serializers.Serializer[Any]):
        trace_id = serializers.CharField(
            max_length=128,
            help_text="32 hex chars (OTel), a UUID, or any string (hashed to an id)",
        )
        span_id = serializers.CharField(max_length=128, help_text="16 hex chars (OTel) or any string (hashed)")
        parent_span_id = _optional_text(128)
        name = serializers.CharField(max_length=512)
        kind = serializers.ChoiceField(choices=SpanKind.ALL, default=SpanKind.SPAN)
        start_time = serializers.DateTimeField()
        end_time = serializers.DateTimeField(required=False)
        status = serializers.ChoiceField(choices=["ok", "error"], default="ok")
        error_type = _optional_text(200)
        error_message = serializers.CharField(required=False, allow_blank=True, default="")
        provider = _optional_text(100)
        model = serializers.CharField(
            max_length=200,
            required=False,
            allow_blank=True,
            default="",
            help_text="requested model",
        )
        response_model = _optional_text(200)
        input_tokens = serializers.IntegerField(
            min_value=0,
            max_value=MAX_COUNT,
            required=False,
            allow_null=True,
            default=None,
            help_text="including cached tokens",
        )
        output_tokens = serializers.IntegerField(
            min_value=0,
            max_value=MAX_COUNT,
            required=False,
            allow_null=True,
            default=None,
            help_text="including reasoning tokens",
        )
        cache_read_tokens = serializers.IntegerField(
            min_value=0, max_value=MAX_COUNT, required=False, allow_null=True, default=None
        )
        cache_write_tokens = serializers.IntegerField(
            min_value=0, max_value=MAX_COUNT, required=False, allow_null=True, default=None
        )
        reasoning_tokens = serializers.IntegerField(
            min_value=0, max_value=MAX_COUNT, required=False, allow_null=True, default=None
        )
        cost_usd = serializers.DecimalField(
            max_digits=20,
            decimal_places=10,
            min_value=0,
            required=False,
            allow_null=True,
            default=None,
            help_text="cost your client already knows; else AgentLedger prices the call",
        )
        response_id = _optional_text(200)
        tool_name = _optional_text(200)
        tool_call_id = _optional_text(200)
        agent_name = _optional_text(200)
        user_id = _optional_text(200)
        session_id = _optional_text(200)
        input = serializers.JSONField(
            required=False,
            default=None,
            help_text="messages [{role, content}] or any JSON",
        )
        output = serializers.JSONField(required=False, default=None)
        attributes = serializers.DictField(required=False, default=dict)

        def validate(self, data: dict[str, Any]) -> dict[str, Any]:
            end = data.get("end_time") or data["start_time"]
            if end < data["start_time"]:
                raise serializers.ValidationError({"end_time": "is before start_time"})
            # The limits of an OTLP span (attribute count, value length, nesting depth)
            problems = {"attributes": otlp.attributes_problem(data["attributes"])} | {
                name: otlp.value_problem(data[name]) for name in ("input", "output")
            }
            if any(problems.values()):
                raise serializers.ValidationError({name: problem for name, problem in problems.items() if problem})
            return data

    class RunIn(serializers.Serializer[Any]):
        trace_id = serializers.CharField(max_length=128)
        name = _optional_text(512)
        agent_name = _optional_text(200)
        user_id = _optional_text(200)
        session_id = _optional_text(200)
        environment = _optional_text(100)
        tags = serializers.ListField(child=serializers.CharField(max_length=100), required=False, default=list)

    class InputSerializer(serializers.Serializer[Any]):
        spans = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=10_000)
        runs = serializers.ListField(child=serializers.DictField(), required=False, default=list)

    @extend_schema(
        request=inline_serializer(
            "IngestBatch",
            {"spans": SpanIn(many=True), "runs": RunIn(many=True, required=False)},
        ),
        responses={
            200: inline_serializer(
                "IngestResult",
                {
                    "accepted_spans": serializers.IntegerField(),
                    "trace_ids": serializers.ListField(child=serializers.CharField()),
                },
            )
        },
        summary="Send spans without OpenTelemetry",
    )
    def post(self, request: Request) -> Response:
        batch = self.InputSerializer(data=request.data)
        if not batch.is_valid():
            return Response({"errors": flatten_errors(batch.errors)}, status=400)
        spans, span_errors = _validate_each(self.SpanIn, batch.validated_data["spans"], "spans")
        runs_, run_errors = _validate_each(self.RunIn, batch.validated_data["runs"], "runs")
        errors = span_errors | run_errors | _runs_without_spans(runs_, batch.validated_data["spans"])
        if errors:
            return Response({"errors": errors}, status=400)
        items = [_to_span(span, runs_) for span in spans]
        services.ingest_spans(auth.api_key_of(request), items)
        return Response(
            {
                "accepted_spans": len(items),
                "trace_ids": sorted({raw.trace_id for raw, _ in items}),
            }
        )


def _validate_each(
    serializer_class: type[serializers.Serializer[Any]],
    rows: list[dict[str, Any]],
    name: str,
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    valid: list[dict[str, Any]] = []
    errors: dict[str, list[str]] = {}
    for index, row in enumerate(rows):
        serializer = serializer_class(data=row)
        if serializer.is_valid():
            valid.append(serializer.validated_data)
        else:
            errors |= flatten_errors(serializer.errors, f"{name}[{index}]")
    return valid, errors


def _runs_without_spans(runs_: list[dict[str, Any]], spans: list[dict[str, Any]]) -> dict[str, list[str]]:
    trace_ids = {s.get("trace_id") for s in spans if isinstance(s.get("trace_id"), str)}  # unvalidated: any JSON
    return {
        f"runs[{i}].trace_id": ["no span of this batch has this trace_id"]
        for i, r in enumerate(runs_)
        if r["trace_id"] not in trace_ids
    }


def _ns(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=value.tzinfo)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _to_span(span: dict[str, Any], runs_: list[dict[str, Any]]) -> tuple[RawSpan, SpanFields]:
    run = next((r for r in runs_ if r["trace_id"] == span["trace_id"]), {})
    start = _ns(span["start_time"])
    raw = RawSpan(
        trace_id=normalize_id(span["trace_id"], 32),
        span_id=normalize_id(span["span_id"], 16),
        parent_span_id=normalize_id(span["parent_span_id"], 16) if span["parent_span_id"] else "",
        name=span["name"],
        kind=0,
        start_ns=start,
        end_ns=_ns(span["end_time"]) if span.get("end_time") else start,
        attributes=span["attributes"],
        status_code=2 if span["status"] == "error" else 0,
        status_message=span["error_message"],
    )
    fields = SpanFields(
        kind=span["kind"],
        convention="rest",
        display_name=span["name"],
        provider=span["provider"],
        request_model=span["model"],
        response_model=span["response_model"] or span["model"],
        input_tokens=span["input_tokens"],
        output_tokens=span["output_tokens"],
        cache_read_tokens=span["cache_read_tokens"],
        cache_write_tokens=span["cache_write_tokens"],
        reasoning_tokens=span["reasoning_tokens"],
        reported_cost=span["cost_usd"],
        response_id=span["response_id"],
        tool_name=span["tool_name"],
        tool_call_id=span["tool_call_id"],
        is_error=span["status"] == "error",
        error_type=span["error_type"],
        error_message=span["error_message"],
        agent_name=run.get("agent_name") or span["agent_name"],
        user_id=run.get("user_id") or span["user_id"],
        session_id=run.get("session_id") or span["session_id"],
        run_name=run.get("name", ""),
        environment=run.get("environment", ""),
        tags=run.get("tags", []),
        input=span["input"],
        output=span["output"],
    )
    return raw, fields
