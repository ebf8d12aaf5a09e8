"""`seed_demo`: a week of demo agent traffic, sent through the real OTLP endpoint, so a new
install shows a living dashboard in a minute.

The traces travel the way an exporter's do (OTLP/HTTP protobuf, gzip, a project key), so the
demo also proves intake works end to end. Without --url the command serves the app itself on a
loopback port for as long as it runs; with --url it posts to a running server, which must use
this same database (the key is created here).

The link it prints is where to look afterwards, never its own temporary server: the --url server,
else the `make run` serving this var/ (it records its URL in settings.SERVER_URL_FILE, so its PORT
need not be repeated here), else SITE_URL (whose default follows PORT).
"""

from __future__ import annotations

import gzip
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections
from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from aggregates import rollups
from budgets.anomalies import services as anomaly_services
from budgets.models import Alert
from budgets.monitors.models import MonitorIncident
from demo import monitors as demo_monitors
from demo import traffic
from ingest.models import Run
from tenancy import services
from tenancy.models import Membership, Organization, Project

PROJECT_NAME = "Demo"
PROJECT_SLUG = "demo"
REQUEST_TIMEOUT = 120  # seconds; a batch is a few hundred spans
HEALTH_TIMEOUT = 3  # seconds for the running server's /healthz


class Command(BaseCommand):
    help = (
        "Send a week of realistic multi-agent traces to the 'Demo' project through the OTLP "
        "endpoint (a server of its own unless --url is given), then bring rollups up to date."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days", type=int, default=7, help="calendar days (UTC) of traffic, today included, ending now (default 7)"
        )
        parser.add_argument("--runs-per-day", type=int, default=150, help="agent runs per day (default 150)")
        parser.add_argument("--seed", type=int, default=42, help="random seed: same seed, same traffic")
        parser.add_argument(
            "--url",
            default="",
            help="a running AgentLedger on this database, e.g. http://127.0.0.1:8000 (default: serve one here)",
        )
        parser.add_argument("--user", default="", help="also make this user a member of the demo's organization")
        parser.add_argument("--batch-spans", type=int, default=300, help="spans per OTLP request (default 300)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] < 1 or options["runs_per_day"] < 1 or options["batch_spans"] < 1:
            raise CommandError("--days, --runs-per-day and --batch-spans must be at least 1")
        url = _checked_url(options["url"])
        started = time.monotonic()
        users = members_to_add(options["user"])
        project, raw_key = demo_project()
        members = add_members(project.organization, users)
        runs = traffic.generate(
            days=options["days"], runs_per_day=options["runs_per_day"], end=timezone.now(), seed=options["seed"]
        )
        with _endpoint(url) as endpoint:
            where = f"{url}/v1/traces" if url else "the OTLP endpoint of a temporary server (stopped when done)"
            self.stdout.write(f"Sending {len(runs)} runs to {where} …")
            sent = send(endpoint, raw_key, runs, max_spans=options["batch_spans"])
        rollups.rollup_until_current()
        # The spike is days old: backfill records it (and its recovery) as anomaly alerts.
        anomaly_services.detect_anomalies(project, backfill=timedelta(days=options["days"]))
        demo_monitors.seed_monitors(project, timezone.now())
        self.summarize(project, runs, sent, url, members, time.monotonic() - started)

    def summarize(
        self, project: Project, runs: list[traffic.DemoRun], sent: int, url: str, members: list[str], seconds: float
    ) -> None:
        """Totals as stored (read back, so a silently dropped run shows), and where to look."""
        trace_ids = [run.spans[0].trace_id.hex() for run in runs]
        totals = stored_totals(project, trace_ids)
        if totals["runs"] != len(runs):
            raise CommandError(f"sent {len(runs)} runs but {totals['runs']} are stored in project {project}")
        spikes = [run for run in runs if run.spike]
        spike_cost = stored_totals(project, [run.spans[0].trace_id.hex() for run in spikes])["cost"]
        spike_day = datetime.fromtimestamp(spikes[0].spans[0].start_time_unix_nano / 1e9, UTC)
        path = reverse("overview", args=[project.organization.slug, project.slug])
        base_url, serving = dashboard_url(url)
        hint = "" if serving else "   (start `make run` if it is not running)"
        anomalies = Alert.objects.filter(anomaly_rule__project=project, kind=Alert.Kind.ANOMALY).count()
        incidents = MonitorIncident.objects.filter(monitor__project=project).count()
        self.stdout.write(
            f"Seeded project {project.name!r} ({project}) in {seconds:.1f}s:\n"
            f"  runs:   {totals['runs']} ({totals['failed']} failed), spans: {sent}\n"
            f"  cost:   ${totals['cost']:.2f} (+ {totals['unpriced']} calls of a model without a price)\n"
            f"  spike:  {len(spikes)} runaway {traffic.SPIKE_AGENT} run(s) on {spike_day:%a %b %d} cost ${spike_cost:.2f}\n"
            f"  alerts: {anomalies} anomaly alert(s) on the Alerts page\n"
            f"  monitors: {project.monitors.count()} on the Monitors page, {incidents} incident(s) in the last hours\n"
            f"  open:   {base_url.rstrip('/')}{path}{hint}"
        )
        if members:
            self.stdout.write(f"  members of {project.organization.slug!r}: {', '.join(members)}")
        else:
            self.stdout.write("  no superuser yet: `make run` creates one (admin), or pass --user NAME")


def dashboard_url(url: str) -> tuple[str, bool]:
    """Where to open the dashboard, and whether a server is known to answer there: the --url
    server, else the running `make run` of this var/ (the URL it recorded, if it answers), else
    SITE_URL (http://127.0.0.1:$PORT unless set)."""
    if url:
        return url, True
    try:
        recorded = Path(settings.SERVER_URL_FILE).read_text().strip()
    except OSError:
        recorded = ""
    if urlsplit(recorded).scheme in ("http", "https") and _answers(f"{recorded}/healthz"):
        return recorded, True
    return settings.SITE_URL, False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT):  # noqa: S310  (http(s) only, checked above)
            return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def demo_project() -> tuple[Project, str]:
    """The default organization's "Demo" project (created once, reused after) and a new key."""
    project = (
        Project.objects.select_related("organization")
        .filter(organization__slug=services.DEFAULT_ORG_SLUG, slug=PROJECT_SLUG)
        .first()
    )
    if project is None:
        project, new_key = services.project_create(PROJECT_NAME)
    else:
        new_key = services.api_key_create(project, name="seed_demo")
    return project, new_key.raw_key


