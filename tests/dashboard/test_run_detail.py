"""Run detail: header facts, the span tree beside its waterfall, the span panel (chat, tool
arguments, errors, tokens, cost provenance, unmapped attributes, log records), the htmx panel
fragment, scoping, escaping, odd trees, and a query count that does not grow with the spans."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ingest.models import Run, Span
from tests import otlp_payloads
from tests.factories import make_project, make_user
from tests.ingest.spans import agent_run, ingest, new_span_id, new_trace_id, span

XSS = "<script>alert(1)</script>"


def minutes_ago(minutes: float) -> datetime:
    return timezone.now().astimezone(UTC) - timedelta(minutes=minutes)


class RunDetailTestCase(TestCase):
    def setUp(self):
        self.project, self.key = make_project("Acme agents", org_slug="acme")
        self.user = make_user("ann", organization=self.project.organization)
        self.client.force_login(self.user)

    def url(self, trace_id, **params):
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"/p/acme/acme-agents/runs/{trace_id}/" + (f"?{query}" if query else "")

    def send_scenario(self, name):
        for path, body, content_type in otlp_payloads.exports(name):
            response = self.client.post(path, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {self.key}")
            assert response.status_code == 200, response.content
        return Run.objects.get(project=self.project)

    def panel(self, trace_id, span_id):
        response = self.client.get(
            self.url(trace_id, span=span_id), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="span-panel"
        )
        assert response.status_code == 200
        return response.content.decode()


class CapturedRunTests(RunDetailTestCase):
    """The captured openai-v2 weather agent: prompts, a tool call, a failing tool, a failing call."""

    def setUp(self):
        super().setUp()
        self.run = self.send_scenario("openai_v2")
        spans = Span.objects.filter(project=self.project)
        self.first_call = spans.filter(kind="llm").order_by("start_time").first()
        self.weather = spans.filter(kind="tool", is_error=False).get()
        self.failing_tool = spans.filter(kind="tool", is_error=True).get()

    def test_header_shows_the_runs_facts(self):
        body = self.client.get(self.url(self.run.trace_id)).content.decode()
        assert '<h1 class="run-title">invoke_agent weather-bot</h1>' in body
        assert "weather-bot" in body and "user-42" in body and "test" in body
        assert 'href="/p/acme/acme-agents/sessions/sess-weather-001/"' in body
        assert f"<code>{self.run.api_key.prefix}…</code>" in body
        assert "608 / 130" in body  # tokens in / out
        assert '<div class="value" data-testid="run-cost">$0.0002</div>' in body
        assert "partial run" not in body

    def test_tree_lists_every_span_with_kind_bar_and_panel_link(self):
        response = self.client.get(self.url(self.run.trace_id))
        body = response.content.decode()
        assert len(response.context["tree"]) == 9
        assert body.count('<span class="track">') == 9
        assert body.count("<details open>") == 1, "only the agent span has children"
        assert f'href="?span={self.weather.span_id}" hx-get="?span={self.weather.span_id}"' in body
        assert '<span class="kind llm">LLM</span>' in body and '<span class="kind tool">Tool</span>' in body
        assert 'hx-target="#span-panel"' in body
        root = response.context["tree"][0]
        assert (root.depth, root.offset, root.width) == (0, "0.000", "100.000")

    def test_no_span_is_selected_in_a_run_that_did_not_fail(self):
        body = self.client.get(self.url(self.run.trace_id)).content.decode()
        assert "Select a span to see its prompt" in body

    def test_llm_panel_renders_the_prompt_as_a_chat_and_the_tool_call(self):
        body = self.panel(self.run.trace_id, self.first_call.span_id)
        assert '<div class="msg role-system">' in body and '<div class="msg role-user">' in body
        assert "What&#x27;s the weather in Paris?" in body
        assert "<strong>get_weather</strong>" in body and "call_0001" in body
        assert "<pre>{\n  &quot;city&quot;: &quot;Paris&quot;\n}</pre>" in body
        assert "finish: tool_call" in body

    def test_llm_panel_shows_tokens_cost_provenance_and_unmapped_attributes(self):
        body = self.panel(self.run.trace_id, self.first_call.span_id)
        tokens = re.search(r'data-testid="span-tokens">(.*?)</table>', body, re.S).group(1)
        assert '<th>Input</th><td class="num">120</td>' in tokens
        assert '<th>Output</th><td class="num">25</td>' in tokens
        assert '<th>Cache read</th><td class="num">—</td>' in tokens
        cost = re.search(r'data-testid="span-cost">(.*?)</table>', body, re.S).group(1)
        assert "Computed from the price book" in cost
        assert "<code>openai:gpt-4o-mini</code>" in cost
        assert "$0.000033" in cost
        assert "chatcmpl-fake0001" in body and "gpt-4o-mini" in body
        unmapped = re.search(r'data-testid="span-unmapped">(.*?)</table>', body, re.S).group(1)
        assert "<code>gen_ai.request.temperature</code></th><td><pre>0.2</pre>" in unmapped
        assert "gen_ai.usage.input_tokens" in body, "raw attributes"

    def test_tool_panel_shows_arguments_as_indented_json_and_the_result(self):
        body = self.panel(self.run.trace_id, self.weather.span_id)
        arguments = re.search(r'data-testid="span-arguments">(.*?)</div>', body, re.S).group(1)
        assert "<pre>{\n  &quot;city&quot;: &quot;Paris&quot;\n}</pre>" in arguments
        assert "Sunny, 22°C in Paris" in body

    def test_failing_tool_panel_shows_error_type_message_and_stack_trace(self):
        body = self.panel(self.run.trace_id, self.failing_tool.span_id)
        error = re.search(r'data-testid="span-error">(.*?)</div>', body, re.S).group(1)
        assert "<strong>ValueError</strong>: Unknown city: Atlantis" in error
        assert "Traceback (most recent call last)" in error
        assert "raise ValueError(f&quot;Unknown city: {city}&quot;)" in error

    def test_the_panel_fragment_is_only_the_panel(self):
        response = self.client.get(
            self.url(self.run.trace_id, span=self.first_call.span_id),
            HTTP_HX_REQUEST="true",
            HTTP_HX_TARGET="span-panel",
        )
        body = response.content.decode()
        assert "<html" not in body
        assert body.lstrip().startswith('<section id="span-panel"')
        assert "What&#x27;s the weather in Paris?" in body
        assert "span-row" not in body, "the tree is not rebuilt for the panel"

    def test_the_full_page_with_a_span_selected_includes_its_panel(self):
        body = self.client.get(self.url(self.run.trace_id, span=self.weather.span_id)).content.decode()
        assert "<html" in body
        assert '<section id="span-panel"' in body and "Sunny, 22°C in Paris" in body

    def test_an_unknown_span_says_so(self):
        assert "No such span in this run." in self.panel(self.run.trace_id, "0123456789abcdef")
        assert "No such span in this run." in self.panel(self.run.trace_id, "nonsense")

    def test_trace_ids_are_matched_whatever_their_case(self):
        assert self.client.get(self.url(self.run.trace_id.upper())).status_code == 200


class LogRecordTests(RunDetailTestCase):
    def test_genai_log_records_of_a_span_are_listed_in_its_panel(self):
        run = self.send_scenario("openai_v2_legacy")
        call = Span.objects.filter(project=self.project, kind="llm").order_by("start_time").first()
        body = self.panel(run.trace_id, call.span_id)
        assert "<h3>Log records</h3>" in body
        assert "<code>gen_ai.user.message</code>" in body
        assert "What&#x27;s the weather in Paris?" in body


class HandBuiltRunTests(RunDetailTestCase):
    def build(self, *, failed=False, name=XSS):
        trace_id, root = new_trace_id(), new_span_id()
        start = minutes_ago(30)
        agent = span(trace_id, span_id=root, kind="agent", name="agent", agent="helper", start=start, seconds=10,
                     error=failed)  # fmt: skip
        agent[1].run_name = name
        agent[1].tags = ["beta", "<b>bold</b>"]
        if failed:
            agent[1].error_message = f"agent gave up {XSS}"
        call = span(trace_id, parent=root, kind="llm", model="gpt-4o", provider="openai", input_tokens=1000,
                    output_tokens=200, cost="1.00", start=start + timedelta(seconds=1), seconds=2)  # fmt: skip
        call[1].cache_read_tokens, call[1].reasoning_tokens = 400, 50
        call[1].input = [{"role": "user", "parts": [{"type": "text", "content": f"Hi {XSS}"}]}]
        call[1].output = [
            {
                "role": "assistant",
                "parts": [{"type": "tool_call", "id": "c1", "name": "lookup", "arguments": {"html": "<b>x</b>"}}],
            }
        ]
        call[0].attributes = {"custom.flag": "<i>raw</i>"}
        call[1].unmapped = ["custom.flag"]
        tool = span(trace_id, parent=root, kind="tool", tool="lookup", start=start + timedelta(seconds=3), seconds=1,
                    error=failed)  # fmt: skip
        tool[1].input = {"html": "<b>x</b>", "nested": {"list": [1, 2]}}
        tool[1].display_name = f"lookup {XSS}"
        if failed:
            tool[1].error_type, tool[1].error_message = "LookupError", f"not found: {XSS}"
        ingest(self.project, [agent, call, tool])
        return trace_id, call[0].span_id, tool[0].span_id

    def test_html_in_run_name_prompt_tool_arguments_and_errors_is_escaped(self):
        trace_id, call_id, tool_id = self.build(failed=True)
        page = self.client.get(self.url(trace_id)).content.decode()
        bodies = [page, self.panel(trace_id, call_id), self.panel(trace_id, tool_id)]
        for body in bodies:
            assert XSS not in body
            assert "<b>x</b>" not in body and "<b>bold</b>" not in body and "<i>raw</i>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # name and error message
        assert f'hx-get="?span={tool_id}">lookup &lt;script&gt;alert(1)&lt;/script&gt;</a>' in page  # in the tree
        assert "Hi &lt;script&gt;alert(1)&lt;/script&gt;" in bodies[1]
        assert "&quot;&lt;b&gt;x&lt;/b&gt;&quot;" in bodies[1] and "&quot;&lt;b&gt;x&lt;/b&gt;&quot;" in bodies[2]
        assert "not found: &lt;script&gt;" in bodies[2]

    def test_a_failed_run_opens_on_the_span_where_the_failure_began(self):
        trace_id, _, tool_id = self.build(failed=True)
        response = self.client.get(self.url(trace_id))
        body = response.content.decode()
        assert response.context["panel"]["span"].span_id == tool_id
        assert '<span class="badge error" data-testid="run-status">failed</span>' in body
        assert "<strong>LookupError</strong>: not found:" in body

    def test_reported_cost_against_the_price_book_shows_both_and_the_discrepancy(self):
        trace_id, call_id, _ = self.build()
        body = self.panel(trace_id, call_id)
        cost = re.search(r'data-testid="span-cost">(.*?)</table>', body, re.S).group(1)
        assert "Reported by the span" in cost
        assert '<th>Reported</th><td class="num">$1.00</td>' in cost
        assert "<th>Computed</th>" in cost and "<th>Discrepancy</th>" in cost
        tokens = re.search(r'data-testid="span-tokens">(.*?)</table>', body, re.S).group(1)
        assert '<th>Cache read</th><td class="num">400</td>' in tokens
        assert '<th>Reasoning</th><td class="num">50</td>' in tokens

    def test_an_unpriced_call_is_flagged_in_the_header_and_the_tree(self):
        trace_id = new_trace_id()
        ingest(self.project, [span(trace_id, kind="llm", model="mystery-model", input_tokens=10, output_tokens=5,
                                   start=minutes_ago(5))])  # fmt: skip
        body = self.client.get(self.url(trace_id)).content.decode()
        assert "1 unpriced calls: cost is incomplete" in body
        assert '<span class="badge warning">unpriced</span>' in body

    def test_a_run_whose_root_has_not_arrived_is_marked_partial(self):
        trace_id = new_trace_id()
        ingest(self.project, [span(trace_id, parent=new_span_id(), kind="tool", tool="search", start=minutes_ago(5))])
        body = self.client.get(self.url(trace_id)).content.decode()
        assert '<span class="badge warning" data-testid="partial-run">partial run</span>' in body
        assert "the root span has not arrived" in body


class TreeShapeTests(RunDetailTestCase):
    def chain(self, depth):
        trace_id, start = new_trace_id(), minutes_ago(60)
        items, parent = [], ""
        for i in range(depth):
            span_id = new_span_id()
            items.append(span(trace_id, span_id=span_id, parent=parent, kind="chain", start=start + timedelta(milliseconds=i),
                              seconds=depth / 1000 - i / 1000 + 0.001))  # fmt: skip
            parent = span_id
        ingest(self.project, items)
        return trace_id

    def test_a_very_deep_trace_renders_with_capped_nesting(self):
        trace_id = self.chain(1500)
        response = self.client.get(self.url(trace_id))
        assert response.status_code == 200
        body = response.content.decode()
        rows = response.context["tree"]
        assert [r.depth for r in rows] == list(range(1500))
        assert max(r.indent for r in rows) == 16
        tree = body[body.index('<div class="tree"') : body.index('<section id="span-panel"')]
        assert tree.count("<details open>") == tree.count("</details>") == 16
        assert "depth 1499" in body

    def test_spans_in_a_parent_cycle_are_each_shown_once(self):
        trace_id, a, b, start = new_trace_id(), new_span_id(), new_span_id(), minutes_ago(5)
        ingest(self.project, [span(trace_id, span_id=a, parent=b, kind="agent", start=start),
                              span(trace_id, span_id=b, parent=a, kind="tool", start=start)])  # fmt: skip
        response = self.client.get(self.url(trace_id))
        assert sorted(r.span.span_id for r in response.context["tree"]) == sorted([a, b])


class AccessTests(RunDetailTestCase):
    def setUp(self):
        super().setUp()
        self.items = agent_run(minutes_ago(10))
        ingest(self.project, self.items)
        self.trace_id = self.items[0][0].trace_id

    def test_another_projects_trace_is_404_here(self):
        other, _ = make_project("Other", org_slug="acme-2")
        theirs = agent_run(minutes_ago(10))
        ingest(other, theirs)
        assert self.client.get(self.url(theirs[0][0].trace_id)).status_code == 404

    def test_another_organizations_user_gets_404(self):
        rival, _ = make_project("Rival", org_slug="rival")
        self.client.force_login(make_user("eve", organization=rival.organization))
        assert self.client.get(self.url(self.trace_id)).status_code == 404
        assert self.client.get(f"/p/rival/rival/runs/{self.trace_id}/").status_code == 404

    def test_signed_out_goes_to_login(self):
        self.client.logout()
        response = self.client.get(self.url(self.trace_id))
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")

    def test_an_id_that_is_not_a_trace_id_is_404(self):
        for bad in ("nope", self.trace_id[:-1], self.trace_id + "0", "z" * 32):
            assert self.client.get(self.url(bad)).status_code == 404, bad


class QueryCountTests(RunDetailTestCase):
    def run_of(self, tools):
        items = agent_run(minutes_ago(10), tools=[(f"tool-{i}", i % 7 == 0, 0.01) for i in range(tools)], failed=True)
        ingest(self.project, items)
        return items[0][0].trace_id

    def count(self, url, **headers):
        self.client.get(url)  # the first visit also records the last project opened
        with CaptureQueriesContext(connection) as queries:
            assert self.client.get(url, **headers).status_code == 200
        return len(queries)

    def test_the_page_runs_the_same_queries_for_3_or_300_spans(self):
        small, large = self.run_of(1), self.run_of(300)
        expected = self.count(self.url(small))
        with self.assertNumQueries(expected):
            response = self.client.get(self.url(large))
        assert len(response.context["tree"]) == 302
        assert response.context["panel"] is not None, "the failed run opens on its first failing tool"
        assert expected <= 10

    def test_the_panel_fragment_runs_a_few_queries(self):
        trace_id = self.run_of(300)
        span_id = Span.objects.filter(trace_id=trace_id, kind="tool").first().span_id
        url = self.url(trace_id, span=span_id)
        assert self.count(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="span-panel") <= 7
