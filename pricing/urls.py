from __future__ import annotations

from django.urls import path

from pricing import api

urlpatterns = [
    path("api/v1/price-overrides", api.PriceOverridesApi.as_view(), name="api-price-overrides"),
    path("api/v1/price-overrides/<int:pk>", api.PriceOverrideApi.as_view(), name="api-price-override"),
]
