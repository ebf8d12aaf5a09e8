from __future__ import annotations

from django.urls import path

from ingest import api, views

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

urlpatterns += []
