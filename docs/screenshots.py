"""README screenshots: the main dashboard pages, filled with demo data, rendered by Chromium.

    .venv/bin/python docs/screenshots.py                 # or: make screenshots
    options: --pages overview,cost   --days 7 --runs-per-day 150   --keep (leave var/screenshots/)

It builds a throwaway SQLite database under var/screenshots/ (migrate, a superuser, seed_demo),
serves the app with gunicorn on a free loopback port, signs in with Playwright driving Debian's
Chromium (never a downloaded browser: set AGENTLEDGER_CHROMIUM to use another binary) and writes
docs/screenshots/<page>.png at 1280x900 once every chart is drawn. A page that answers 404 (not
written yet) is skipped with a warning, so the script runs while pages are still being built.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = "var/screenshots"
OUT_DIR = ROOT / "docs" / "screenshots"
PROJECT = "/p/default/demo"
USERNAME = "admin"
CHROMIUM = os.environ.get("AGENTLEDGER_CHROMIUM", "/usr/bin/chromium")
# Chromium's own phone-home connections are refused on closed networks; keep it quiet and fast.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}
# Every chart whose figure is on the page has been drawn by static/js/charts.js.
CHARTS_DRAWN = """() => [...document.querySelectorAll('[data-chart]')]
    .every(el => !document.getElementById(el.dataset.chart) || el.dataset.drawn === 'true')"""


@dataclass(frozen=True)
class Shot:
    name: str  # docs/screenshots/<name>.png
    path: str  # under the demo project
    dark: bool = False
    wait_for: str = ""  # a selector that must be visible too


def shots(run_path: str, monitor_path: str) -> list[Shot]:
    return [
        Shot("overview", "/?since=7d"),
        Shot("cost", "/cost/?group_by=agent&since=7d"),
        Shot("runs", "/runs/?since=7d"),
        Shot("run", run_path, wait_for="#span-panel"),
        Shot("tools", "/tools/?since=7d"),
        Shot("models", "/models/?since=7d"),
        Shot("scores", "/scores/?since=7d&name=grounded"),
        Shot("monitors", "/monitors/"),
        Shot("monitor", monitor_path),
        Shot("overview-dark", "/?since=7d", dark=True),
    ]


def environment(password: str) -> dict[str, str]:
    """The throwaway database and settings, for this process and the children."""
    var = ROOT / VAR_DIR
    env = dict(os.environ)
    env.update(
        AGENTLEDGER_VAR_DIR=VAR_DIR,
        DATABASE_URL=f"sqlite:///{var / 'agentledger.sqlite3'}",
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="false",
        AGENTLEDGER_HASHED_STATIC="false",  # WhiteNoise serves the source files: no collectstatic
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_SUPERUSER_PASSWORD=password,
        DJANGO_SETTINGS_MODULE="config.settings",
        LOG_LEVEL="WARNING",
    )
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603


def prepare(env: dict[str, str], days: int, runs_per_day: int) -> None:
    shutil.rmtree(ROOT / VAR_DIR, ignore_errors=True)
    (ROOT / VAR_DIR / "static").mkdir(parents=True)  # STATIC_ROOT: WhiteNoise warns when it is missing
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "createsuperuser", "--noinput", "--username", USERNAME, "--email", "admin@example.com")
    manage(env, "seed_demo", "--days", str(days), "--runs-per-day", str(runs_per_day))


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def run_detail_path(env: dict[str, str]) -> str:
    """A recent successful run with several tool calls, its last LLM call's panel open."""
    django_setup(env)
    from ingest.models import Run, Span

    runs = Run.objects.filter(project__slug="demo", status="ok", tool_calls__gte=2, tool_errors=0)
    run = runs.filter(agent_name="sql-analyst").order_by("-start_time").first() or runs.order_by("-start_time").first()
    if run is None:
        return "/runs/"
    span = Span.objects.filter(project=run.project, trace_id=run.trace_id, kind="llm").order_by("-start_time").first()
    return f"/runs/{run.trace_id}/" + (f"?span={span.span_id}" if span else "")


def monitor_detail_path(env: dict[str, str]) -> str:
    """The demo monitor with the most incidents: its chart shows them."""
    django_setup(env)
    from django.db.models import Count

    from budgets.monitors.models import Monitor

    monitor = Monitor.objects.filter(project__slug="demo").annotate(n=Count("incidents")).order_by("-n", "pk").first()
    return f"/monitors/{monitor.pk}/" if monitor else "/monitors/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(env: dict[str, str]) -> Iterator[str]:
    """gunicorn on a free loopback port until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
           "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)  # noqa: S603
    try:
        wait_until_up(f"{url}/healthz", proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=10):  # noqa: S310  (our own loopback URL)
                return
        except (urllib.error.URLError, OSError):  # refused while gunicorn starts, slow while Django loads
            time.sleep(0.2)
    raise SystemExit(f"the server did not answer {url} within {timeout:.0f}s")


def capture(url: str, password: str, wanted: list[Shot]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        light = browser.new_context(viewport=VIEWPORT, color_scheme="light")
        sign_in(light.new_page(), url, password)
        dark = browser.new_context(viewport=VIEWPORT, color_scheme="dark", storage_state=light.storage_state())
        dark.add_init_script("localStorage.setItem('agentledger-theme', 'dark')")
        for shot in wanted:
            page = (dark if shot.dark else light).new_page()
            path = take(page, url, shot)
            if path:
                written.append(path)
            page.close()
        browser.close()
    return written


def sign_in(page, url: str, password: str) -> None:
    page.goto(f"{url}/accounts/login/")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}{PROJECT}/**")
    page.close()


def take(page, url: str, shot: Shot) -> Path | None:
    """One screenshot once the page is complete; None (and a warning) if the page is missing."""
    response = page.goto(f"{url}{PROJECT}{shot.path}", wait_until="networkidle")
    status = response.status if response else 0
    if status != 200:
        reason = "not written yet?" if status == 404 else "see the server log"
        print(f"warning: skipped {shot.name}: {PROJECT}{shot.path} answered {status} ({reason})", file=sys.stderr)
        return None
    page.wait_for_function(CHARTS_DRAWN, timeout=15_000)
    if shot.wait_for:
        page.wait_for_selector(shot.wait_for, state="visible", timeout=10_000)
    page.wait_for_timeout(400)  # let Plotly finish its resize
    out = OUT_DIR / f"{shot.name}.png"
    page.screenshot(path=str(out))
    print(f"wrote {out.relative_to(ROOT)}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", default="", help="comma-separated page names (default: all)")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--runs-per-day", type=int, default=150)
    parser.add_argument("--keep", action="store_true", help=f"leave the database in {VAR_DIR}/")
    args = parser.parse_args()
    if not shutil.which(CHROMIUM):
        raise SystemExit(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    password = secrets.token_urlsafe(16)
    env = environment(password)
    prepare(env, args.days, args.runs_per_day)
    wanted = shots(run_detail_path(env), monitor_detail_path(env))
    if args.pages:
        names = set(args.pages.split(","))
        wanted = [s for s in wanted if s.name in names]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    try:
        with serve(env) as url:
            written = capture(url, password, wanted)
    finally:
        if not args.keep:
            shutil.rmtree(ROOT / VAR_DIR, ignore_errors=True)
    print(f"{len(written)} of {len(wanted)} screenshots written to {OUT_DIR.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
