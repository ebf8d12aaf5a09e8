"""manage.py detect_anomalies [--project org/slug] [--backfill-hours N]: one detection pass now
(what the beat job runs every 5 minutes); --backfill-hours also records the incidents of that
much past, e.g. after `seed_demo`, whose cost spike is two days old."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from budgets.anomalies import services as anomaly_services
from tenancy.models import Project


class Command(BaseCommand):
    help = "Judge the hourly series against their baselines and queue anomaly alerts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", default="", help="org/slug; default: every project")
        parser.add_argument("--backfill-hours", type=int, default=0, help="also record past incidents (max 168)")

    def handle(self, *args: Any, **options: Any) -> None:
        project = None
        if options["project"]:
            org, _, slug = options["project"].partition("/")
            project = Project.objects.filter(organization__slug=org, slug=slug).first()
            if project is None:
                raise CommandError(f"no project {options['project']}")
        hours = options["backfill_hours"]
        if not 0 <= hours <= 168:
            raise CommandError("--backfill-hours must be between 0 and 168")
        created = anomaly_services.detect_anomalies(project, backfill=timedelta(hours=hours) if hours else None)
        self.stdout.write(f"{created} new anomaly alert(s) queued")
