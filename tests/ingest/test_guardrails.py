"""Guardrail verdicts and MCP servers, sent over OTLP: a tripped guardrail shows on its run and
counts per agent as a guardrail trip; a `tools/call` is one tool call, shown with its MCP server."""

from __future__ import annotations

import time

import pytest

from aggregates import rollups
from ingest.models import Run, Span
from tests.factories import make_project, make_user
from tests.ingest.test_agent_names import send
from tests.ingest.test_otlp import proto_span

NOW = time.time_ns() - 120 * 10**9
SECOND = 10**9


def guarded_run(n: int, agent: str, verdicts: list[str]) -> list:
    """invoke_agent > one guardrail span per verdict, then a chat call."""
    trace = n.to_bytes(16, "big")
    root = proto_span(trace_id=trace, span_id=(n * 100).to_bytes(8, "big"), name=f"invoke_agent {agent}",
                      start_time_unix_nano=NOW, end_time_unix_nano=NOW + 10 * SECOND,
                      attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent})  # fmt: skip
    spans = [root]
    for i, verdict in enumerate(verdicts, start=1):
        spans.append(proto_span(trace_id=trace, span_id=(n * 100 + i).to_bytes(8, "big"), parent_span_id=root.span_id,
                                name="run_guardrail pii_filter", start_time_unix_nano=NOW + i * SECOND,
                                end_time_unix_nano=NOW + i * SECOND + 1000,
                                attributes={"gen_ai.operation.name": "run_guardrail",
                                            "gen_ai.guardrail.verdict.type": verdict,
                                            "gen_ai.guardrail.target.type": "llm_input"}))  # fmt: skip
    spans.append(proto_span(trace_id=trace, span_id=(n * 100 + 50).to_bytes(8, "big"), parent_span_id=root.span_id,
                            name="chat gpt-4o-mini", start_time_unix_nano=NOW + 5 * SECOND,
                            end_time_unix_nano=NOW + 6 * SECOND,
                            attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                                        "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5}))  # fmt: skip
    return spans


@pytest.mark.django_db
def test_guardrail_trips_show_on_the_run_and_count_per_agent(client):
    project, key = make_project()
    send(client, key, *guarded_run(1, "support", ["allow", "deny"]), *guarded_run(2, "support", ["modify", "deny"]),
         *guarded_run(3, "billing", ["allow"]))  # fmt: skip
    runs = {r.trace_id[-1]: r for r in Run.objects.filter(project=project)}
    assert [runs[c].guardrail_trips for c in "123"] == [1, 2, 0]
    assert runs["1"].status == "ok"  # a guardrail that blocked is not a failed run

    rollups.rollup_until_current()
    summary = client.get("/api/v1/metrics/summary", {"group_by": "agent", "since": "7d"},
                         headers={"authorization": f"Bearer {key}"}).json()  # fmt: skip
    trips = {row["group"]: row["guardrail_trips"] for row in summary["rows"]}
    assert trips == {"support": 3, "billing": 0}

    user = make_user("ana", organization=project.organization)
    client.force_login(user)
    base = f"/p/{project.organization.slug}/{project.slug}"
    page = client.get(f"{base}/runs/{runs['2'].trace_id}/").content.decode()
    assert "2 guardrail trips" in page
    assert '<span class="badge error" title="guardrail verdict">modify</span>' in page
    cost = client.get(f"{base}/cost/", {"group_by": "agent", "since": "7d"}).content.decode()
    assert 'data-testid="guardrail-trips">3<' in cost


@pytest.mark.django_db
def test_an_mcp_tools_call_is_one_tool_call_shown_with_its_server(client):
    project, key = make_project()
    trace = (7).to_bytes(16, "big")
    root = proto_span(trace_id=trace, span_id=(700).to_bytes(8, "big"), name="invoke_agent support",
                      start_time_unix_nano=NOW, end_time_unix_nano=NOW + 5 * SECOND,
                      attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"})  # fmt: skip
    tool = proto_span(trace_id=trace, span_id=(701).to_bytes(8, "big"), parent_span_id=root.span_id,
                      name="execute_tool lookup_order", start_time_unix_nano=NOW + SECOND,
                      end_time_unix_nano=NOW + 3 * SECOND,
                      attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order"})  # fmt: skip
    mcp = proto_span(trace_id=trace, span_id=(702).to_bytes(8, "big"), parent_span_id=tool.span_id,
                     name="tools/call lookup_order", kind=3, start_time_unix_nano=NOW + SECOND + 1000,
                     end_time_unix_nano=NOW + 3 * SECOND - 1000,
                     attributes={"mcp.method.name": "tools/call", "gen_ai.tool.name": "lookup_order",
                                 "server.address": "orders-mcp.internal", "server.port": 8931})  # fmt: skip
    send(client, key, root, tool, mcp)
    run = Run.objects.get(project=project)
    assert run.tool_calls == 1
    assert Span.objects.get(project=project, span_id=f"{702:016x}").mcp_server == "orders-mcp.internal:8931"
    client.force_login(make_user("ana", organization=project.organization))
    page = client.get(f"/p/{project.organization.slug}/{project.slug}/runs/{run.trace_id}/").content.decode()
    assert "on MCP server orders-mcp.internal:8931" in page
