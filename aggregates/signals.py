"""What the rollups tell the rest of the app, without knowing who listens (scores, budgets)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside rollup_hour's transaction after the hour's rows are replaced, so other apps can
# roll their own data up by the same hours: sender=Project, kwargs project and hour (aware UTC).
hour_rolled_up = Signal()
# Sent by the rollup task after each pass (outside any transaction): sender=None. Budgets evaluate then.
rollups_updated = Signal()
