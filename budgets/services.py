"""Writes of configuration: budgets, anomaly rules and destinations (the API and the admin
write through these), and the alerts that waited for a destination becoming due."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from budgets.anomalies import services as anomaly_services
from budgets.delivery.outbox import alerts_recheck
from budgets.models import Alert, AnomalyRule, Budget, Destination

log = logging.getLogger(__name__)


def own_destinations(project_id: int, destination_ids: list[int]) -> list[Destination]:
    """These destinations, all of them the project's own; else ValidationError naming the field."""
    destinations = list(Destination.objects.filter(project_id=project_id, pk__in=destination_ids))
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


def destination_save(destination: Destination) -> Destination:
    """Validate and save; the project's anomaly and monitor alerts that waited for a destination
    (their rules choose none: every destination of the project) are due at once. A budget names its own."""
    destination.full_clean()
    with transaction.atomic():
        destination.save()
        project_wide = Q(anomaly_rule__project_id=destination.project_id, anomaly_rule__destinations=None) | Q(
            monitor__project_id=destination.project_id, monitor__destinations=None
        )
        alerts_recheck(Alert.objects.filter(project_wide))
    return destination
