"""Every alert text: budget thresholds, run caps, anomalies and the daily digest, each described
once as a Notice (a title, a plain text, Slack Block Kit blocks from the one card layout, and the
facts a webhook, PagerDuty or an e-mail carries). Pure formatting over stored rows (and the links
and summaries they point to); nothing here sends or writes."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from aggregates import selectors
from budgets.anomalies import detection as anomalies
from budgets.models import Alert, AnomalyRule, Budget
from budgets.spending import budget_projects, period_range
from ingest import timeranges
from ingest.models import Run
from ingest.timeranges import TimeRange
from tenancy.models import Project

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
MAX_AGENTS = 15


Blocks = list[dict[str, Any]]

STATES = ("warning", "critical", "resolved", "info")
SOURCES = ("budget", "run_cap", "anomaly", "monitor", "digest", "test")
MAX_DEDUP_KEY = 255  # PagerDuty's limit


@dataclass(frozen=True, slots=True)
class Notice:
    """One thing to tell, described once for every kind of destination (budgets.delivery.dispatch
    .deliver sends it to any of them). Build one per alert, not per destination.

    title, text: a one-line headline and a plain-text account (no markup); the e-mail subject and
        body, the PagerDuty summary, the Slack fallback text.
    blocks: the same for Slack, as Block Kit blocks (card() makes them).
    source: what raised it: "budget" (a threshold), "run_cap", "anomaly", "monitor", or "digest"
        and "test" for what is not an alert.
    source_name: the name of what raised it: the budget, the anomaly rule, the monitor.
    state: "warning" | "critical" | "resolved"; "info" for a digest or a test message.
    time: when it was decided (aware; kept in UTC).
    url: an absolute link into the dashboard (SITE_URL) to the page that explains it.
    dedup_key: the same for every notice of one incident (incident_key() makes it): a budget's
        80% and 100% alerts of one period, an anomaly and its recovery. PagerDuty resolves by it.
    project: the project's name.
    metric, scope_value: what was measured ("cost_usd", "failure_rate", ...) and for which agent,
        tool, model... ("" for a whole project).
    observed, threshold: the value seen and the level it was judged against, in the metric's unit
        (USD for costs, a fraction for rates); None when not applicable.
    window_minutes: how long a window the value covers (None: a single run, or no window).
    details: the card's fields as (label, text) pairs, for PagerDuty's custom details and e-mail.
    """

    title: str
    text: str
    blocks: Blocks
    source: str
    source_name: str
    state: str
    time: datetime
    url: str
    dedup_key: str
    project: str = ""
    metric: str = ""
    scope_value: str = ""
    observed: Decimal | None = None
    threshold: Decimal | None = None
    window_minutes: int | None = None
    details: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"state {self.state!r} is not one of {STATES}")
        if self.source not in SOURCES:
            raise ValueError(f"source {self.source!r} is not one of {SOURCES}")
        if self.time.tzinfo is None:
            raise ValueError("a notice's time must be aware")
        object.__setattr__(self, "time", self.time.astimezone(UTC))
        if not self.dedup_key or len(self.dedup_key) > MAX_DEDUP_KEY:
            raise ValueError("a dedup_key of 1 to 255 characters, please: see incident_key()")


def incident_key(*parts: object) -> str:
    """The dedup_key of one incident: "agentledger:" and the parts joined by ":", e.g.
    incident_key("budget", 12, "2026-03-01T00:00Z"). Past PagerDuty's 255 characters (a long scope
    value), the tail is replaced by its SHA-256 so the key stays stable and unique."""
    key = ":".join(["agentledger", *map(str, parts)])
    if len(key) <= MAX_DEDUP_KEY:
        return key
    return f"{key[:150]}:{hashlib.sha256(key.encode()).hexdigest()}"


def _utc_key(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def card(
    title: str,
    fields: list[tuple[str, str]] | None = None,
    button: tuple[str, str] | None = None,
    *,
    body: str = "",
) -> Blocks:
    """The one layout of every message: a header, then the fields side by side (or a body of
    text), then a button to the page that explains it."""
    blocks: Blocks = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
    if fields:
        blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields]})
    if body:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
    if button:
        label, url = button
        blocks.append(
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}],
            }
        )
    return blocks


def money(value: Decimal) -> str:
    return f"${value.quantize(CENT):,}"


def alert_notice(alert: Alert) -> Notice:
    """The notice of an alert row, whatever its kind."""
    if alert.monitor_id is not None:
        return monitor_notice(alert)
    if alert.anomaly_rule is not None:
        return anomaly_notice(alert)
    if alert.kind != Alert.Kind.THRESHOLD:
        return run_cap_notice(alert)
    return threshold_notice(alert)


def threshold_notice(alert: Alert) -> Notice:
    """A budget threshold: warning below 100%, critical from 100%. Every threshold of one budget
    in one period is one incident (one dedup_key)."""
    budget = alert_budget(alert)
    spend, amount, threshold = budget_figures(alert)
    tz = budget.project.tz
    period = period_range(budget.period, tz, alert.period_start)
    percent = (spend * 100 / amount).quantize(Decimal("0.1"))
    exceeded = threshold >= 100
    title = f"{'Budget exceeded' if exceeded else 'Budget warning'}: {budget.name}"
    first, last = period.since.astimezone(tz), (period.until - timedelta(seconds=1)).astimezone(tz)
    period_text = f"{budget.get_period_display()} {first:%Y-%m-%d} to {last:%Y-%m-%d} ({budget.project.timezone})"
    text = (
        f"{title} — {money(spend)} of {money(amount)} ({percent}%), "
        f"threshold {threshold.normalize():f}%, {budget.scope_label}"
    )
    fields = [
        ("Scope", budget.scope_label),
        ("Spend", f"{money(spend)} of {money(amount)} ({percent}%)"),
        ("Threshold", f"{threshold.normalize():f}%"),
        ("Period", period_text),
        ("Projected by period end", money(alert.projected)),
    ]
    link = cost_link(alert)
    return Notice(
        title=title,
        text=text,
        blocks=card(title, fields, ("View cost", link)),
        source="budget",
        source_name=budget.name,
        state="critical" if exceeded else "warning",
        time=alert.created_at,
        url=link,
        dedup_key=incident_key("budget", budget.pk, _utc_key(alert.period_start)),
        project=budget.project.name,
        metric="cost_usd",
        scope_value=budget.scope_value,
        observed=spend,
        threshold=(amount * threshold / 100).quantize(CENT),
        window_minutes=int((period.until - period.since).total_seconds()) // 60,
        details=tuple(fields),
    )


def run_cap_notice(alert: Alert) -> Notice:
    """A run over a per-run cap: critical; the run is the incident (both caps share its key)."""
    budget = alert_budget(alert)
    spend, amount, _ = budget_figures(alert)
    project = budget.project
    if alert.kind == Alert.Kind.RUN_COST:
        measured = f"cost {money(spend)}, cap {money(amount)}"
    else:
        measured = f"{spend:.0f} tool calls, cap {amount:.0f}"
    title = f"Runaway run: {budget.name}"
    started = alert.period_start.astimezone(project.tz)
    text = f"{title} — run {alert.trace_id} {measured}, {budget.scope_label}"
    fields = [
        ("Scope", budget.scope_label),
        ("Run", alert.trace_id),
        ("Over the cap", measured),
        ("Started", f"{started:%Y-%m-%d %H:%M} ({project.timezone})"),
    ]
    run_project = _run_project(budget, alert.trace_id)
    path = reverse("run", args=[run_project.organization.slug, run_project.slug, alert.trace_id])
    link = f"{settings.SITE_URL}{path}"
    cost = alert.kind == Alert.Kind.RUN_COST
    return Notice(
        title=title,
        text=text,
        blocks=card(title, fields, ("Open run", link)),
        source="run_cap",
        source_name=budget.name,
        state="critical",
        time=alert.created_at,
        url=link,
        dedup_key=incident_key("run", budget.pk, alert.trace_id),
        project=project.name,
        metric="run_cost_usd" if cost else "run_tool_calls",
        scope_value=budget.scope_value,
        observed=spend,
        threshold=amount,
        details=tuple(fields),
    )


def budget_figures(alert: Alert) -> tuple[Decimal, Decimal, Decimal]:
    """Spend, amount and threshold: every budget and run-cap alert has them (anomalies do not)."""
    if alert.spend is None or alert.amount is None or alert.threshold is None:
        raise ValueError(f"alert {alert.pk} is not a budget's")
    return alert.spend, alert.amount, alert.threshold


def _run_project(budget: Budget, trace_id: str) -> Project:
    """Where the run is: the budget's project, or for an organization budget any of the organization's."""
    if budget.scope != Budget.Scope.ORGANIZATION:
        return budget.project
    run = Run.objects.filter(project__in=budget_projects(budget), trace_id=trace_id).select_related("project")
    first = run.order_by("pk").first()
    return first.project if first is not None else budget.project


def cost_link(alert: Alert) -> str:
    """The dashboard's cost explorer over the alert's period, filtered to the budget's scope."""
    budget = alert_budget(alert)
    project = budget.project
    params = {"since": alert.period_start.astimezone(project.tz).isoformat()}
    if budget.scope in (Budget.Scope.AGENT, Budget.Scope.MODEL, Budget.Scope.USER):
        params[budget.scope] = budget.scope_value
        params["group_by"] = "agent" if budget.scope != Budget.Scope.AGENT else "model"
    else:
        params["group_by"] = "api_key" if budget.scope == Budget.Scope.API_KEY else "agent"
    path = reverse("cost", args=[project.organization.slug, project.slug])
    return f"{settings.SITE_URL}{path}?{urlencode(params)}"


