"""DRF query API: metrics from the rollups, runs and run trees, always scoped to one project.

Auth: the project's API key (as for intake), or a signed-in session whose user is a member of
the project's organization, naming the project with `?project=<id or org-slug/project-slug>`.
Unknown parameters and bad values answer 400 `{"errors": {"<parameter>": ["..."]}}`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import APIException, NotFound, PermissionDenied
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from aggregates import selectors as aggregate_selectors
from ingest import diagnostics, selectors, timeranges
from ingest.api import normalize_id
from ingest.models import Run, Span
from pricing.money import decimal_string
from tenancy import selectors as tenancy_selectors
from tenancy.auth import ProjectKeyAuthentication
from tenancy.models import ApiKey, Project

MAX_POINTS = 5000  # per series in a timeseries answer


class ProjectKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Documents ProjectKeyAuthentication (intake and query) in the OpenAPI schema."""

    target_class = "tenancy.auth.ProjectKeyAuthentication"
    name = "projectKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "the project's API key (al_…)"}


class BadParams(APIException):
    status_code = 400
    default_code = "bad_parameters"

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(detail={"errors": errors})


class HasProjectKeyOrSession(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        signed_in = getattr(request.user, "is_authenticated", False)
        return isinstance(request.auth, ApiKey) or bool(signed_in)


PROJECT_PARAM = OpenApiParameter(
    "project",
    str,
    description="with session auth: the project id or org-slug/project-slug "
    "(with a key: optional, must be the key's project)",
)
RANGE_HELP = (
    "today, yesterday, 7d, 30d (any <N>d: the last N calendar days including today, in the "
    "project's time zone), a date (YYYY-MM-DD: that local day), or an ISO 8601 timestamp "
    "(naive ones in the project's zone)."
)


class RangeParams(serializers.Serializer[Any]):
    default_since: ClassVar[str | None] = timeranges.DEFAULT_SINCE

    since = serializers.CharField(
        required=False,
        help_text=f"start of the range (default 7d): {RANGE_HELP} A named range or date "
        "without `until` means exactly that range, so `since=yesterday` is yesterday.",
    )
    until = serializers.CharField(
        required=False,
        help_text=f"end of the range, exclusive (named ranges and dates: their end): {RANGE_HELP}",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        project: Project = self.context["project"]
        try:
            attrs["range"] = timeranges.resolve(
                attrs.pop("since", None),
                attrs.pop("until", None),
                project.tz,
                timezone.now(),
                default_since=self.default_since,
            )
        except timeranges.RangeError as exc:
            raise serializers.ValidationError({exc.param: [exc.message]}) from None
        return attrs


class MetricParams(RangeParams):
    group_by = serializers.ChoiceField(choices=aggregate_selectors.GROUPS, required=False)
    agent = serializers.CharField(required=False, allow_blank=True)
    model = serializers.CharField(required=False, allow_blank=True)
    user = serializers.CharField(required=False, allow_blank=True)
    tool = serializers.CharField(required=False, allow_blank=True)


class QueryApi(APIView):
    authentication_classes = [ProjectKeyAuthentication, SessionAuthentication]
    permission_classes = [HasProjectKeyOrSession]
    Params: ClassVar[type[serializers.Serializer[Any]]]

    def parse(self, request: Request) -> tuple[Project, dict[str, Any]]:
        allowed = {*self.Params().fields, "project"}
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise BadParams({name: ["unknown parameter"] for name in unknown})
        project = _project(request)
        params = self.Params(data=request.query_params.dict(), context={"project": project})
        if not params.is_valid():
            raise BadParams({k: [str(e) for e in v] for k, v in params.errors.items()})
        return project, dict(params.validated_data)


def _project(request: Request) -> Project:
    ref = request.query_params.get("project", "")
    if isinstance(request.auth, ApiKey):
        project = request.auth.project
        if ref and ref not in (str(project.pk), str(project)):
            raise PermissionDenied("project: the API key belongs to another project")
        return project
    if not ref:
        raise BadParams({"project": ["required with session auth: a project id or org-slug/project-slug"]})
    member_of = tenancy_selectors.project_for_user(request.user, ref)
    if member_of is None:
        raise NotFound("project: no such project in your organizations")
    return member_of


def _filters(params: dict[str, Any]) -> dict[str, str]:
    return {name: params[name] for name in aggregate_selectors.FILTERS if name in params}


# --- Metrics -------------------------------------------------------------------------------


class LatencyOut(serializers.Serializer[Any]):
    p50 = serializers.FloatField(allow_null=True)
    p90 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)


class SummaryRowOut(serializers.Serializer[Any]):
    group = serializers.CharField(allow_null=True, help_text="the group's value (api_key: the key's prefix)")
    runs = serializers.IntegerField(allow_null=True)
    failed_runs = serializers.IntegerField(allow_null=True)
    llm_calls = serializers.IntegerField(allow_null=True)
    failed_llm_calls = serializers.IntegerField(allow_null=True)
    tool_calls = serializers.IntegerField(allow_null=True)
    tool_errors = serializers.IntegerField(allow_null=True)
    tool_error_rate = serializers.FloatField(allow_null=True)
    guardrail_trips = serializers.IntegerField(
        allow_null=True, help_text="guardrail verdicts other than allow/pass (runs tables only)"
    )
    input_tokens = serializers.IntegerField(allow_null=True)
    output_tokens = serializers.IntegerField(allow_null=True)
    cache_read_tokens = serializers.IntegerField(allow_null=True)
    cache_write_tokens = serializers.IntegerField(allow_null=True)
    reasoning_tokens = serializers.IntegerField(allow_null=True)
    cost_usd = serializers.CharField(allow_null=True, help_text="decimal string, USD")
    unpriced_calls = serializers.IntegerField(allow_null=True)
    provider_errors = serializers.IntegerField(
        allow_null=True,
        help_text="failed LLM calls that were the provider's: 429, 5xx, overloaded (LLM call tables only)",
    )
    latency_ms = LatencyOut()


class SummaryApi(QueryApi):
    """GET /api/v1/metrics/summary"""

    Params = MetricParams

    @extend_schema(
        operation_id="metrics_summary",
        parameters=[MetricParams, PROJECT_PARAM],
        responses=inline_serializer(
            "MetricsSummary",
            {
                "since": serializers.DateTimeField(),
                "until": serializers.DateTimeField(),
                "group_by": serializers.CharField(allow_null=True),
                "latency_of": serializers.ChoiceField(
                    choices=["run", "llm_call", "tool_call"],
                    help_text="which duration latency_ms describes",
                ),
                "rows": SummaryRowOut(many=True),
                "total": SummaryRowOut(help_text="all rows together (latency over every row's durations)"),
            },
        ),
        summary="Totals and latency percentiles per agent, model, provider, user, key, tool or status",
        description="Rows from the hourly/daily rollups, each run counted in the hour it started. "
        "group_by agent/api_key/status reads runs, user (or a user filter) runs per user, both with "
        "run duration as latency; model/provider (or a model filter) reads LLM calls (call duration; "
        "run and tool fields are null); tool (or a tool filter) reads tool calls (tool duration). "
        "Combinations no table holds (e.g. status with a model filter) are a 400 naming the parameter. "
        "The range is widened to whole UTC hours. Without group_by, one row totals the range.",
    )
    def get(self, request: Request) -> Response:
        project, params = self.parse(request)
        try:
            data = aggregate_selectors.summary(
                project,
                params["range"],
                group_by=params.get("group_by"),
                filters=_filters(params),
            )
        except aggregate_selectors.QueryError as exc:
            raise BadParams({exc.param: [exc.message]}) from None
        for row in [*data["rows"], data["total"]]:
            if row["cost_usd"] is not None:
                row["cost_usd"] = decimal_string(row["cost_usd"])
        return Response(data)


class TimeseriesParams(MetricParams):
    metric = serializers.ChoiceField(choices=aggregate_selectors.METRICS)
    interval = serializers.ChoiceField(choices=aggregate_selectors.INTERVALS, default="hour")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        span = attrs["range"]
        step = timeranges.HOUR if attrs["interval"] == "hour" else timeranges.DAY
        if (span.until - span.since) / step > MAX_POINTS:
            raise serializers.ValidationError(
                {"interval": [f"more than {MAX_POINTS} points: use a longer interval or a shorter range"]}
            )
        return attrs


class TimeseriesApi(QueryApi):
    """GET /api/v1/metrics/timeseries"""

    Params = TimeseriesParams

    @extend_schema(
        operation_id="metrics_timeseries",
        parameters=[TimeseriesParams, PROJECT_PARAM],
        responses=inline_serializer(
            "MetricsTimeseries",
            {
                "since": serializers.DateTimeField(),
                "until": serializers.DateTimeField(),
                "metric": serializers.CharField(),
                "interval": serializers.CharField(),
                "group_by": serializers.CharField(allow_null=True),
                "buckets": serializers.ListField(
                    child=serializers.DateTimeField(),
                    help_text="start of each point: UTC hours, or the project's local midnights",
                ),
                "series": inline_serializer(
                    "MetricsSeries",
                    {
                        "group": serializers.CharField(allow_null=True),
                        "values": serializers.ListField(
                            child=serializers.JSONField(),
                            help_text="one per bucket; cost as decimal strings, p95_latency in ms or null",
                        ),
                    },
                    many=True,
                ),
            },
        ),
        summary="One metric over time (cost, runs, errors, tokens, p95 latency), per group",
    )
    def get(self, request: Request) -> Response:
        project, params = self.parse(request)
        try:
            data = aggregate_selectors.timeseries(
                project,
                params["range"],
                metric=params["metric"],
                interval=params["interval"],
                group_by=params.get("group_by"),
                filters=_filters(params),
            )
        except aggregate_selectors.QueryError as exc:
            raise BadParams({exc.param: [exc.message]}) from None
        if data["metric"] == "cost":
            for series in data["series"]:
                series["values"] = [decimal_string(v) for v in series["values"]]
        return Response(data)


# --- Runs ----------------------------------------------------------------------------------


class RunOut(serializers.ModelSerializer[Run]):
    api_key = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "trace_id", "name", "agent_name", "user_id", "session_id", "environment",
            "service_name", "tags", "api_key", "status", "error_message", "has_root",
            "start_time", "end_time", "duration_ms", "span_count", "llm_calls",
            "failed_llm_calls", "tool_calls", "tool_errors", "guardrail_trips", "input_tokens",
            "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd",
            "unpriced_calls",
        ]  # fmt: skip

    @extend_schema_field(OpenApiTypes.STR)
    def get_api_key(self, run: Run) -> str | None:
        return run.api_key.prefix if run.api_key else None


