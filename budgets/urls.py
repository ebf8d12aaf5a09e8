from __future__ import annotations

from django.urls import path

from budgets import api

urlpatterns = [
    path("api/v1/budgets", api.BudgetsApi.as_view(), name="api-budgets"),
    path("api/v1/budgets/check", api.BudgetCheckApi.as_view(), name="api-budgets-check"),
    path("api/v1/budgets/<int:pk>", api.BudgetApi.as_view(), name="api-budget"),
    path("api/v1/anomaly-rules", api.AnomalyRulesApi.as_view(), name="api-anomaly-rules"),
    path("api/v1/anomaly-rules/<int:pk>", api.AnomalyRuleApi.as_view(), name="api-anomaly-rule"),
    path("api/v1/destinations", api.DestinationsApi.as_view(), name="api-destinations"),
    path("api/v1/destinations/<int:pk>", api.DestinationApi.as_view(), name="api-destination"),
]
