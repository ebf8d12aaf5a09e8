"""Reads for the dashboard's monitor pages: a project's monitors with where each stands now, one
monitor's incidents and alerts, and its metric minute by minute for a chart. Every read takes
the project, so another project's monitor is never found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Prefetch, Q, QuerySet

from budgets.models import Alert
from budgets.monitors import catalog, metrics
from budgets.monitors.models import Monitor, MonitorIncident
from budgets.monitors.templates import TEMPLATES
from tenancy.models import Project

STALE = timedelta(minutes=2)  # last values older than this (no evaluation running) are measured afresh
CHART_SPAN = timedelta(hours=6)  # or 4 windows, when that is longer (up to CHART_MAX)
CHART_MAX = timedelta(days=1)
CHART_SERIES = 10  # a group-by chart draws the values with the most volume
CHART_INCIDENTS = 100  # shaded spans at most


@dataclass(frozen=True)
class MonitorStatus:
    """Where a monitor stands: its state, its open incidents and its current values (worst first)."""

    monitor: Monitor
    state: str  # "disabled", "critical", "warning" or "ok"
    muted: bool
    open_incidents: list[MonitorIncident]
    values: list[tuple[str, Decimal | None]]  # (scope value, the metric over the window ending at `as_of`)
    as_of: datetime | None  # None: disabled, nothing measured

    @property
    def scope_text(self) -> str:
        """ "whole project", "each agent", or "agent support-bot"."""
        monitor = self.monitor
        name = "API key" if monitor.scope == catalog.API_KEY else monitor.scope
        if monitor.scope == catalog.PROJECT:
            return "whole project"
        return f"{name} {monitor.scope_value}" if monitor.scope_value else f"each {name}"


@dataclass(frozen=True)
class TemplateOffer:
    key: str
    monitor: Monitor  # unsaved: the template's settings, to describe it
    added: bool  # the project has a monitor of this name already


@dataclass(frozen=True)
class MonitorChart:
    """A monitor's metric minute by minute over [since, until), its thresholds and the spans its
    incidents were open (start, end, level)."""

    since: datetime
    until: datetime
    label: str
    unit: str
    comparison: str
    warning: Decimal | None
    critical: Decimal
    series: dict[str, list[tuple[datetime, Decimal | None]]]
    incidents: list[tuple[datetime, datetime, str]]


def _open(incidents: QuerySet[MonitorIncident]) -> QuerySet[MonitorIncident]:
    return incidents.filter(state__in=MonitorIncident.OPEN).order_by("scope_value")


def monitors_of_project(project: Project) -> QuerySet[Monitor]:
    """The project's monitors, each with its open incidents (`open_incidents`) and destinations."""
    opened = Prefetch("incidents", queryset=_open(MonitorIncident.objects.all()), to_attr="open_incidents")
    return Monitor.objects.filter(project=project).prefetch_related("destinations", opened).order_by("name", "pk")


def monitor_for_project(project: Project, monitor_id: int) -> Monitor | None:
    return monitors_of_project(project).filter(pk=monitor_id).first()


def monitor_statuses(monitors: QuerySet[Monitor], now: datetime) -> list[MonitorStatus]:
    return [monitor_status(monitor, now) for monitor in monitors]


def monitor_status(monitor: Monitor, now: datetime) -> MonitorStatus:
    """The worst open incident's state (or ok, or disabled) and the current values: those the
    last evaluation stored, or, when none ran in the last minutes, measured now over the window
    ending at the current minute."""
    prefetched = getattr(monitor, "open_incidents", None)
    incidents: list[MonitorIncident] = list(_open(monitor.incidents.all()) if prefetched is None else prefetched)
    muted = monitor.muted_until is not None and monitor.muted_until > now
    if not monitor.enabled:
        return MonitorStatus(monitor, "disabled", muted, incidents, [], None)
    states = {i.state for i in incidents}
    state = next((s for s in ("critical", "warning") if s in states), "ok")
    last = monitor.last_evaluated_at
    if last is not None and now - last <= STALE:
        values = {v: None if raw is None else Decimal(raw) for v, raw in monitor.last_values.items()}
    else:
        last = now.replace(second=0, microsecond=0)
        measured = metrics.window_values(monitor, last - timedelta(minutes=monitor.window_minutes), last)
        values = {v: m.value for v, m in measured.items()}
    return MonitorStatus(monitor, state, muted, incidents, _worst_first(monitor, values), last)


def _worst_first(monitor: Monitor, values: dict[str, Decimal | None]) -> list[tuple[str, Decimal | None]]:
    """Highest first for an "above" monitor, lowest first for "below"; no value last."""
    sign = -1 if monitor.comparison == Monitor.Comparison.ABOVE else 1
    return sorted(values.items(), key=lambda item: (item[1] is None, sign * (item[1] or 0), item[0]))


def template_offers(project: Project) -> list[TemplateOffer]:
    names = set(Monitor.objects.filter(project=project).values_list("name", flat=True))
    offers = []
    for key, fields in TEMPLATES.items():
        thresholds = {t: None if fields[t] is None else Decimal(fields[t]) for t in ("warning", "critical")}
        offers.append(TemplateOffer(key, Monitor(project=project, **{**fields, **thresholds}), fields["name"] in names))
    return offers


def monitor_alerts(monitor: Monitor) -> QuerySet[Alert]:
    """The monitor's alerts, newest first."""
    return Alert.objects.filter(monitor=monitor).select_related("monitor").order_by("-created_at", "-pk")


def monitor_chart(monitor: Monitor, now: datetime) -> MonitorChart:
    """The last 6 hours (or 4 windows, when longer) minute by minute, the CHART_SERIES values with
    the most volume, and the incidents open during that span."""
    until = now.replace(second=0, microsecond=0) + timedelta(minutes=1)  # the minute in progress too
    since = until - min(max(CHART_SPAN, 4 * timedelta(minutes=monitor.window_minutes)), CHART_MAX)
    series = metrics.minute_series(monitor, since, until)
    volume = {value: sum(m.volume for _, m in points) for value, points in series.items()}
    top = sorted(series, key=lambda value: (-volume[value], value))[:CHART_SERIES]
    overlapping = monitor.incidents.filter(Q(resolved_at=None) | Q(resolved_at__gt=since), opened_at__lt=until)
    incidents = [
        (max(i.opened_at, since), i.resolved_at or until, _level(monitor, i))
        for i in overlapping.order_by("opened_at")[:CHART_INCIDENTS]
    ]
    return MonitorChart(
        since=since,
        until=until,
        label=monitor.metric_label,
        unit=monitor.spec.unit,
        comparison=monitor.comparison,
        warning=monitor.warning,
        critical=monitor.critical,
        series={value: [(minute, m.value) for minute, m in series[value]] for value in top},
        incidents=incidents,
    )


def _level(monitor: Monitor, incident: MonitorIncident) -> str:
    """The highest level an incident reached: critical when it is, was escalated, opened at the
    critical threshold or for no data (no threshold); else warning."""
    reached = (incident.state, incident.announced)
    if MonitorIncident.State.CRITICAL in reached or incident.escalated_at is not None:
        return MonitorIncident.State.CRITICAL
    if incident.threshold is None or incident.threshold == monitor.critical:
        return MonitorIncident.State.CRITICAL
    return MonitorIncident.State.WARNING
