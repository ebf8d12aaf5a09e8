"""Reads: a project's scores, filtered (the API) or of one run (the run page)."""

from __future__ import annotations

from django.db.models import QuerySet

from ingest.models import Project
from ingest.timeranges import TimeRange
from scores.models import Score


def scores_for_project(
    project: Project,
    *,
    span: TimeRange | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
    name: str | None = None,
    source: str | None = None,
    author: str | None = None,
) -> QuerySet[Score]:
    """The project's scores, created in the range when one is given."""
    scores = Score.objects.filter(project=project)
    if span is not None:
        scores = scores.filter(created_at__gte=span.since, created_at__lt=span.until)
    for field, value in (
        ("trace_id", trace_id),
        ("span_id", span_id),
        ("name", name),
        ("source", source),
        ("author", author),
    ):
        if value is not None:
            scores = scores.filter(**{field: value})
    return scores


def run_scores(project: Project, trace_id: str) -> list[Score]:
    """Every score of one run (its spans' included), by name, then source and author."""
    return list(Score.objects.filter(project=project, trace_id=trace_id).order_by("name", "source", "author", "pk"))
