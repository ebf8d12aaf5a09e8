"""The rubric template: what a run looks like to the judge, and what a rubric may not do."""

from __future__ import annotations

import pytest
from django.test import SimpleTestCase

from scores.evaluators import rubric


def context(input=None, output=None, calls=(), total=None, **run):
    shown = rubric.tool_calls(calls, total=len(calls) if total is None else total)
    return rubric.context(input=input, output=output, calls=shown, run={"trace_id": "abc", **run})


class RenderTests(SimpleTestCase):
    def test_genai_messages_read_as_role_lines_with_tool_calls_and_no_reasoning(self):
        messages = [
            {"role": "system", "parts": [{"type": "text", "content": "You are a support agent."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Where is order 42?"}]},
            {
                "role": "assistant",
                "parts": [
                    {"type": "reasoning", "content": "I should look it up"},
                    {"type": "tool_call", "id": "c1", "name": "lookup_order", "arguments": {"id": 42}},
                ],
            },
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "shipped"}]},
        ]
        assert rubric.render("{{ input }}", context(input=messages)) == (
            "system: You are a support agent.\n\n"
            "user: Where is order 42?\n\n"
            'assistant: [calls tool lookup_order: {\n  "id": 42\n}]\n\n'
            "tool: [tool result: shipped]"
        )

    def test_openai_shaped_messages_from_rest_intake_read_the_same_way(self):
        messages = [
            {"role": "user", "content": [{"type": "text", "text": "Refund me"}]},
            {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "refund", "arguments": "{}"}}]},
        ]
        assert rubric.render("{{ input }}", context(input=messages)) == (
            "user: Refund me\n\nassistant: [calls tool refund: {}]"
        )

    def test_text_stays_text_and_other_json_is_indented(self):
        rendered = rubric.render("{{ input }}|{{ output }}", context(input="hi <b>&", output={"answer": 42}))
        assert rendered == 'hi <b>&|{\n  "answer": 42\n}', "no HTML escaping: the text goes to a model"

    def test_tool_calls_print_as_text_and_can_be_looped_over(self):
        calls = [
            rubric.tool_call("lookup_order", {"id": 42}, {"status": "shipped"}, ""),
            rubric.tool_call("refund", {"id": 42}, None, "PermissionDenied: not allowed"),
        ]
        ctx = context(calls=calls, total=5)
        assert rubric.render("{{ tool_calls }}", ctx) == (
            '1. tool lookup_order\narguments: {\n  "id": 42\n}\nresult: {\n  "status": "shipped"\n}\n\n'
            '2. tool refund\narguments: {\n  "id": 42\n}\nerror: PermissionDenied: not allowed\n\n'
            "… 3 more tool calls not shown"
        )
        loop = "{% for call in tool_calls %}{{ call.name }}{% if call.error %} (failed){% endif %};{% endfor %}"
        assert rubric.render(loop, ctx) == "lookup_order;refund (failed);"
        assert rubric.render("{{ tool_calls }}", context()) == "(no tool calls)"

    def test_run_facts_and_unknown_names_render_empty_not_as_errors(self):
        ctx = context(agent_name="support-bot", status="error", cost_usd=None)
        rendered = rubric.render("{{ run.agent_name }} {{ run.status }} [{{ run.cost_usd }}] [{{ typo }}]", ctx)
        assert rendered == "support-bot error [] []"

    def test_long_values_are_cut(self):
        rendered = rubric.render("{{ output }}", context(output="x" * (rubric.MAX_FIELD_CHARS + 10)))
        assert rendered.endswith("… [10 more characters cut]")
        assert len(rendered) < rubric.MAX_FIELD_CHARS + 100


class CheckTests(SimpleTestCase):
    def test_a_good_rubric_passes(self):
        rubric.check(
            "Grade {{ output|truncatechars:500 }} against {{ input }}.{% if run.status == 'error' %}!{% endif %}"
        )

    def test_what_a_rubric_may_not_do(self):
        refused = {
            "{% if %}": "template syntax: Unexpected end of expression in if tag.",
            "{% load static %}{{ input }}": "template syntax: Invalid block tag on line 1: 'load'",
            "{% include 'secrets.txt' %}{{ input }}": "template syntax: Invalid block tag on line 1: 'include'",
            "{{ input.__class__ }}": "template syntax: Variables and attributes may not begin with underscores",
            "{{ output|center:'999999999' }}": "template syntax: Invalid filter: 'center'",
            "{{ output|stringformat:'999999999s' }}": "template syntax: Invalid filter: 'stringformat'",
            "{% lorem 999999999 w %}{{ input }}": "template syntax: Invalid block tag on line 1: 'lorem'",
            "Is the answer good?": "use at least one of {{ input }}, {{ output }}, {{ tool_calls }} or {{ run }}",
        }
        for text, message in refused.items():
            with self.subTest(text=text), pytest.raises(rubric.RubricError) as caught:
                rubric.check(text)
            assert str(caught.value).startswith(message), str(caught.value)