def members_to_add(username: str) -> list[User]:
    """Every superuser, and the named user: the demo project must show up for them."""
    user_model = get_user_model()
    users: list[User] = list(user_model.objects.filter(is_superuser=True))
    if username:
        user = user_model.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        users.append(user)
    return users


def add_members(organization: Organization, users: list[User]) -> list[str]:
    """Make the users members of the organization; an existing membership keeps its role."""
    for user in users:
        role = Membership.Role.ADMIN if user.is_superuser else Membership.Role.EDITOR
        Membership.objects.get_or_create(organization=organization, user=user, defaults={"role": role})
    return sorted({user.get_username() for user in users})


def send(endpoint: str, raw_key: str, runs: list[traffic.DemoRun], *, max_spans: int) -> int:
    """Post the runs as gzip'd OTLP/protobuf exports; any refusal or rejected span stops us."""
    sent = 0
    for export in traffic.export_requests(runs, max_spans=max_spans):
        spans = sum(len(s.spans) for r in export.resource_spans for s in r.scope_spans)
        _post(f"{endpoint}/v1/traces", raw_key, gzip.compress(export.SerializeToString(), compresslevel=5))
        sent += spans
    return sent


def _post(url: str, raw_key: str, body: bytes) -> None:
    request = urllib.request.Request(  # noqa: S310  (http(s) only: _checked_url)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-protobuf",
            "Content-Encoding": "gzip",
            "Authorization": f"Bearer {raw_key}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:  # noqa: S310
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace")
        hint = " (is that server running on this database?)" if exc.code == 401 else ""
        raise CommandError(f"{url} answered {exc.code}{hint}: {detail}") from None
    except (urllib.error.URLError, TimeoutError) as exc:
        raise CommandError(f"cannot reach {url}: {exc}") from None
    if status != 200:
        raise CommandError(f"{url} answered {status}, expected 200")
    result = trace_service_pb2.ExportTraceServiceResponse.FromString(answer)
    if result.partial_success.rejected_spans or result.partial_success.error_message:
        raise CommandError(
            f"{url} rejected {result.partial_success.rejected_spans} span(s): {result.partial_success.error_message}"
        )


def stored_totals(project: Project, trace_ids: list[str]) -> dict[str, Any]:
    """Runs, failures, cost and unpriced calls of these traces, read from the database."""
    totals: dict[str, Any] = {"runs": 0, "failed": 0, "cost": Decimal(0), "unpriced": 0}
    for start in range(0, len(trace_ids), 500):
        chunk = Run.objects.filter(project=project, trace_id__in=trace_ids[start : start + 500]).aggregate(
            runs=Count("pk"),
            failed=Count("pk", filter=Q(status=Run.Status.ERROR)),
            cost=Sum("cost_usd"),
            unpriced=Sum("unpriced_calls"),
        )
        for name, value in chunk.items():
            totals[name] += value or 0
    return totals


def _checked_url(url: str) -> str:
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CommandError(f"--url {url!r} is not an http(s) URL such as http://127.0.0.1:8000")
    return url.rstrip("/")


@contextmanager
def _endpoint(url: str) -> Iterator[str]:
    """The given server, or this app served on a free loopback port until the block ends."""
    if url:
        yield url
        return
    # WhiteNoise warns when collectstatic never ran; intake needs no static files.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    from config.wsgi import application

    server = make_server("127.0.0.1", 0, application, server_class=WSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=_serve, args=(server,), name="seed_demo-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def _serve(server: WSGIServer) -> None:
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        connections.close_all()  # this thread's own connections


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request."""

    def log_message(self, format: str, *args: Any) -> None:
        return
