"""Intake diagnostics: which libraries send to the project, and the reason behind a number that
looks wrong (keys no rule read, usage that contradicts itself, cost disagreements, unpriced models)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from dashboard.views.common import HtmxHttpRequest, project_page
from ingest import diagnostics as intake_diagnostics


@require_GET
@login_required
def diagnostics(request: HtmxHttpRequest, org: str, slug: str) -> HttpResponse:
    page = project_page(request, org, slug)
    found = intake_diagnostics.diagnostics(page.project, page.range)
    context = {**page.context(), "section": "diagnostics", "found": found, "sample": intake_diagnostics.SAMPLE}
    return render(request, "dashboard/diagnostics.html", context)
