"""Budget evaluation (writes Alert rows) and alert delivery (claims and sends them).

Evaluation recomputes each budget's spend for the current period from the rollups and inserts
an Alert per crossed threshold, ignoring conflicts on (budget, period_start, threshold): running
twice, or on two workers at once, never makes a second row. A threshold that is no longer crossed
(the amount was raised) has its row for the period deleted, so it fires again when re-crossed.

Delivery is an outbox: `send_alert` claims a due row with a compare-and-swap that also leases it
(next_attempt_at moves forward), posts to each enabled destination not yet delivered to, and
records the outcome. Transient failures retry with backoff (or Retry-After); a permanent one
disables the destination. A worker that dies mid-send leaves the lease to expire and the row
is retried, so nothing is lost; a destination that already got it is never posted to again.
An alert with nowhere to go (no destination, or only disabled ones) is not retrying: it records
that it waits for a user (Alert.undeliverable), is checked again hourly, and is due at once when
a destination is added, chosen or re-enabled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from budgets import anomaly_services, notifiers
from budgets.models import Alert, AnomalyRule, Budget, SlackDestination
from ingest import selectors, timeranges
from ingest.models import Run
from ingest.timeranges import TimeRange
from tenancy.models import ApiKey, Project

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # a claimed send not finished by then is retried
MAX_BACKOFF = timedelta(hours=1)
NO_DESTINATION_RETRY = timedelta(hours=1)
CENT = Decimal("0.01")


# --- Periods and spend -----------------------------------------------------------------------


def period_range(period: str, tz: tzinfo, now: datetime) -> TimeRange:
    """The calendar day, week (from Monday) or month containing `now`, in the time zone."""
    today = now.astimezone(tz).date()
    if period == Budget.Period.DAY:
        first, after = today, today + timedelta(days=1)
    elif period == Budget.Period.WEEK:
        first = today - timedelta(days=today.weekday())
        after = first + timedelta(days=7)
    else:
        first = today.replace(day=1)
        after = (first + timedelta(days=32)).replace(day=1)
    return TimeRange(timeranges.local_midnight(first, tz), timeranges.local_midnight(after, tz))


def covering(project: Project) -> Q:
    """Budgets that cover a project's traffic: its own, and its organization's whole-organization
    budgets (which live in one project of the organization)."""
    return Q(project=project) | Q(scope=Budget.Scope.ORGANIZATION, project__organization_id=project.organization_id)


def budget_projects(budget: Budget) -> list[Project]:
    """The projects whose spend the budget counts."""
    if budget.scope == Budget.Scope.ORGANIZATION:
        return list(Project.objects.filter(organization_id=budget.project.organization_id).order_by("pk"))
    return [budget.project]


def _filters(budget: Budget) -> dict[str, str] | None:
    """Query filters for the budget's scope; None if the scope matches nothing (unknown key)."""
    if budget.is_whole:
        return {}
    if budget.scope == Budget.Scope.API_KEY:
        key_id = ApiKey.objects.filter(project_id=budget.project_id, prefix=budget.scope_value).values_list(
            "pk", flat=True
        )
        return {"api_key": str(key_id[0])} if key_id else None
    return {budget.scope: budget.scope_value}


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    period: TimeRange
    spend: Decimal
    projected: Decimal

    @property
    def percent(self) -> Decimal:
        return self.spend * 100 / self.budget.amount_usd

    @property
    def crossed(self) -> list[Decimal]:
        return [Decimal(str(t)) for t in self.budget.thresholds if self.percent >= Decimal(str(t))]

    @property
    def state(self) -> str:
        """ok, warning (a threshold below 100% crossed) or exceeded (100% or more spent)."""
        if self.percent >= 100:
            return "exceeded"
        return "warning" if self.crossed else "ok"


def budget_status(budget: Budget, now: datetime | None = None) -> BudgetStatus:
    """Spend so far in the current period, and its linear projection to the period's end."""
    now = now or timezone.now()
    period = period_range(budget.period, budget.project.tz, now)
    filters = _filters(budget)
    spend = Decimal(0)
    if filters is not None:
        so_far = TimeRange(period.since, now)
        spend = sum((selectors.cost_total(p, so_far, filters) for p in budget_projects(budget)), Decimal(0))
    elapsed = (now - period.since).total_seconds()
    length = (period.until - period.since).total_seconds()
    projected = spend * Decimal(length) / Decimal(elapsed) if elapsed > 0 else spend
    return BudgetStatus(budget, period, spend, projected)


# --- Evaluation ------------------------------------------------------------------------------


