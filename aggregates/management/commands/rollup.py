from __future__ import annotations

import time
from datetime import UTC, date, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from aggregates import rollups
from tenancy.models import Project


class Command(BaseCommand):
    help = (
        "Bring every rollup up to date now (the dirty hours, then their days). With --rebuild, "
        "drop and recompute the rollups from the stored runs and spans."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rebuild",
            action="store_true",
            help="recompute every hour (from --since) instead of only the dirty ones",
        )
        parser.add_argument(
            "--since",
            type=date.fromisoformat,
            help="with --rebuild: first UTC day to rebuild (YYYY-MM-DD); default all",
        )
        parser.add_argument("--project", type=int, help="with --rebuild: only this project id")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        if not options["rebuild"]:
            if options["since"] or options["project"]:
                raise CommandError("--since and --project go with --rebuild")
            count = rollups.rollup_until_current()
            self.stdout.write(f"Recomputed {count} dirty bucket(s) in {time.monotonic() - started:.1f}s.")
            return
        project = None
        if options["project"] is not None:
            project = Project.objects.filter(pk=options["project"]).first()
            if project is None:
                raise CommandError(f"no project with id {options['project']}")
        since = options["since"]
        hours = rollups.rebuild(
            project=project,
            since=datetime.combine(since, datetime.min.time(), tzinfo=UTC) if since else None,
        )
        self.stdout.write(f"Rebuilt {hours} hour(s) and their days in {time.monotonic() - started:.1f}s.")
