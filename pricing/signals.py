"""What pricing tells the rest of the app (ingest reprices stored spans, ingest/receivers.py)."""

from __future__ import annotations

from django.dispatch import Signal

# A project's prices changed from `since` on: sender=PriceOverride, kwargs project_id (int),
# since (aware datetime) and wait (bool: reprice now and return the receivers' results, else
# queue the work after the transaction commits).
reprice_requested = Signal()
