"""Writes of monitors (the API and the admin write through these)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from budgets.delivery.outbox import alerts_recheck
from budgets.monitors.models import Monitor, MonitorIncident
from budgets.monitors.templates import TEMPLATES
from budgets.services import own_destinations
from tenancy.models import Project

# Changing one of these changes what is watched: the open incidents no longer mean anything.
WATCHED = ("metric", "score_name", "scope", "scope_value", "enabled")


def monitor_save(monitor: Monitor, destination_ids: list[int] | None = None) -> Monitor:
    """Validate (model validators and clean, naming the field) and save; destinations must be the
    project's own (none: every destination of the project). When what it watches changes (or it
    is disabled), its open incidents close without a message. Raises ValidationError."""
    monitor.full_clean()
    destinations = [] if destination_ids is None else own_destinations(monitor.project_id, destination_ids)
    with transaction.atomic():
        before = Monitor.objects.filter(pk=monitor.pk).values(*WATCHED).first() if monitor.pk else None
        monitor.save()
        if before is not None and any(before[f] != getattr(monitor, f) for f in WATCHED):
            monitor.incidents.filter(state__in=MonitorIncident.OPEN).update(
                state=MonitorIncident.State.RESOLVED, resolved_at=timezone.now()
            )
        if destination_ids is not None:
            monitor.destinations.set(destinations)
            alerts_recheck(monitor.alerts.all())
    return monitor


def monitor_from_template(project: Project, template: str) -> Monitor:
    """A new monitor of the project with a one-click template's settings, delivered to every
    destination of the project (none chosen). KeyError for an unknown template."""
    return monitor_save(Monitor(project=project, **TEMPLATES[template]))