def evaluate_budgets(project: Project | None = None, now: datetime | None = None) -> int:
    """Create the Alert rows of every newly crossed threshold; returns how many were new."""
    now = now or timezone.now()
    budgets = Budget.objects.filter(enabled=True).select_related("project__organization")
    if project is not None:
        budgets = budgets.filter(covering(project))
    created = sum(evaluate_budget(budget, now) for budget in budgets)
    for capped in projects_with_caps(project):
        recent = Run.objects.filter(project=capped, updated_at__gte=now - RUN_CAP_LOOKBACK)
        created += check_run_caps(capped, recent, now)
    if created:
        from budgets import tasks  # here: budgets.tasks imports this module

        tasks.deliver_alerts.delay_on_commit()
    return created


def evaluate_budget(budget: Budget, now: datetime) -> int:
    status = budget_status(budget, now)
    crossed = status.crossed
    with transaction.atomic():
        period_alerts = Alert.objects.filter(budget=budget, period_start=status.period.since)
        period_alerts.exclude(threshold__in=crossed).delete()  # re-arm what is no longer crossed
        existing = set(period_alerts.values_list("threshold", flat=True))
        new = [
            Alert(
                budget=budget,
                period_start=status.period.since,
                threshold=threshold,
                spend=status.spend,
                amount=budget.amount_usd,
                projected=status.projected,
                next_attempt_at=now,
            )
            for threshold in crossed
            if threshold not in existing
        ]
        Alert.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


# --- Per-run caps ---------------------------------------------------------------------------


RUN_CAP_LOOKBACK = timedelta(hours=1)  # the rollup-pass backstop re-checks runs updated this recently


def capped_budgets_everywhere() -> QuerySet[Budget]:
    """Enabled budgets with a per-run cost or tool-call cap."""
    return Budget.objects.filter(
        Q(run_cost_cap_usd__isnull=False) | Q(run_tool_call_cap__isnull=False), enabled=True
    ).select_related("project__organization")


def capped_budgets(project: Project) -> QuerySet[Budget]:
    """The capped budgets covering the project's runs."""
    return capped_budgets_everywhere().filter(covering(project))


def projects_with_caps(project: Project | None = None) -> list[Project]:
    """The projects (all, or just this one) whose runs some capped budget covers."""
    if project is not None:
        return [project] if capped_budgets(project).exists() else []
    ids: set[int] = set()
    for budget in capped_budgets_everywhere():
        ids.update(p.pk for p in budget_projects(budget))
    return list(Project.objects.filter(pk__in=ids).order_by("pk"))


def runs_in_scope(budget: Budget, runs: QuerySet[Run]) -> QuerySet[Run]:
    """The runs a budget's scope covers (a model budget: runs with a call to that model)."""
    if budget.scope == Budget.Scope.AGENT:
        return runs.filter(agent_name=budget.scope_value)
    if budget.scope == Budget.Scope.USER:
        return runs.filter(user_id=budget.scope_value)
    if budget.scope == Budget.Scope.API_KEY:
        return runs.filter(api_key__prefix=budget.scope_value)
    if budget.scope == Budget.Scope.MODEL:
        return runs.filter(trace_id__in=selectors.traces_calling_model(budget.project, budget.scope_value))
    return runs


def check_run_caps(project: Project, runs: QuerySet[Run], now: datetime | None = None) -> int:
    """Create an alert for each of these runs over a per-run cap of a budget covering it (once
    per budget, cap and run); returns how many were new."""
    now = now or timezone.now()
    new: list[Alert] = []
    for budget in capped_budgets(project):
        scoped = runs_in_scope(budget, runs)
        caps = (
            (Alert.Kind.RUN_COST, budget.run_cost_cap_usd, "cost_usd"),
            (Alert.Kind.RUN_TOOL_CALLS, budget.run_tool_call_cap, "tool_calls"),
        )
        for kind, cap, field in caps:
            if cap is None:
                continue
            for trace_id, start, value in scoped.filter(**{f"{field}__gte": cap}).values_list(
                "trace_id", "start_time", field
            ):
                new.append(
                    Alert(
                        budget=budget,
                        kind=kind,
                        trace_id=trace_id,
                        period_start=start,
                        threshold=100,
                        spend=Decimal(value),
                        amount=Decimal(cap),
                        next_attempt_at=now,
                    )
                )
    if new:
        existing = set(
            Alert.objects.filter(
                budget_id__in={a.budget_id for a in new},
                kind__in=[a.kind for a in new],
                trace_id__in={a.trace_id for a in new},
            ).values_list("budget_id", "kind", "trace_id")
        )
        new = [a for a in new if (a.budget_id, a.kind, a.trace_id) not in existing]
        Alert.objects.bulk_create(new, ignore_conflicts=True)  # a concurrent check may have won
    if new:
        from budgets import tasks  # here: budgets.tasks imports this module

        tasks.deliver_alerts.delay_on_commit()
    return len(new)


