"""An anomaly alert's chart: the series, the baseline band it was judged against and the flagged
hours, reached from the alert message, the alerts page and the overview."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from budgets import messages
from budgets.anomalies import detection
from budgets.anomalies import series as anomaly_series
from dashboard import anomaly_charts
from dashboard.views.common import HtmxHttpRequest, project_page


@require_GET
@login_required
def anomaly(request: HtmxHttpRequest, org: str, slug: str, alert_id: int) -> HttpResponse:
    page = project_page(request, org, slug)
    alert = anomaly_series.anomaly_alert(page.project, alert_id)
    if alert is None or alert.anomaly_rule is None:
        raise Http404("no such anomaly in this project")
    spec = detection.METRICS[alert.metric]
    judged = anomaly_series.alert_detection(alert, timezone.now())
    context = {
        **page.context(),
        "section": "alerts",
        "alert": alert,
        "rule": alert.anomaly_rule,
        "spec": spec,
        "metric_label": alert.anomaly_rule.metric_label,
        "band": messages.band_text(alert),
        "scope_label": messages.alert_scope_label(alert),
        "observed": messages.format_value(alert.metric, alert.observed),
        "expected": messages.format_value(alert.metric, alert.expected),
        "flagged": len(judged.anomalies),
        "chart": anomaly_charts.anomaly_chart(judged, spec, page.tz),
    }
    return render(request, "dashboard/anomaly.html", context)
