"""What intake tells the rest of the app, without knowing who listens (budgets does)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after spans are committed and their runs recomputed: sender=Project,
# kwargs project (Project) and trace_ids (list[str]).
runs_updated = Signal()
