"""A project's own prices. Moved here from ingest with its table (ingest_priceoverride)."""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models

from tenancy.models import Project


class PriceOverride(models.Model):
    """A project's own price for a model (fine-tuned, self-hosted, negotiated), per million tokens."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="price_overrides")
    model_pattern = models.CharField(
        max_length=200,
        help_text="exact model name, or a pattern such as ft:gpt-4o* or my-llama-*",
    )
    provider = models.CharField(max_length=100, blank=True, help_text="empty: any provider")
    effective_from = models.DateTimeField(help_text="spans from this time on use this price")
    input_per_mtok = models.DecimalField(
        "input $/M tokens", max_digits=14, decimal_places=6, validators=[MinValueValidator(0)]
    )
    output_per_mtok = models.DecimalField(
        "output $/M tokens", max_digits=14, decimal_places=6, validators=[MinValueValidator(0)]
    )
    cache_read_per_mtok = models.DecimalField(
        "cache read $/M tokens", max_digits=14, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(0)], help_text="empty: priced as input",
    )  # fmt: skip
    cache_write_per_mtok = models.DecimalField(
        "cache write $/M tokens", max_digits=14, decimal_places=6, null=True, blank=True,
        validators=[MinValueValidator(0)], help_text="empty: priced as input",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ingest_priceoverride"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "model_pattern", "provider", "effective_from"],
                name="one_override_per_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_pattern} from {self.effective_from:%Y-%m-%d}"
