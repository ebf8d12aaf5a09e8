"""Readiness checks: is the database reachable, is the Celery broker reachable."""

from __future__ import annotations

from pathlib import Path

from django.db import connection

from config.celery import app as celery_app


def database_problem() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return f"database unreachable: {exc}".strip()
    return ""


def broker_problem() -> str:
    url = celery_app.conf.broker_url or ""
    if url.startswith("filesystem://"):
        folder = Path(celery_app.conf.broker_transport_options.get("data_folder_in", ""))
        if not folder.is_dir():
            return f"broker folder {folder} does not exist (is the worker started?)"
        return ""
    conn = celery_app.connection_for_write()
    try:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception as exc:
        return f"broker unreachable at {conn.as_uri()}: {exc}"
    finally:
        conn.release()
    return ""
