"""What intake tells the rest of the app, without knowing who listens (budgets does)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after spans are committed and their runs recomputed: sender=Project,
# kwargs project (Project) and trace_ids (list[str]).
runs_updated = Signal()

# Sent inside intake's transaction, so what a listener stores commits or rolls back with the
# data: sender=Project, kwargs project and spans (list[RawSpan]) or events (list[LogEvent]).
spans_stored = Signal()
# Sent inside rollup_hour's transaction after the hour's rows are replaced, so other apps can
# roll their own data up by the same hours: sender=Project, kwargs project and hour (aware UTC).
hour_rolled_up = Signal()
# Sent by the rollup task after each pass (outside any transaction): sender=None. Budgets evaluate then.
rollups_updated = Signal()
log_events_stored = Signal()