def alert_budget(alert: Alert) -> Budget:
    """The budget of a threshold or run-cap alert (every alert has a budget or an anomaly rule)."""
    if alert.budget is None:
        raise ValueError(f"alert {alert.pk} is not a budget alert")
    return alert.budget


def format_value(metric: str, value: Decimal | float | None) -> str:
    """A metric value as people read it: $1.23, 12.5%, 1,234 ms, 1,500 tokens."""
    if value is None:
        return "n/a"
    unit = anomalies.METRICS[metric].unit if metric in anomalies.METRICS else "count"
    number = Decimal(str(value))
    if unit == "usd":
        return money(number)
    if unit == "ratio":
        return f"{number * 100:.1f}%"
    if unit == "ms":
        return f"{number:,.0f} ms"
    if unit == "score":
        return f"{number:,.2f}"
    return f"{number:,.0f}{' tokens' if unit == 'tokens' else ''}"


def band_text(alert: Alert) -> str:
    """ "$1.20 to $3.40", or for a rule with a static floor "at least 90.0%"."""
    rule = alert.anomaly_rule
    if rule is not None and rule.floor is not None:
        return f"at least {format_value(alert.metric, rule.floor)}"
    return f"{format_value(alert.metric, alert.band_low)} to {format_value(alert.metric, alert.band_high)}"


