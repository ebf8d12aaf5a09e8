"""The Celery app: configured from Django settings (CELERY_*), tasks found in each app's tasks.py."""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery
from celery.schedules import crontab
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("agentledger", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The embedded file-system broker needs its folders before the first message is sent.
for _folder in ("data_folder_in", "control_folder"):
    if _path := app.conf.broker_transport_options.get(_folder):
        Path(_path).mkdir(parents=True, exist_ok=True)

# Monitors are judged, and alerts delivered, every AGENTLEDGER_MONITOR_INTERVAL_SECONDS (60): a pass
# left waiting behind a slow one is dropped before the next is due.
MONITOR_INTERVAL = float(settings.AGENTLEDGER_MONITOR_INTERVAL_SECONDS)
MONITOR_EXPIRES = max(MONITOR_INTERVAL - 5, MONITOR_INTERVAL * 0.9)
# At the default, on the minute: a window ends at the start of the current minute, so judging
# just after it begins alerts on a failing minute seconds after it ends, not up to a minute later.
MONITOR_SCHEDULE = crontab(minute="*") if MONITOR_INTERVAL == 60 else MONITOR_INTERVAL

app.conf.beat_schedule = {
    "worker-heartbeat": {"task": "ingest.tasks.record_heartbeat", "schedule": 60.0},
    # Recompute dirty rollup hours/days; a pass left waiting behind a slow one is dropped.
    "rollup-pending": {"task": "aggregates.tasks.rollup_pending", "schedule": 60.0, "options": {"expires": 55}},
    "prune-minute-rollups": {
        "task": "aggregates.tasks.prune_minutes",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
    "enforce-retention": {"task": "ingest.tasks.enforce_retention", "schedule": 3600.0, "options": {"expires": 3000}},
    # Budget alerts due for (re)delivery; evaluation itself follows each rollup pass.
    "deliver-alerts": {
        "task": "budgets.tasks.deliver_alerts",
        "schedule": MONITOR_INTERVAL,
        "options": {"expires": MONITOR_EXPIRES},
    },
    # Anomaly detection over the hour rollups, at minutes 2, 7, 12…: just after a rollup pass.
    "detect-anomalies": {
        "task": "budgets.tasks.detect_anomalies",
        "schedule": crontab(minute="2-59/5"),
        "options": {"expires": 240},
    },
    # Monitors: every threshold judged over its window ending at the current minute (budgets/monitors/).
    "evaluate-monitors": {
        "task": "budgets.tasks.evaluate_monitors",
        "schedule": MONITOR_SCHEDULE,
        "options": {"expires": MONITOR_EXPIRES},
    },
    # LLM-as-judge evaluators: claim the runs that finished, judge the sampled ones (scores/).
    "evaluate-runs": {"task": "scores.tasks.evaluate_runs", "schedule": 60.0, "options": {"expires": 55}},
    # Daily digests go out in the first pass after each project's midnight (claimed once per day).
    "send-digests": {"task": "budgets.tasks.send_digests", "schedule": 600.0, "options": {"expires": 500}},
}
