"""/api/v1/price-overrides: a project's own model prices, through its API key."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_errors import flatten_errors
from pricing import overrides
from pricing.models import PriceOverride
from tenancy import auth


class PriceOverrideSerializer(serializers.ModelSerializer[PriceOverride]):
    class Meta:
        model = PriceOverride
        fields = [
            "id", "model_pattern", "provider", "effective_from", "input_per_mtok", "output_per_mtok",
            "cache_read_per_mtok", "cache_write_per_mtok", "created_at",
        ]  # fmt: skip
        read_only_fields = ["id", "created_at"]


class PriceOverridesApi(APIView):
    """GET/POST /api/v1/price-overrides: the project's own model prices (USD per million tokens)."""

    authentication_classes = [auth.ProjectKeyAuthentication]
    permission_classes = [auth.HasProjectKey]

    @extend_schema(responses=PriceOverrideSerializer(many=True), summary="List price overrides")
    def get(self, request: Request) -> Response:
        overrides = PriceOverride.objects.filter(project=auth.api_key_of(request).project).order_by(
            "model_pattern", "effective_from"
        )
        return Response(PriceOverrideSerializer(overrides, many=True).data)

    @extend_schema(
        request=PriceOverrideSerializer, responses={201: PriceOverrideSerializer}, summary="Add a price override"
    )
    def post(self, request: Request) -> Response:
        serializer = PriceOverrideSerializer(data=request.data)
        if not serializer.is_valid():
            return Response({"errors": flatten_errors(serializer.errors)}, status=400)
        override = PriceOverride(project=auth.api_key_of(request).project, **serializer.validated_data)
        try:
            overrides.price_override_save(override)
        except ValidationError as exc:
            return Response({"errors": exc.message_dict}, status=400)
        return Response(PriceOverrideSerializer(override).data, status=201)


class PriceOverrideApi(APIView):
    """GET/PUT/PATCH/DELETE /api/v1/price-overrides/<id>."""

    authentication_classes = [auth.ProjectKeyAuthentication]
    permission_classes = [auth.HasProjectKey]

    def _get(self, request: Request, pk: int) -> PriceOverride:
        return get_object_or_404(PriceOverride, pk=pk, project=auth.api_key_of(request).project)

    @extend_schema(responses=PriceOverrideSerializer, summary="One price override")
    def get(self, request: Request, pk: int) -> Response:
        return Response(PriceOverrideSerializer(self._get(request, pk)).data)

    @extend_schema(
        request=PriceOverrideSerializer, responses=PriceOverrideSerializer, summary="Change a price override"
    )
    def put(self, request: Request, pk: int, partial: bool = False) -> Response:
        override = self._get(request, pk)
        previous_start = override.effective_from
        serializer = PriceOverrideSerializer(override, data=request.data, partial=partial)
        if not serializer.is_valid():
            return Response({"errors": flatten_errors(serializer.errors)}, status=400)
        for field, value in serializer.validated_data.items():
            setattr(override, field, value)
        try:
            overrides.price_override_save(override, previous_start=previous_start)
        except ValidationError as exc:
            return Response({"errors": exc.message_dict}, status=400)
        return Response(PriceOverrideSerializer(override).data)

    @extend_schema(request=PriceOverrideSerializer, responses=PriceOverrideSerializer, summary="Change some fields")
    def patch(self, request: Request, pk: int) -> Response:
        return self.put(request, pk, partial=True)

    @extend_schema(responses={204: None}, summary="Remove a price override")
    def delete(self, request: Request, pk: int) -> Response:
        overrides.price_override_delete(self._get(request, pk))
        return Response(status=204)