def alert_scope_label(alert: Alert) -> str:
    rule = alert.anomaly_rule
    if not alert.scope_value or rule is None:
        return "whole project"
    return f"{rule.scope} {alert.scope_value}"


def _rule(alert: Alert) -> AnomalyRule:
    if alert.anomaly_rule is None:
        raise ValueError(f"alert {alert.pk} is not an anomaly alert")
    return alert.anomaly_rule


def anomaly_link(alert: Alert) -> str:
    project = _rule(alert).project
    path = reverse("anomaly", args=[project.organization.slug, project.slug, alert.pk])
    return f"{settings.SITE_URL}{path}"


def anomaly_threshold(alert: Alert) -> Decimal | None:
    """The level an anomaly is judged against: the rule's floor, else the band's edge on the bad
    side (the top for cost or latency, the bottom for a score)."""
    rule = _rule(alert)
    if rule.floor is not None:
        return Decimal(str(rule.floor))
    spec = anomalies.METRICS.get(alert.metric)
    return alert.band_low if spec is not None and spec.direction == "down" else alert.band_high


def anomaly_notice(alert: Alert) -> Notice:
    """Metric, scope, observed value, expected band, link. Warning; its recovery (the row with the
    same rule, series and start) is "resolved" under the same dedup_key."""
    rule = _rule(alert)
    tz = rule.project.tz
    label = rule.metric_label
    scope = alert_scope_label(alert)
    recovered = alert.kind == Alert.Kind.RECOVERED
    title = f"{'Recovered' if recovered else 'Anomaly'}: {label}, {scope}"
    observed = format_value(alert.metric, alert.observed)
    band = band_text(alert)
    usual = format_value(alert.metric, alert.expected)
    since = alert.period_start.astimezone(tz)
    text = (
        f"{title} — {observed} (expected {band}, usual {usual}) since {since:%Y-%m-%d %H:00} ({rule.project.timezone})"
    )
    fields = [
        ("Metric", label),
        ("Scope", scope),
        ("Latest hour" if recovered else "Observed", observed),
        ("Expected band", f"{band} (usual {usual})"),
        ("Out of band since", f"{since:%Y-%m-%d %H:00} ({rule.project.timezone})"),
        ("Sensitivity", f"{rule.sensitivity if alert.sensitivity is None else alert.sensitivity:g} robust sigmas"),
    ]
    link = anomaly_link(alert)
    return Notice(
        title=title,
        text=text,
        blocks=card(title, fields, ("View chart", link)),
        source="anomaly",
        source_name=str(rule),
        state="resolved" if recovered else "warning",
        time=alert.created_at,
        url=link,
        dedup_key=incident_key("anomaly", rule.pk, _utc_key(alert.period_start), alert.scope_value),
        project=rule.project.name,
        metric=alert.metric,
        scope_value=alert.scope_value,
        observed=alert.observed,
        threshold=anomaly_threshold(alert),
        window_minutes=60,
        details=tuple(fields),
    )