# --- Delivery --------------------------------------------------------------------------------


def due_alerts(now: datetime | None = None) -> QuerySet[Alert]:
    return Alert.objects.filter(sent_at=None, next_attempt_at__lte=now or timezone.now()).order_by("next_attempt_at")


def deliver_due_alerts(now: datetime | None = None) -> int:
    """Try every due alert once; returns how many were sent."""
    sent = 0
    for alert_id in list(due_alerts(now).values_list("pk", flat=True)[:500]):
        sent += send_alert(alert_id, now)
    return sent


def send_alert(alert_id: int, now: datetime | None = None) -> bool:
    """Claim the alert, post it to its pending destinations, record the outcome. True if it is
    now sent to every destination; False if someone else holds it or something must retry."""
    now = now or timezone.now()
    claimed = Alert.objects.filter(pk=alert_id, sent_at=None, next_attempt_at__lte=now).update(
        next_attempt_at=now + LEASE, attempts=F("attempts") + 1
    )
    if claimed != 1:
        return False
    alert = Alert.objects.select_related("budget__project", "anomaly_rule__project").get(pk=alert_id)
    destinations = alert_destinations(alert)
    delivered = set(alert.delivered_to.values_list("pk", flat=True))
    pending = [d for d in destinations if d.pk not in delivered and d.enabled]
    if not destinations or (not pending and len(delivered) < len(destinations)):
        reason = Alert.Undeliverable.DESTINATIONS_DISABLED if destinations else Alert.Undeliverable.NO_DESTINATION
        Alert.objects.filter(pk=alert.pk, sent_at=None).update(
            next_attempt_at=now + NO_DESTINATION_RETRY, undeliverable=reason, last_error=""
        )
        return False
    text, blocks = alert_message(alert)
    errors: list[notifiers.NotifyError] = []
    for destination in pending:
        try:
            notifiers.post_slack_message(destination.webhook_url, blocks, text)
        except notifiers.NotifyError as exc:
            errors.append(exc)
            if exc.permanent:
                destination_disable(destination, exc.message)
        else:
            alert.delivered_to.add(destination)
    if not errors:
        Alert.objects.filter(pk=alert.pk).update(sent_at=now, last_error="", undeliverable="")
        return True
    retry_after = max((e.retry_after or 0 for e in errors), default=0)
    backoff = min(timedelta(seconds=30 * 2 ** (alert.attempts - 1)), MAX_BACKOFF)
    _retry_later(alert, now + max(backoff, timedelta(seconds=retry_after)), errors[-1].message)
    return False


def alert_destinations(alert: Alert) -> list[SlackDestination]:
    """The budget's or the anomaly rule's destinations (a rule without any: the whole project's)."""
    if alert.anomaly_rule is not None:
        rule = alert.anomaly_rule
        chosen = list(rule.destinations.filter(project_id=rule.project_id))
        return chosen or list(SlackDestination.objects.filter(project_id=rule.project_id).order_by("pk"))
    budget = alert_budget(alert)
    return list(budget.destinations.filter(project_id=budget.project_id))


def alert_budget(alert: Alert) -> Budget:
    """The budget of a threshold or run-cap alert (every alert has a budget or an anomaly rule)."""
    if alert.budget is None:
        raise ValueError(f"alert {alert.pk} is not a budget alert")
    return alert.budget


def _retry_later(alert: Alert, when: datetime, error: str) -> None:
    Alert.objects.filter(pk=alert.pk, sent_at=None).update(
        next_attempt_at=when, last_error=error[:500], undeliverable=""
    )


def alerts_recheck(alerts: QuerySet[Alert], now: datetime | None = None) -> int:
    """Those of these alerts that waited for a destination are due at once (one was added or
    chosen for them) and no longer shown as waiting. Returns how many."""
    waiting = alerts.filter(sent_at=None).exclude(undeliverable="")
    return waiting.update(next_attempt_at=now or timezone.now(), undeliverable="")


def destination_disable(destination: SlackDestination, reason: str) -> None:
    log.warning("disabling Slack destination %s: %s", destination.pk, reason)
    SlackDestination.objects.filter(pk=destination.pk).update(disabled_reason=reason[:300])


def destination_enable(destination: SlackDestination, now: datetime | None = None) -> None:
    """Clear the disabled state; the alerts that waited for it are due again at once."""
    SlackDestination.objects.filter(pk=destination.pk).update(disabled_reason="")
    destination.disabled_reason = ""
    waiting = Q(budget__destinations=destination) | Q(anomaly_rule__project_id=destination.project_id)
    Alert.objects.filter(waiting, sent_at=None).update(next_attempt_at=now or timezone.now(), undeliverable="")


