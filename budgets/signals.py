"""What budget evaluation, run caps and anomaly detection tell the rest of budgets: new Alert rows
exist (budgets/receivers.py wakes the outbox, so they go out within seconds)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent when new Alert rows were written (inside the writer's transaction): sender=Alert.
alerts_created = Signal()
