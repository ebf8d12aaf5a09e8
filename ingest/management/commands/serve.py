"""`make run`: migrate, make sure an admin and a default project exist, then run the web server
(gunicorn) and a Celery worker with beat until Ctrl-C. While it runs, settings.SERVER_URL_FILE
holds its URL, so `make demo` in another terminal links to this server whatever its port."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from tenancy import services
from tenancy.models import Project

KEY_FILE = "default-ingest-key"


class Command(BaseCommand):
    help = "Run AgentLedger: web server + Celery worker and beat (embedded default unless DATABASE_URL/CELERY_BROKER_URL are set)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.AGENTLEDGER_HOST, help="default: HOST, else 127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.AGENTLEDGER_PORT, help="default: PORT, else 8000")
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument("--no-worker", action="store_true", help="run the web server only")

    def handle(self, *args: Any, **options: Any) -> None:
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        login = self.ensure_admin()
        raw_key = self.ensure_default_project()
        url = f"http://{options['host']}:{options['port']}"
        self.print_banner(url, login, raw_key)
        commands = [
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"{options['host']}:{options['port']}",
                "--workers",
                str(options["web_workers"]),
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "5",
            ],
        ]
        if not options["no_worker"]:
            commands.append(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--beat",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    "2",
                    "--schedule",
                    settings.CELERY_BEAT_SCHEDULE_FILENAME,
                ]
            )
        url_file = Path(settings.SERVER_URL_FILE)
        url_file.write_text(url + "\n")
        try:
            code = supervise(commands)
        finally:
            url_file.unlink(missing_ok=True)
        sys.exit(code)

    def ensure_admin(self) -> str:
        user_model = get_user_model()
        password = settings.AGENTLEDGER_ADMIN_PASSWORD
        user = user_model.objects.filter(username="admin").first()
        if user is None:
            generated = not password
            password = password or secrets.token_urlsafe(12)
            user_model.objects.create_superuser("admin", "", password)
            if generated:
                return f"admin / {password}   (generated; shown only this once)"
            return "admin / the password in AGENTLEDGER_ADMIN_PASSWORD"
        if password:
            user.set_password(password)
            user.save(update_fields=["password"])
            return "admin / the password in AGENTLEDGER_ADMIN_PASSWORD"
        return "admin / the password printed on the first run (or set AGENTLEDGER_ADMIN_PASSWORD)"

    def ensure_default_project(self) -> str:
        """The default project's key is kept in var/ so every run can print it again."""
        key_file = Path(settings.VAR_DIR) / KEY_FILE
        if Project.objects.exists() and key_file.exists():
            return key_file.read_text().strip()
        project = Project.objects.filter(organization__slug=services.DEFAULT_ORG_SLUG).first()
        if project is None:
            project, new_key = services.project_create("Default")
        else:
            new_key = services.api_key_create(project, name="make run")
        key_file.write_text(new_key.raw_key + "\n")
        key_file.chmod(0o600)
        return new_key.raw_key

    def print_banner(self, url: str, login: str, raw_key: str) -> None:
        self.stdout.write(
            f"""
AgentLedger is starting at {url}
  sign in:   {url}/   {login}   (Django admin: {url}/admin/)
  ingest key of the default project: {raw_key}

Point an OpenTelemetry SDK at it:
  export OTEL_EXPORTER_OTLP_ENDPOINT={url}
  export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer {raw_key}"
  export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf

Demo data: make demo (or .venv/bin/python manage.py seed_demo --url {url}) sends a week of sample agent runs.
Ctrl-C stops everything.
"""
        )
        self.stdout.flush()


def supervise(commands: list[list[str]]) -> int:
    """Run the processes until one exits or we are told to stop; then stop all of them."""
    procs = [subprocess.Popen(cmd) for cmd in commands]  # noqa: S603  (our own fixed command lines)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while not stopping:
        exited = [p for p in procs if p.poll() is not None]
        if exited:
            code = exited[0].returncode or 1
            break
        time.sleep(0.2)
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0 if stopping else code