def _cost_by_agent(project: Project, first: date, days: int) -> dict[str, Decimal]:
    tz = project.tz
    span = TimeRange(timeranges.local_midnight(first, tz), timeranges.local_midnight(first + timedelta(days=days), tz))
    rows = selectors.summary(project, span, group_by="agent")["rows"]
    return {row["group"] or "(no agent)": row["cost_usd"] or Decimal(0) for row in rows}


def digest_notice(project: Project, day: date, now: datetime | None = None) -> Notice:
    """Yesterday's cost by agent against the 7 days before (state "info": not an incident)."""
    costs = _cost_by_agent(project, day, 1)
    before = _cost_by_agent(project, day - timedelta(days=7), 7)
    total = sum(costs.values(), Decimal(0))
    lines = []
    for agent, cost in sorted(costs.items(), key=lambda kv: -kv[1])[:MAX_AGENTS]:
        average = before.get(agent, Decimal(0)) / 7
        change = f"{(cost - average) * 100 / average:+.0f}% vs 7-day avg" if average else "new"
        lines.append((agent, f"{money(cost)} ({change})"))
    title = f"{project.name}: {money(total)} on {day:%A %Y-%m-%d}"
    body = "\n".join(f"• *{agent}*: {value}" for agent, value in lines) or "No agent cost."
    plain = "\n".join(f"• {agent}: {value}" for agent, value in lines) or "No agent cost."
    tz = project.tz
    params = {
        "since": timeranges.local_midnight(day, tz).isoformat(),
        "until": timeranges.local_midnight(day + timedelta(days=1), tz).isoformat(),
        "group_by": "agent",
    }
    link = f"{settings.SITE_URL}{reverse('cost', args=[project.organization.slug, project.slug])}?{urlencode(params)}"
    return Notice(
        title=title,
        text=f"{title}\n{plain}",
        blocks=card(title, body=body),
        source="digest",
        source_name=project.name,
        state="info",
        time=now or timezone.now(),
        url=link,
        dedup_key=incident_key("digest", project.pk, day.isoformat()),
        project=project.name,
        metric="cost_usd",
        observed=total,
        window_minutes=24 * 60,
        details=tuple(lines),
    )


def test_notice(destination_name: str, project: Project, now: datetime | None = None) -> Notice:
    """The "send test message" action's notice ("info"; its own dedup_key each time)."""
    now = now or timezone.now()
    text = f"AgentLedger test message for destination “{destination_name}”."
    path = reverse("alerts", args=[project.organization.slug, project.slug])
    return Notice(
        title="AgentLedger test message",
        text=text,
        blocks=card("", body=text)[1:],  # no header: one line of text
        source="test",
        source_name=destination_name,
        state="info",
        time=now,
        url=f"{settings.SITE_URL}{path}",
        dedup_key=incident_key("test", project.pk, f"{now.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}"),
        project=project.name,
    )


