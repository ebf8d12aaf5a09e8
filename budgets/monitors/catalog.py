"""Pure: what a monitor can watch. Each metric's label, unit, where it is read from (runs, LLM
calls, tool calls, priced calls or scores) and the scopes that make sense for it; the model's
choices, its validation, the metric reader and the messages all read this one table."""

from __future__ import annotations

from dataclasses import dataclass

PROJECT, AGENT, MODEL, PROVIDER = "project", "agent", "model", "provider"
TOOL, USER, API_KEY = "tool", "user", "api_key"
SCOPES: dict[str, str] = {
    PROJECT: "Whole project",
    AGENT: "Agent",
    MODEL: "Model",
    PROVIDER: "Provider",
    TOOL: "Tool",
    USER: "User",
    API_KEY: "API key (prefix)",
}
RUN_SCOPES = (PROJECT, AGENT, USER, API_KEY)
LLM_SCOPES = (PROJECT, AGENT, MODEL, PROVIDER, API_KEY)

# Where a metric's numbers come from, and what its volume counts.
RUNS, LLM_CALLS, TOOL_CALLS, SCORES = "runs", "LLM calls", "tool calls", "scores"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    label: str
    unit: str  # count, ratio (a fraction), ms, usd, tokens, calls, score
    source: str  # RUNS, LLM_CALLS, TOOL_CALLS or SCORES: what the volume counts
    scopes: tuple[str, ...]
    total: bool = False  # a sum over the window: nothing there is a value of 0, not a missing one


METRICS: dict[str, MetricSpec] = {
    "runs": MetricSpec("Runs", "count", RUNS, RUN_SCOPES, total=True),
    "failed_runs": MetricSpec("Failed runs", "count", RUNS, RUN_SCOPES, total=True),
    "failure_rate": MetricSpec("Run failure rate", "ratio", RUNS, RUN_SCOPES),
    "latency_p50": MetricSpec("p50 run latency", "ms", RUNS, RUN_SCOPES),
    "latency_p90": MetricSpec("p90 run latency", "ms", RUNS, RUN_SCOPES),
    "latency_p95": MetricSpec("p95 run latency", "ms", RUNS, RUN_SCOPES),
    "latency_p99": MetricSpec("p99 run latency", "ms", RUNS, RUN_SCOPES),
    "llm_latency_p95": MetricSpec("p95 LLM call latency", "ms", LLM_CALLS, LLM_SCOPES),
    # Provider errors (429, 5xx, overloaded: ingest/provider_errors.py); every failure below.
    "llm_error_rate": MetricSpec("LLM provider error rate", "ratio", LLM_CALLS, LLM_SCOPES),
    "llm_failure_rate": MetricSpec("LLM call failure rate", "ratio", LLM_CALLS, LLM_SCOPES),
    # By model or provider, cost is the priced calls' (LLM_CALLS); otherwise the runs'.
    "cost": MetricSpec("Cost", "usd", RUNS, (PROJECT, AGENT, MODEL, PROVIDER, USER, API_KEY), total=True),
    "cost_per_run": MetricSpec("Cost per run", "usd", RUNS, RUN_SCOPES),
    "tokens_per_run": MetricSpec("Tokens per run", "tokens", RUNS, RUN_SCOPES),
    "tool_calls_per_run": MetricSpec("Tool calls per run", "calls", RUNS, RUN_SCOPES),
    "tool_error_rate": MetricSpec("Tool error rate", "ratio", TOOL_CALLS, (PROJECT, TOOL)),
    "score_pass_rate": MetricSpec("Score pass rate", "ratio", SCORES, (PROJECT, AGENT)),
    "score_mean": MetricSpec("Score mean", "score", SCORES, (PROJECT, AGENT)),
}
SCORE_METRICS = ("score_pass_rate", "score_mean")
PERCENTILE_OF = {"latency_p50": 0.5, "latency_p90": 0.9, "latency_p95": 0.95, "latency_p99": 0.99}


def unsupported_scope(metric: str, scope: str) -> str | None:
    """Why this metric cannot be watched at this scope, or None when it can."""
    spec = METRICS.get(metric)
    if spec is None or scope in spec.scopes:
        return None
    allowed = ", ".join(spec.scopes)
    return f"{spec.label.lower()} is watched by {allowed}, not by {scope}"


def volume_source(metric: str, scope: str) -> str:
    """What the window's volume counts for this metric at this scope."""
    if metric == "cost" and scope in (MODEL, PROVIDER):
        return LLM_CALLS
    return METRICS[metric].source
