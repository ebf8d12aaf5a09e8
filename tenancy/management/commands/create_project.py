from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenancy import services


class Command(BaseCommand):
    help = "Create a project (and its organization when needed); the new ingest key is the last line printed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--org",
            default=services.DEFAULT_ORG_SLUG,
            help="organization slug (created if missing)",
        )
        parser.add_argument(
            "--timezone",
            default="UTC",
            help="IANA time zone for calendar ranges (default UTC)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            project, new_key = services.project_create(
                options["name"],
                org_slug=options["org"],
                timezone_name=options["timezone"],
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{field}: {' '.join(errs)}" for field, errs in exc.message_dict.items())
            ) from None
        self.stdout.write(
            f"Created project {project.name!r} ({project}) in organization {project.organization.name!r}."
        )
        self.stdout.write("Ingest key (shown once, store it now):")
        self.stdout.write(new_key.raw_key)
