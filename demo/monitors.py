"""Demo monitors: three of the one-click templates, sized to the demo's traffic (a few runs an
hour, not thousands), judged every few minutes over the last hours so the Monitors page shows
states, current values, incidents and their alerts as soon as the demo is seeded."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from budgets.monitors import evaluation, services
from budgets.monitors.models import Monitor
from budgets.monitors.templates import TEMPLATES
from tenancy.models import Project

HISTORY = timedelta(hours=12)  # what the charts of 3-hour windows show
STEP = timedelta(minutes=5)  # judged every 5 minutes of the history, not every minute: quicker
DEMO: list[tuple[str, dict[str, Any]]] = [
    (
        "agent-success-rate",
        {"name": "Success rate below 90% over 3 hours, each agent", "window_minutes": 180,
         "warning": "0.05", "critical": "0.10", "min_volume": 3},
    ),
    ("cost-per-run", {"min_volume": 3}),
    (
        "provider-errors",
        {"name": "Provider errors (429/5xx) above 10% over 3 hours, each provider", "window_minutes": 180,
         "min_volume": 3},
    ),
]  # fmt: skip


def seed_monitors(project: Project, now: datetime) -> list[Monitor]:
    """The demo monitors, judged over the last HISTORY; none when the project has monitors already
    (seeding again keeps the user's)."""
    if project.monitors.exists():
        return []
    made = [services.monitor_save(Monitor(project=project, **(TEMPLATES[t] | fields))) for t, fields in DEMO]
    last = now.replace(second=0, microsecond=0)
    for step in range(HISTORY // STEP, -1, -1):
        for monitor in made:
            evaluation.evaluate_monitor(monitor, until=last - step * STEP, now=now)
    return made
