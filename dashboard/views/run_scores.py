"""The Scores panel of the run page: every score of the run, and thumbs up / down with a comment
for the organization's editors and admins (saved as the person's `user_feedback` score)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from dashboard.views.common import HtmxHttpRequest, Page, project_page
from ingest import selectors
from ingest.models import Run
from scores import selectors as score_selectors
from scores import services as score_services
from scores.evaluators import selectors as evaluator_selectors
from scores.models import Score


class FeedbackForm(forms.Form):
    verdict = forms.ChoiceField(choices=[("up", "Thumbs up"), ("down", "Thumbs down")])
    comment = forms.CharField(required=False, max_length=2000, strip=True)


def scores_context(request: HtmxHttpRequest, page: Page, run: Run, form: FeedbackForm | None = None) -> dict[str, Any]:
    """What the panel shows: the run's scores (an evaluator's with what its judge call cost), the
    viewer's own feedback, and the form only to those who may annotate."""
    scores = score_selectors.run_scores(page.project, run.trace_id)
    username = request.user.get_username()
    mine = [
        s
        for s in scores
        if (s.source, s.name, s.author) == (Score.Source.ANNOTATION, score_services.FEEDBACK_NAME, username)
    ]
    return {
        "scores": scores,
        "evaluations": (
            evaluator_selectors.run_evaluations(page.project, run.trace_id)
            if any(s.source == Score.Source.EVALUATOR for s in scores)
            else {}
        ),
        "can_annotate": page.can_edit,
        "my_feedback": mine[0] if mine else None,
        "feedback_form": form,
    }


@require_POST
@login_required
def run_scores(request: HtmxHttpRequest, org: str, slug: str, trace_id: str) -> HttpResponse:
    """Thumbs up / down (+ comment). An htmx post gets the refreshed panel; a plain form post is
    redirected back to the run (PRG). Viewers get 403, other organizations' users 404."""
    page = project_page(request, org, slug)
    run = selectors.run_for_project(page.project, trace_id.strip().lower())
    if run is None:
        raise Http404("no such run in this project")
    if not page.can_edit:
        return HttpResponse("Only editors and admins of this organization can rate runs.", status=403)
    form: FeedbackForm | None = FeedbackForm(request.POST)
    if form is not None and form.is_valid():
        score_services.feedback_record(
            page.project,
            run.trace_id,
            author=request.user.get_username(),
            thumbs_up=form.cleaned_data["verdict"] == "up",
            comment=form.cleaned_data["comment"],
        )
        if not request.htmx:
            return redirect("run", org, slug, run.trace_id)
        form = None  # saved: show a fresh form
    context = {**page.context(), "run": run, **scores_context(request, page, run, form)}
    failed = form is not None and not request.htmx  # htmx swaps only 2xx answers, so it gets 200 with the errors
    return render(request, "dashboard/run_detail.html#scores-panel", context, status=400 if failed else 200)