def monitor_value(unit: str, value: Decimal | None) -> str:
    """A monitor's value or threshold in its unit: 1.5%, 5,000 ms, $0.0512, 1,500 tokens, 0.85."""
    if value is None:
        return "no data"
    if unit == "ratio":
        return f"{_trimmed(value * 100, 2)}%"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "usd":
        return money(value) if abs(value) >= 1 else f"${_trimmed(value, 4, keep=2)}"
    if unit == "score":
        return _trimmed(value, 3)
    suffix = {"tokens": " tokens", "calls": " calls"}.get(unit, "")
    return f"{_trimmed(value, 1, grouped=True)}{suffix}"


def _trimmed(value: Decimal, places: int, *, keep: int = 0, grouped: bool = False) -> str:
    """At most `places` decimals, trailing zeros dropped down to `keep`: 12.50 -> 12.5, 0.05 -> 0.05."""
    text = f"{value:,.{places}f}" if grouped else f"{value:.{places}f}"
    whole, _, decimals = text.partition(".")
    decimals = decimals.rstrip("0").ljust(keep, "0")
    return f"{whole}.{decimals}" if decimals else whole


def monitor_notice(alert: Alert) -> Notice:
    """One incident state of a monitor (warning, critical, resolved): its name, metric, scope
    value, observed value, threshold, window and when the incident opened. Every state of one
    incident shares its dedup_key, so PagerDuty resolves what it triggered."""
    monitor = alert.monitor
    if monitor is None:
        raise ValueError(f"alert {alert.pk} is not a monitor's")
    project = monitor.project
    unit = monitor.spec.unit
    state = alert.kind.removeprefix("monitor_")
    scope = monitor.scope_label(alert.scope_value)
    title = f"{state.capitalize()}: {monitor.name}, {scope}"
    observed = monitor_value(unit, alert.observed)
    threshold = (
        "data in every window"
        if alert.threshold is None
        else f"{monitor.comparison} {monitor_value(unit, alert.threshold)}"
    )
    window = f"{monitor.window_minutes} minute{'s' if monitor.window_minutes != 1 else ''}"
    since = alert.period_start.astimezone(project.tz)
    text = f"{title} — {monitor.metric_label} {observed} over the last {window} (threshold: {threshold})"
    fields = [
        ("Metric", f"{monitor.metric_label} ({monitor.metric})"),
        ("Scope", scope),
        ("Latest value" if state == "resolved" else "Observed", observed),
        ("Threshold", threshold),
        ("Window", window),
        ("Open since", f"{since:%Y-%m-%d %H:%M} ({project.timezone})"),
    ]
    link = monitor_link(alert)
    return Notice(
        title=title,
        text=text,
        blocks=card(title, fields, ("View runs", link)),
        source="monitor",
        source_name=monitor.name,
        state=state,
        time=alert.created_at,
        url=link,
        dedup_key=incident_key(
            "monitor", monitor.pk, alert.incident_id or _utc_key(alert.period_start), alert.scope_value
        ),
        project=project.name,
        metric=monitor.metric,
        scope_value=alert.scope_value,
        observed=alert.observed,
        threshold=alert.threshold,
        window_minutes=monitor.window_minutes,
        details=tuple(fields),
    )


def monitor_link(alert: Alert) -> str:
    """The runs of the incident's scope value since its window before the incident opened."""
    monitor = alert.monitor
    if monitor is None:
        raise ValueError(f"alert {alert.pk} is not a monitor's")
    project = monitor.project
    since = alert.period_start - timedelta(minutes=monitor.window_minutes)
    params = {"since": since.astimezone(project.tz).isoformat()}
    if monitor.scope in ("agent", "model", "user") and alert.scope_value:
        params[monitor.scope] = alert.scope_value
    path = reverse("runs", args=[project.organization.slug, project.slug])
    return f"{settings.SITE_URL}{path}?{urlencode(params)}"
