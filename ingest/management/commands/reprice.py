from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest import repricing
from pricing import book
from tenancy.models import Project


class Command(BaseCommand):
    help = "Recompute the cost of stored LLM spans (after adding a price override or upgrading genai-prices)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", help="project id or org/slug (default: every project)")
        parser.add_argument("--since", help="only spans from this date or ISO time on (UTC)")
        parser.add_argument("--model", default="", help="only spans of this model")
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args: Any, **options: Any) -> None:
        project = _project(options["project"]) if options["project"] else None
        since = _since(options["since"]) if options["since"] else None
        result = repricing.reprice_spans(
            project=project, since=since, model=options["model"], batch_size=options["batch_size"]
        )
        self.stdout.write(
            f"Repriced with {book.price_book_version()}: {result.spans_changed} span(s) changed, "
            f"{result.runs_recomputed} run(s) recomputed."
        )


def _project(value: str) -> Project:
    query = Project.objects.filter(pk=int(value)) if value.isdigit() else None
    if query is None:
        org, _, slug = value.partition("/")
        query = Project.objects.filter(organization__slug=org, slug=slug)
    project = query.first()
    if project is None:
        raise CommandError(f"--project {value!r}: no such project (use an id or org/slug)")
    return project


def _since(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--since {value!r} is not a date (YYYY-MM-DD) or ISO time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
