"""What intake tells the rest of the app, without knowing who listens (budgets does)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after spans are committed and their runs recomputed: sender=Project,
# kwargs project (Project) and trace_ids (list[str]).
runs_updated = Signal()

# Sent inside intake's transaction, so what a listener stores commits or rolls back with the
# data: sender=Project, kwargs project and spans (list[RawSpan]) or events (list[LogEvent]);
# spans_stored also carries span_starts (list[datetime]): the start of every span of the
# traces it touched, stored before or now (the rollups recompute those hours).
spans_stored = Signal()
log_events_stored = Signal()
# Sent inside the transaction that rewrote these traces' stored spans or runs (repricing):
# sender=Project, kwargs project and trace_ids (list[str]). The rollups mark them dirty.
traces_changed = Signal()
