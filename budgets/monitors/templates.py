"""Pure: the one-click monitors, as data. Each is a monitor's settings (a name included) that
`POST /api/v1/monitors {"template": id, ...}` starts from; the request's fields override them."""

from __future__ import annotations

from typing import Any

TEMPLATES: dict[str, dict[str, Any]] = {
    "agent-success-rate": {
        "name": "Success rate below 99% over 5 minutes, each agent",
        "metric": "failure_rate",
        "scope": "agent",
        "scope_value": "",
        "window_minutes": 5,
        "comparison": "above",
        "warning": None,
        "critical": "0.01",
        "min_volume": 20,
    },
    "tool-error-rate": {
        "name": "Any tool's error rate above 5% over 15 minutes",
        "metric": "tool_error_rate",
        "scope": "tool",
        "scope_value": "",
        "window_minutes": 15,
        "comparison": "above",
        "warning": None,
        "critical": "0.05",
        "min_volume": 10,
    },
    "run-latency-p95": {
        "name": "p95 run latency above 5 s over 10 minutes",
        "metric": "latency_p95",
        "scope": "project",
        "scope_value": "",
        "window_minutes": 10,
        "comparison": "above",
        "warning": None,
        "critical": "5000",
        "min_volume": 10,
    },
    "cost-per-run": {
        "name": "Cost per run above $0.05 over 1 hour",
        "metric": "cost_per_run",
        "scope": "project",
        "scope_value": "",
        "window_minutes": 60,
        "comparison": "above",
        "warning": None,
        "critical": "0.05",
        "min_volume": 5,
    },
    "provider-errors": {
        "name": "Provider errors (429/5xx) climbing: LLM error rate above 10% over 5 minutes, each provider",
        "metric": "llm_error_rate",
        "scope": "provider",
        "scope_value": "",
        "window_minutes": 5,
        "comparison": "above",
        "warning": None,
        "critical": "0.10",
        "min_volume": 10,
    },
}