def destination_send_test(destination: SlackDestination) -> None:
    """Post a test message now; raises NotifyError (and disables the destination if permanent)."""
    text = f"AgentLedger test message for destination “{destination.name}”."
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    try:
        notifiers.post_slack_message(destination.webhook_url, blocks, text)
    except notifiers.NotifyError as exc:
        if exc.permanent:
            destination_disable(destination, exc.message)
        raise


# --- Message ---------------------------------------------------------------------------------


def money(value: Decimal) -> str:
    return f"${value.quantize(CENT):,}"


def alert_message(alert: Alert) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and Block Kit blocks for an alert."""
    if alert.anomaly_rule is not None:
        return anomaly_services.anomaly_message(alert)
    if alert.kind != Alert.Kind.THRESHOLD:
        return run_cap_message(alert)
    budget = alert_budget(alert)
    tz = budget.project.tz
    period = period_range(budget.period, tz, alert.period_start)
    percent = (alert.spend * 100 / alert.amount).quantize(Decimal("0.1"))
    exceeded = alert.threshold >= 100
    title = f"{'Budget exceeded' if exceeded else 'Budget warning'}: {budget.name}"
    first, last = period.since.astimezone(tz), (period.until - timedelta(seconds=1)).astimezone(tz)
    period_text = f"{budget.get_period_display()} {first:%Y-%m-%d} to {last:%Y-%m-%d} ({budget.project.timezone})"
    text = (
        f"{title} — {money(alert.spend)} of {money(alert.amount)} ({percent}%), "
        f"threshold {alert.threshold.normalize():f}%, {budget.scope_label}"
    )
    fields = [
        ("Scope", budget.scope_label),
        ("Spend", f"{money(alert.spend)} of {money(alert.amount)} ({percent}%)"),
        ("Threshold", f"{alert.threshold.normalize():f}%"),
        ("Period", period_text),
        ("Projected by period end", money(alert.projected)),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields]},
        {
            "type": "actions",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "View cost"}, "url": cost_link(alert)}
            ],
        },
    ]
    return text, blocks


def run_cap_message(alert: Alert) -> tuple[str, list[dict[str, Any]]]:
    budget = alert_budget(alert)
    project = budget.project
    if alert.kind == Alert.Kind.RUN_COST:
        measured = f"cost {money(alert.spend)}, cap {money(alert.amount)}"
    else:
        measured = f"{alert.spend:.0f} tool calls, cap {alert.amount:.0f}"
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
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields]},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open run"},
                    "url": f"{settings.SITE_URL}{link}",
                }
            ],
        },
    ]
    return text, blocks


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


# --- Configuration (API and admin write through these) ---------------------------------------


def own_destinations(project_id: int, destination_ids: list[int]) -> list[SlackDestination]:
    """These destinations, all of them the project's own; else ValidationError naming the field."""
    destinations = list(SlackDestination.objects.filter(project_id=project_id, pk__in=destination_ids))
    unknown = set(destination_ids) - {d.pk for d in destinations}
    if unknown:
        raise ValidationError({"destinations": f"no such destination in this project: {sorted(unknown)}"})
    return destinations


def budget_save(budget: Budget, destination_ids: list[int] | None = None) -> Budget:
    """Validate (model validators and clean, naming the field) and save; destinations must be
    the project's own. Raises ValidationError."""
    budget.full_clean()
    destinations = [] if destination_ids is None else own_destinations(budget.project_id, destination_ids)
    with transaction.atomic():
        budget.save()
        if destination_ids is not None:
            budget.destinations.set(destinations)
            alerts_recheck(budget.alerts.all())
    return budget


def anomaly_rule_save(rule: AnomalyRule, destination_ids: list[int] | None = None) -> AnomalyRule:
    """Validate (model validators and clean, naming the field) and save; destinations must be the
    project's own (none: every destination of the project). A project's first rule comes with the
    default ones, as detection would have made them: adding a rule never silences the others."""
    rule.full_clean()
    destinations = [] if destination_ids is None else own_destinations(rule.project_id, destination_ids)
    with transaction.atomic():
        if rule._state.adding:  # a new rule
            anomaly_services.ensure_default_rules(rule.project)
        rule.save()
        if destination_ids is not None:
            rule.destinations.set(destinations)
            alerts_recheck(rule.alerts.all())
    return rule


def destination_save(destination: SlackDestination) -> SlackDestination:
    """Validate and save; the project's anomaly alerts that waited for a destination (their rules
    choose none: every destination of the project) are due at once. A budget names its own."""
    destination.full_clean()
    with transaction.atomic():
        destination.save()
        project_wide = Q(anomaly_rule__project_id=destination.project_id, anomaly_rule__destinations=None)
        alerts_recheck(Alert.objects.filter(project_wide))
    return destination
