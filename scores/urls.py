from __future__ import annotations

from django.urls import path

from scores import api

urlpatterns = [
    path("api/v1/scores", api.ScoresApi.as_view(), name="api-scores"),
]
