"""Every alert text: budget thresholds, run caps, anomalies and the daily digest, each as a
fallback text and Slack Block Kit blocks. Pure formatting over stored rows (and the links and
summaries they point to); nothing here sends or writes."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

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


def alert_message(alert: Alert) -> tuple[str, Blocks]:
    """Fallback text and Block Kit blocks for an alert."""
    if alert.monitor_id is not None:
        return monitor_message(alert)
    if alert.anomaly_rule is not None:
        return anomaly_message(alert)
    if alert.kind != Alert.Kind.THRESHOLD:
        return run_cap_message(alert)
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
    return text, card(title, fields, ("View cost", cost_link(alert)))


def run_cap_message(alert: Alert) -> tuple[str, Blocks]:
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
    link = reverse("run", args=[run_project.organization.slug, run_project.slug, alert.trace_id])
    return text, card(title, fields, ("Open run", f"{settings.SITE_URL}{link}"))


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


def anomaly_message(alert: Alert) -> tuple[str, Blocks]:
    """Fallback text and Block Kit blocks: metric, scope, observed value, expected band, link."""
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
    return text, card(title, fields, ("View chart", anomaly_link(alert)))


def _cost_by_agent(project: Project, first: date, days: int) -> dict[str, Decimal]:
    tz = project.tz
    span = TimeRange(timeranges.local_midnight(first, tz), timeranges.local_midnight(first + timedelta(days=days), tz))
    rows = selectors.summary(project, span, group_by="agent")["rows"]
    return {row["group"] or "(no agent)": row["cost_usd"] or Decimal(0) for row in rows}


def digest_message(project: Project, day: date) -> tuple[str, Blocks]:
    costs = _cost_by_agent(project, day, 1)
    before = _cost_by_agent(project, day - timedelta(days=7), 7)
    total = sum(costs.values(), Decimal(0))
    lines = []
    for agent, cost in sorted(costs.items(), key=lambda kv: -kv[1])[:MAX_AGENTS]:
        average = before.get(agent, Decimal(0)) / 7
        change = f"{(cost - average) * 100 / average:+.0f}% vs 7-day avg" if average else "new"
        lines.append(f"• *{agent}*: {money(cost)} ({change})")
    title = f"{project.name}: {money(total)} on {day:%A %Y-%m-%d}"
    return title, card(title, body="\n".join(lines) or "No agent cost.")


def test_message(destination_name: str) -> tuple[str, Blocks]:
    text = f"AgentLedger test message for destination “{destination_name}”."
    return text, card("", body=text)[1:]  # no header: one line of text


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


def monitor_message(alert: Alert) -> tuple[str, Blocks]:
    """Fallback text and blocks of one incident state of a monitor: its name, metric, scope
    value, observed value, threshold, window and when the incident opened."""
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
    return text, card(title, fields, ("View runs", monitor_link(alert)))


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
