"""A project's own agent-naming rule, for libraries that export only class and method span names:
without it every agent of the framework shows under one name; with it, each run names its agent."""

from __future__ import annotations

import time

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from ingest.models import Run
from tests.factories import make_project
from tests.ingest.test_otlp import proto_attributes, proto_span

NOW = time.time_ns()


def run_of(n: int, agent_class: str, **attributes) -> list:
    trace = n.to_bytes(16, "big")
    root = proto_span(trace_id=trace, span_id=(n * 10).to_bytes(8, "big"), name=f"{agent_class}.run",
                      start_time_unix_nano=NOW - 10**10, end_time_unix_nano=NOW - 10**9,
                      attributes={"framework.component": "agent", **attributes})  # fmt: skip
    call = proto_span(trace_id=trace, span_id=(n * 10 + 1).to_bytes(8, "big"), parent_span_id=root.span_id,
                      name="chat gpt-4o-mini", start_time_unix_nano=NOW - 9 * 10**9, end_time_unix_nano=NOW - 8 * 10**9,
                      attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                                  "gen_ai.agent.name": "Agent", "gen_ai.usage.input_tokens": 10,
                                  "gen_ai.usage.output_tokens": 5, **attributes})  # fmt: skip
    return [root, call]


def send(client, key: str, *spans) -> None:
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(proto_attributes({"service.name": "helpdesk"}))
    resource_spans.scope_spans.add().spans.extend(spans)
    response = client.post("/v1/traces", request.SerializeToString(), content_type="application/x-protobuf",
                           headers={"authorization": f"Bearer {key}"})  # fmt: skip
    assert response.status_code == 200


@pytest.mark.django_db
def test_without_a_rule_every_agent_shows_under_the_frameworks_name(client):
    project, key = make_project()
    send(client, key, *run_of(1, "SupportAgent"), *run_of(2, "BillingAgent"))
    assert sorted(Run.objects.filter(project=project).values_list("agent_name", flat=True)) == ["Agent", "Agent"]


@pytest.mark.django_db
def test_a_span_name_pattern_names_each_agent(client):
    project, key = make_project()
    project.agent_span_name = r"^(\w+Agent)\.run$"
    project.full_clean()
    project.save()
    send(client, key, *run_of(1, "SupportAgent"), *run_of(2, "BillingAgent"))
    assert sorted(Run.objects.filter(project=project).values_list("agent_name", flat=True)) == [
        "BillingAgent", "SupportAgent"]  # fmt: skip


@pytest.mark.django_db
def test_an_attribute_names_the_agent(client):
    project, key = make_project()
    project.agent_attribute = "app.agent"
    project.save()
    send(client, key, *run_of(1, "Worker", **{"app.agent": "triage"}), *run_of(2, "Worker", **{"app.agent": "refunds"}))
    assert sorted(Run.objects.filter(project=project).values_list("agent_name", flat=True)) == ["refunds", "triage"]


@pytest.mark.django_db
def test_a_pattern_that_is_not_a_regular_expression_is_refused():
    from django.core.exceptions import ValidationError

    project, _ = make_project()
    project.agent_span_name = "(unclosed"
    with pytest.raises(ValidationError, match="agent_span_name"):
        project.full_clean()
