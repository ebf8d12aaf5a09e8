from __future__ import annotations

from django.urls import path

from aggregates import api

urlpatterns = [
    path("api/v1/metrics/summary", api.SummaryApi.as_view(), name="api-metrics-summary"),
    path("api/v1/metrics/timeseries", api.TimeseriesApi.as_view(), name="api-metrics-timeseries"),
    path("api/v1/runs", api.RunListApi.as_view(), name="api-runs"),
    path("api/v1/diagnostics", api.DiagnosticsApi.as_view(), name="api-diagnostics"),
    path("api/v1/runs/<str:trace_id>", api.RunDetailApi.as_view(), name="api-run-detail"),
]
