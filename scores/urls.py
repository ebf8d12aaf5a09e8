from __future__ import annotations

from django.urls import path

from scores import api
from scores.evaluators import api as evaluator_api

urlpatterns = [
    path("api/v1/scores", api.ScoresApi.as_view(), name="api-scores"),
    path("api/v1/evaluators", evaluator_api.EvaluatorsApi.as_view(), name="api-evaluators"),
    path("api/v1/evaluators/<int:pk>", evaluator_api.EvaluatorApi.as_view(), name="api-evaluator"),
]