class RunPagination(CursorPagination):
    ordering = "-start_time"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


class RunListParams(RangeParams):
    default_since = None

    agent = serializers.CharField(required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=Run.Status.values, required=False)
    model = serializers.CharField(required=False)
    user = serializers.CharField(required=False, allow_blank=True)
    session = serializers.CharField(required=False, allow_blank=True)
    min_cost = serializers.DecimalField(max_digits=20, decimal_places=10, min_value=0, required=False)
    min_duration = serializers.FloatField(min_value=0, required=False, help_text="milliseconds")
    cursor = serializers.CharField(required=False, help_text="from `next`/`previous`")
    limit = serializers.IntegerField(min_value=1, max_value=RunPagination.max_page_size, required=False)


class RunListApi(QueryApi):
    """GET /api/v1/runs"""

    Params = RunListParams

    @extend_schema(
        operation_id="runs_list",
        parameters=[RunListParams, PROJECT_PARAM],
        responses=inline_serializer(
            "RunPage",
            {
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": RunOut(many=True),
            },
        ),
        summary="Runs, newest first (cursor pagination)",
    )
    def get(self, request: Request) -> Response:
        project, params = self.parse(request)
        runs = selectors.runs_for_project(
            project,
            span=params["range"],
            **{k: params[k] for k in RUN_FILTERS if k in params},
        )
        paginator = RunPagination()
        try:
            page = paginator.paginate_queryset(runs, request, view=self)
        except NotFound:
            raise BadParams({"cursor": ["invalid cursor"]}) from None
        return paginator.get_paginated_response(RunOut(page, many=True).data)


