from __future__ import annotations

from django.urls import path

from ingest import api, query_api, views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("v1/traces", views.otlp_traces, name="otlp-traces"),
    path("v1/logs", views.otlp_logs, name="otlp-logs"),
    path("v1/metrics", views.otlp_metrics, name="otlp-metrics"),
    # Langfuse's SDK exports OTLP here (the AgentLedger key as its secret key, Basic auth)
    path("api/public/otel/v1/traces", views.otlp_traces),
    path("api/v1/ingest", api.IngestApi.as_view(), name="api-ingest"),
]

urlpatterns += [
    path("api/v1/metrics/summary", query_api.SummaryApi.as_view(), name="api-metrics-summary"),
    path("api/v1/metrics/timeseries", query_api.TimeseriesApi.as_view(), name="api-metrics-timeseries"),
    path("api/v1/runs", query_api.RunListApi.as_view(), name="api-runs"),
    path("api/v1/diagnostics", query_api.DiagnosticsApi.as_view(), name="api-diagnostics"),
    path("api/v1/runs/<str:trace_id>", query_api.RunDetailApi.as_view(), name="api-run-detail"),
]
