"""Monitors: the project's thresholds with their state and current values, each monitor's
incidents, alerts and chart, and the one-click templates. Other monitors are made in the admin
or through /api/v1/monitors."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from budgets.monitors import selectors as monitor_selectors
from budgets.monitors import services as monitor_services
from budgets.monitors.templates import TEMPLATES
from dashboard import monitor_charts
from dashboard.views.common import HtmxHttpRequest, project_page

RECENT_ALERTS = 20


class TemplateForm(forms.Form):
    template = forms.ChoiceField(choices=[(key, fields["name"]) for key, fields in TEMPLATES.items()])


@require_GET
@login_required
def monitors(request: HtmxHttpRequest, org: str, slug: str) -> HttpResponse:
    page = project_page(request, org, slug)
    statuses = monitor_selectors.monitor_statuses(monitor_selectors.monitors_of_project(page.project), timezone.now())
    context = {
        **page.context(),
        "section": "monitors",
        "statuses": statuses,
        "offers": monitor_selectors.template_offers(page.project),
    }
    return render(request, "dashboard/monitors.html", context)


@require_POST
@login_required
def monitor_from_template(request: HtmxHttpRequest, org: str, slug: str) -> HttpResponse:
    """One click: a monitor of this project from a template, then its page (PRG). Viewers get 403."""
    page = project_page(request, org, slug)
    if not page.can_edit:
        return HttpResponse("Only editors and admins of this organization can add monitors.", status=403)
    form = TemplateForm(request.POST)
    if not form.is_valid():
        return HttpResponse("No such monitor template.", status=400)
    monitor = monitor_services.monitor_from_template(page.project, form.cleaned_data["template"])
    return redirect("monitor", org, slug, monitor.pk)


@require_GET
@login_required
def monitor(request: HtmxHttpRequest, org: str, slug: str, monitor_id: int) -> HttpResponse:
    page = project_page(request, org, slug)
    found = monitor_selectors.monitor_for_project(page.project, monitor_id)
    if found is None:
        raise Http404("no such monitor in this project")
    now = timezone.now()
    context = {
        **page.context(),
        "section": "monitors",
        "monitor": found,
        "status": monitor_selectors.monitor_status(found, now),
        "alerts": monitor_selectors.monitor_alerts(found)[:RECENT_ALERTS],
        "chart": monitor_charts.monitor_chart(monitor_selectors.monitor_chart(found, now), page.tz),
    }
    return render(request, "dashboard/monitor.html", context)