RUN_FILTERS = ("agent", "status", "model", "user", "session", "min_cost", "min_duration")


class SpanOut(serializers.ModelSerializer[Span]):
    class Meta:
        model = Span
        fields = [
            "span_id", "parent_span_id", "name", "display_name", "kind", "start_time",
            "end_time", "duration_ms", "is_error", "error_type", "error_message", "provider",
            "request_model", "response_model", "input_tokens", "output_tokens",
            "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd",
            "cost_source", "counts_usage", "tool_name", "tool_call_id", "agent_name",
            "input", "output", "attributes", "events",
        ]  # fmt: skip


class RunDetailApi(QueryApi):
    """GET /api/v1/runs/<trace_id>"""

    class Params(serializers.Serializer[Any]):
        pass

    @extend_schema(
        operation_id="runs_retrieve",
        parameters=[PROJECT_PARAM],
        responses=inline_serializer(
            "RunTree",
            {
                "run": RunOut(),
                "spans": serializers.ListField(
                    child=serializers.DictField(),
                    help_text="top-level spans, each with its `children` (same shape), by start time",
                ),
            },
        ),
        summary="A run with its span tree",
    )
    def get(self, request: Request, trace_id: str) -> Response:
        project, _ = self.parse(request)
        found = selectors.run_tree(project, normalize_id(trace_id, 32))
        if found is None:
            raise NotFound("no such run in this project")
        run, roots = found
        return Response({"run": RunOut(run).data, "spans": _tree_json(roots)})


