"""Home (the last project opened), the signed-in user's time zone."""

from __future__ import annotations

import zoneinfo

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from dashboard.views.common import user_id
from tenancy import selectors as tenancy_selectors
from tenancy.models import UserProfile


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The project the user last opened, else their first; a how-to when they have none."""
    projects = tenancy_selectors.projects_for_user(request.user)
    profile = UserProfile.objects.filter(user_id=user_id(request)).first()
    project = None
    if profile and profile.last_project_id:
        project = projects.filter(pk=profile.last_project_id).first()
    project = project or projects.first()
    if project is not None:
        return redirect("overview", project.organization.slug, project.slug)
    return render(request, "dashboard/no_projects.html")


class TimezoneForm(forms.Form):
    timezone = forms.ChoiceField(
        required=False,
        choices=[("", "The project's time zone"), *((z, z) for z in sorted(zoneinfo.available_timezones()))],
        help_text="Times, days and ranges such as Yesterday are shown in this zone.",
    )


@require_http_methods(["GET", "POST"])
@login_required
def account(request: HttpRequest) -> HttpResponse:
    profile = UserProfile.objects.filter(user_id=user_id(request)).first()
    if request.method == "POST":
        form = TimezoneForm(request.POST)
        if form.is_valid():
            UserProfile.objects.update_or_create(
                user_id=user_id(request), defaults={"timezone": form.cleaned_data["timezone"]}
            )
            messages.success(request, "Time zone saved.")
            return redirect("account")
    else:
        form = TimezoneForm(initial={"timezone": profile.timezone if profile else ""})
    return render(request, "dashboard/account.html", {"form": form})
