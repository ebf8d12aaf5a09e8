from __future__ import annotations

from django.urls import path

from budgets import api
from budgets.monitors import api as monitors_api

urlpatterns = [
    path("api/v1/budgets", api.BudgetsApi.as_view(), name="api-budgets"),
    path("api/v1/budgets/check", api.BudgetCheckApi.as_view(), name="api-budgets-check"),
    path("api/v1/budgets/<int:pk>", api.BudgetApi.as_view(), name="api-budget"),
    path("api/v1/anomaly-rules", api.AnomalyRulesApi.as_view(), name="api-anomaly-rules"),
    path("api/v1/anomaly-rules/<int:pk>", api.AnomalyRuleApi.as_view(), name="api-anomaly-rule"),
    path("api/v1/destinations", api.DestinationsApi.as_view(), name="api-destinations"),
    path("api/v1/destinations/<int:pk>", api.DestinationApi.as_view(), name="api-destination"),
    path("api/v1/monitors", monitors_api.MonitorsApi.as_view(), name="api-monitors"),
    path("api/v1/monitors/templates", monitors_api.MonitorTemplatesApi.as_view(), name="api-monitor-templates"),
    path("api/v1/monitors/<int:pk>", monitors_api.MonitorApi.as_view(), name="api-monitor"),
]