def _tree_json(roots: list[selectors.SpanNode]) -> list[dict[str, Any]]:
    """Nested dicts, built without recursion (a malformed trace may nest very deeply)."""
    data: dict[int, dict[str, Any]] = {}
    stack = list(roots)
    order = []
    while stack:
        node = stack.pop()
        data[id(node)] = {**SpanOut(node.span).data, "children": []}
        order.append(node)
        stack.extend(node.children)
    for node in order:
        data[id(node)]["children"] = [data[id(c)] for c in node.children]
    return [data[id(r)] for r in roots]


class SpanRefOut(serializers.Serializer[Any]):
    trace_id = serializers.CharField()
    span_id = serializers.CharField()


class FindingOut(serializers.Serializer[Any]):
    name = serializers.CharField(help_text="the attribute key, warning code or model")
    text = serializers.CharField()
    spans = serializers.IntegerField()
    example = SpanRefOut()


class DiagnosticsOut(serializers.Serializer[Any]):
    senders = inline_serializer(
        "Sender",
        {
            "scope": serializers.CharField(help_text="instrumentation scope (library) name"),
            "version": serializers.CharField(),
            "sdk": serializers.CharField(help_text="OpenTelemetry SDK language and version"),
            "spans": serializers.IntegerField(),
            "last_seen": serializers.DateTimeField(),
        },
        many=True,
    )
    unmapped_keys = FindingOut(many=True)
    usage_warnings = FindingOut(many=True)
    cost_disagreements = inline_serializer(
        "CostDisagreement",
        {
            "model": serializers.CharField(),
            "spans": serializers.IntegerField(),
            "reported_usd": serializers.DecimalField(max_digits=20, decimal_places=10, coerce_to_string=True),
            "computed_usd": serializers.DecimalField(max_digits=20, decimal_places=10, coerce_to_string=True),
            "example": SpanRefOut(),
        },
        many=True,
    )
    unpriced_models = FindingOut(many=True)
    sampled = serializers.IntegerField(help_text="spans read for the key and warning counts")


class DiagnosticsApi(QueryApi):
    """GET /api/v1/diagnostics"""

    Params = RangeParams

    @extend_schema(
        operation_id="diagnostics",
        parameters=[RangeParams, PROJECT_PARAM],
        responses=DiagnosticsOut,
        summary="Intake diagnostics: who sends, keys no rule read, usage and cost that look wrong",
        description="Over spans started in the range: instrumentation libraries and scopes with their "
        "span counts; attribute keys no convention rule read; token-accounting warnings (cache above "
        "input, reasoning above output, input + output different from a reported total, usage "
        "repeated on a parent); reported costs the price book disagrees with; unpriced models. "
        "Each finding names an example span.",
    )
    def get(self, request: Request) -> Response:
        project, params = self.parse(request)
        found = diagnostics.diagnostics(project, params["range"])
        return Response(DiagnosticsOut(found).data)
