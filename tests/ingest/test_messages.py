"""Message / IO extraction (docs/conventions.md, "Messages"): one test per rule and carrier.

Payload shapes are copied from the emitters: opentelemetry-instrumentation-openai-v2 and
opentelemetry-util-genai (SC message JSON, ≤1.36 log events), openinference-instrumentation-openai
(flattened `llm.*_messages`), OpenLLMetry, Vercel AI SDK, Google ADK, Logfire and pydantic-ai.
"""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.conventions.messages import (
    MAX_FLATTENED_INDEX,
    decode_value,
    extract_io,
    messages_from_log_events,
    normalize_finish_reason,
    normalize_role,
)
from ingest.records import LogEvent, RawSpan, SpanEvent, SpanKind

LLM = SpanKind.LLM
TOOL = SpanKind.TOOL
CHAIN = SpanKind.CHAIN
AGENT = SpanKind.AGENT


def make_span(
    attributes: dict[str, Any] | None = None,
    *,
    events: list[SpanEvent] | None = None,
    parent: str = "00f067aa0ba902b7",
    scope: str = "",
) -> RawSpan:
    return RawSpan(
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="53995c3f42cd8ad8",
        parent_span_id=parent,
        name="span",
        kind=3,
        start_ns=1_700_000_000_000_000_000,
        end_ns=1_700_000_001_000_000_000,
        attributes=attributes or {},
        events=events or [],
        scope_name=scope,
    )


def event(name: str, attributes: dict[str, Any] | None = None) -> SpanEvent:
    return SpanEvent(name=name, time_ns=1_700_000_000_500_000_000, attributes=attributes or {})


def log(
    name: str,
    body: Any = None,
    attributes: dict[str, Any] | None = None,
    time_ns: int = 1,
) -> LogEvent:
    return LogEvent(
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="53995c3f42cd8ad8",
        time_ns=time_ns,
        name=name,
        attributes=attributes if attributes is not None else {"gen_ai.system": "openai"},
        body=body,
    )


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def user(content: str) -> dict[str, Any]:
    return {"role": "user", "parts": [text(content)]}


def assistant(content: str, **extra: Any) -> dict[str, Any]:
    return {"role": "assistant", "parts": [text(content)], **extra}


def system(content: str) -> dict[str, Any]:
    return {"role": "system", "parts": [text(content)]}


# --- decoding -----------------------------------------------------------------------------


def test_decode_value_parses_a_json_string():
    assert decode_value('{"city": "Paris"}') == {"city": "Paris"}


def test_decode_value_unwraps_double_encoded_json():
    once = json.dumps([{"role": "user", "content": "hi"}])
    assert decode_value(json.dumps(once)) == [{"role": "user", "content": "hi"}]


def test_decode_value_keeps_truncated_json_as_the_raw_string():
    truncated = '[{"role": "user", "content": "a very long prompt that the SDK cut'
    assert decode_value(truncated) == truncated


def test_decode_value_keeps_plain_text_and_refuses_nan():
    assert decode_value("Paris is sunny") == "Paris is sunny"
    assert decode_value("NaN") == "NaN"  # not JSON, and jsonb would refuse it
    assert decode_value('{"x": NaN}') == '{"x": NaN}'


def test_decode_value_decodes_utf8_bytes_and_leaves_structures_alone():
    assert decode_value(b'{"a": 1}') == {"a": 1}
    assert decode_value([{"a": 1}]) == [{"a": 1}]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("developer", "system"),
        ("human", "user"),
        ("ai", "assistant"),
        ("model", "assistant"),
        ("function", "tool"),
        ("ipython", "tool"),
        ("USER", "user"),
        ("CHATBOT", "assistant"),
        (None, "user"),
        ("", "user"),
    ],
)
def test_roles_are_normalized(raw, expected):
    assert normalize_role(raw, "user") == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("tool_calls", "tool_call"),
        ("end_turn", "stop"),
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("content_filter", "content_filter"),
        ("error", "error"),
        (None, None),
    ],
)
def test_finish_reasons_are_normalized(raw, expected):
    assert normalize_finish_reason(raw) == expected


# --- rule 1: explicit Langfuse ---------------------------------------------------------------


def test_langfuse_observation_io_wins_over_otel_messages():
    span = make_span(
        {
            "langfuse.observation.input": json.dumps([{"role": "user", "content": "from langfuse"}]),
            "langfuse.observation.output": json.dumps({"role": "assistant", "content": "ok"}),
            "gen_ai.input.messages": json.dumps([user("from otel")]),
        }
    )
    inp, out, consumed = extract_io(span, LLM)
    assert inp == [user("from langfuse")]
    assert out == [assistant("ok")]
    # the OTel copy of the same prompt is consumed too, so it is not stored twice
    assert consumed == {
        "langfuse.observation.input",
        "langfuse.observation.output",
        "gen_ai.input.messages",
    }


def test_langfuse_io_on_a_chain_span_is_returned_decoded_as_is():
    span = make_span(
        {
            "langfuse.observation.input": '{"question": "why?"}',
            "langfuse.observation.output": '"because"',
        }
    )
    assert extract_io(span, CHAIN) == (
        {"question": "why?"},
        "because",
        {"langfuse.observation.input", "langfuse.observation.output"},
    )


def test_langfuse_trace_io_is_the_root_spans_io_only():
    attributes = {
        "langfuse.trace.input": '{"q": 1}',
        "langfuse.trace.output": '{"a": 2}',
    }
    assert extract_io(make_span(attributes, parent=""), CHAIN)[:2] == (
        {"q": 1},
        {"a": 2},
    )
    assert extract_io(make_span(attributes), CHAIN) == (None, None, set())


# --- rule 2: OTel GenAI attributes -----------------------------------------------------------

# What opentelemetry-util-genai writes on the span (for_span=True: compact JSON strings).
OPENAI_V2_INPUT = (
    '[{"role":"user","parts":[{"content":"Weather in Paris?","type":"text"}],"name":null},'
    '{"role":"assistant","parts":[{"arguments":{"city":"Paris"},"name":"get_weather","id":"call_abc","type":"tool_call"}],"name":null},'
    '{"role":"tool","parts":[{"response":"{\\"temp_c\\": 21}","id":"call_abc","type":"tool_call_response"}],"name":null}]'
)
OPENAI_V2_OUTPUT = (
    '[{"role":"assistant","parts":[{"content":"It is 21°C.","type":"text"}],"finish_reason":"stop","name":null}]'
)


def test_otel_messages_json_string_form_become_sc_messages():
    span = make_span(
        {
            "gen_ai.input.messages": OPENAI_V2_INPUT,
            "gen_ai.output.messages": OPENAI_V2_OUTPUT,
        }
    )
    inp, out, consumed = extract_io(span, LLM)
    assert inp == [
        user("Weather in Paris?"),
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_abc",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [
                {
                    "type": "tool_call_response",
                    "id": "call_abc",
                    "response": '{"temp_c": 21}',
                }
            ],
        },
    ]
    assert out == [assistant("It is 21°C.", finish_reason="stop")]
    assert consumed == {"gen_ai.input.messages", "gen_ai.output.messages"}


def test_otel_messages_structured_anyvalue_form_is_accepted():
    span = make_span(
        {
            "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
            "gen_ai.output.messages": [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": "hello"}],
                    "finish_reason": "stop",
                }
            ],
        }
    )
    inp, out, _ = extract_io(span, LLM)
    assert inp == [user("hi")]
    assert out == [assistant("hello", finish_reason="stop")]


def test_otel_messages_are_normalized_on_agent_spans_too():
    span = make_span({"gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"plan a trip"}]}]'})
    assert extract_io(span, AGENT)[0] == [user("plan a trip")]


def test_system_instructions_as_parts_are_prepended_as_a_system_message():
    span = make_span(
        {
            "gen_ai.system_instructions": '[{"content":"You are terse.","type":"text"}]',
            "gen_ai.input.messages": '[{"role":"user","parts":[{"content":"hi","type":"text"}]}]',
        }
    )
    inp, _, consumed = extract_io(span, LLM)
    assert inp == [system("You are terse."), user("hi")]
    assert consumed == {"gen_ai.system_instructions", "gen_ai.input.messages"}


def test_system_instructions_as_full_messages_from_litellm_are_flattened():
    span = make_span(
        {
            "gen_ai.system_instructions": [{"role": "system", "parts": [{"type": "text", "content": "Be kind."}]}],
            "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
        }
    )
    assert extract_io(span, LLM)[0] == [system("Be kind."), user("hi")]


def test_system_instructions_as_json_string_elements_are_decoded():
    span = make_span(
        {
            "gen_ai.system_instructions": [
                '{"type": "text", "content": "Rule one."}',
                '{"type": "text", "content": "Rule two."}',
            ],
            "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
        }
    )
    assert extract_io(span, LLM)[0] == [
        {"role": "system", "parts": [text("Rule one."), text("Rule two.")]},
        user("hi"),
    ]


def test_system_instructions_are_not_prepended_when_the_input_has_a_system_message():
    span = make_span(
        {
            "gen_ai.system_instructions": '[{"type":"text","content":"duplicate"}]',
            "gen_ai.input.messages": '[{"role":"system","parts":[{"type":"text","content":"original"}]},{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
        }
    )
    assert extract_io(span, LLM)[0] == [system("original"), user("hi")]


def test_system_instructions_alone_still_yield_input():
    span = make_span({"gen_ai.system_instructions": "You are a pirate."})
    assert extract_io(span, LLM)[0] == [system("You are a pirate.")]


def test_tool_call_response_accepts_result_as_well_as_response():
    span = make_span(
        {
            "gen_ai.input.messages": [
                {
                    "role": "tool",
                    "parts": [
                        {
                            "type": "tool_call_response",
                            "id": "call_1",
                            "result": {"ok": True},
                        }
                    ],
                }
            ]
        }
    )
    assert extract_io(span, LLM)[0] == [
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": {"ok": True}}],
        }
    ]


def test_truncated_input_messages_are_kept_as_the_raw_string():
    truncated = OPENAI_V2_INPUT[:90]
    inp, out, consumed = extract_io(make_span({"gen_ai.input.messages": truncated}), LLM)
    assert inp == truncated
    assert out is None
    assert consumed == {"gen_ai.input.messages"}


def test_tool_span_arguments_and_result_in_string_and_structured_form():
    as_strings = make_span(
        {
            "gen_ai.tool.call.arguments": '{"city": "Paris"}',
            "gen_ai.tool.call.result": '{"temp_c": 21}',
        }
    )
    structured = make_span(
        {
            "gen_ai.tool.call.arguments": {"city": "Paris"},
            "gen_ai.tool.call.result": {"temp_c": 21},
        }
    )
    for span in (as_strings, structured):
        assert extract_io(span, TOOL) == (
            {"city": "Paris"},
            {"temp_c": 21},
            {"gen_ai.tool.call.arguments", "gen_ai.tool.call.result"},
        )


def test_tool_arguments_are_found_on_a_span_not_yet_classified_as_tool():
    span = make_span({"gen_ai.tool.call.arguments": '{"q": "otel"}'})
    assert extract_io(span, SpanKind.SPAN) == (
        {"q": "otel"},
        None,
        {"gen_ai.tool.call.arguments"},
    )


# --- rule 3: the inference operation details event -------------------------------------------


def test_inference_details_span_event_carries_structured_messages():
    # opentelemetry-util-genai `_maybe_create_event`: for_span=False gives lists of dicts.
    details = event(
        "gen_ai.client.inference.operation.details",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": [
                {
                    "role": "user",
                    "parts": [{"content": "hi", "type": "text"}],
                    "name": None,
                }
            ],
            "gen_ai.output.messages": [
                {
                    "role": "assistant",
                    "parts": [{"content": "hello", "type": "text"}],
                    "finish_reason": "stop",
                }
            ],
            "gen_ai.system_instructions": [{"content": "Be brief.", "type": "text"}],
        },
    )
    inp, out, consumed = extract_io(make_span({"gen_ai.request.model": "gpt-4o"}, events=[details]), LLM)
    assert inp == [system("Be brief."), user("hi")]
    assert out == [assistant("hello", finish_reason="stop")]
    assert consumed == set()  # events are not attributes


def test_otel_attributes_with_only_input_take_output_from_the_events():
    span = make_span(
        {"gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]'},
        events=[
            event(
                "gen_ai.choice",
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": '{"role": "assistant", "content": "hello"}',
                },
            )
        ],
    )
    inp, out, _ = extract_io(span, LLM)
    assert inp == [user("hi")]
    assert out == [assistant("hello", finish_reason="stop")]


# --- rule 4: ≤1.36 events ----------------------------------------------------------------------


def test_legacy_message_span_events_become_messages_with_linked_tool_ids():
    span = make_span(
        events=[
            event(
                "gen_ai.system.message",
                {"gen_ai.system": "openai", "content": "You are helpful."},
            ),
            event(
                "gen_ai.user.message",
                {"gen_ai.system": "openai", "content": "Weather in Paris?"},
            ),
            event(
                "gen_ai.assistant.message",
                {
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"city":"Paris"}',
                            },
                        }
                    ]
                },
            ),
            event("gen_ai.tool.message", {"content": "21C", "id": "call_1"}),
            event(
                "gen_ai.choice",
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "It is 21C."},
                },
            ),
        ]
    )
    inp, out, consumed = extract_io(span, LLM)
    assert inp == [
        system("You are helpful."),
        user("Weather in Paris?"),
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": "21C"}],
        },
    ]
    assert out == [assistant("It is 21C.", finish_reason="stop")]
    assert consumed == set()


def test_strands_style_events_with_json_content_blocks():
    span = make_span(
        events=[
            event("gen_ai.user.message", {"content": '[{"text": "What is 2+2?"}]'}),
            event(
                "gen_ai.choice",
                {
                    "finish_reason": "tool_use",
                    "message": '[{"toolUse": {"toolUseId": "tooluse_1", "name": "calc", "input": {"expr": "2+2"}}}]',
                },
            ),
        ]
    )
    inp, out, _ = extract_io(span, AGENT)
    assert inp == [user("What is 2+2?")]
    assert out == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "tooluse_1",
                    "name": "calc",
                    "arguments": {"expr": "2+2"},
                }
            ],
            "finish_reason": "tool_call",
        }
    ]


def test_semantic_kernel_content_events_carry_the_prompt_and_completion():
    span = make_span(
        events=[
            event(
                "gen_ai.content.prompt",
                {"gen_ai.prompt": '[{"role": "user", "content": "Tell a joke"}]'},
            ),
            event(
                "gen_ai.content.completion",
                {"gen_ai.completion": '[{"role": "assistant", "content": "Knock knock"}]'},
            ),
        ]
    )
    inp, out, _ = extract_io(span, LLM)
    assert inp == [user("Tell a joke")]
    assert out == [assistant("Knock knock")]


def test_semantic_kernel_plain_text_prompt_becomes_a_user_message():
    span = make_span(events=[event("gen_ai.content.prompt", {"gen_ai.prompt": "Summarize this"})])
    assert extract_io(span, LLM)[0] == [user("Summarize this")]


# --- rule 5: OpenInference flattened ------------------------------------------------------------

# Exactly what openinference-instrumentation-openai yields for a chat completion with a tool round.
OPENINFERENCE_CHAT = {
    "openinference.span.kind": "LLM",
    "llm.invocation_parameters": '{"model": "gpt-4o"}',
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "sys",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.content": "weather?",
    "llm.input_messages.2.message.role": "assistant",
    "llm.input_messages.2.message.tool_calls.0.tool_call.id": "call_1",
    "llm.input_messages.2.message.tool_calls.0.tool_call.function.name": "get_weather",
    "llm.input_messages.2.message.tool_calls.0.tool_call.function.arguments": '{"city":"Paris"}',
    "llm.input_messages.3.message.role": "tool",
    "llm.input_messages.3.message.tool_call_id": "call_1",
    "llm.input_messages.3.message.content": '{"temp":21}',
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_2",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_time",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"tz":"CET"}',
    "llm.finish_reason": "tool_calls",
    "input.value": '{"messages": [], "model": "gpt-4o"}',
    "input.mime_type": "application/json",
}


def test_openinference_flattened_messages_are_rebuilt_with_tool_call_ids():
    inp, out, consumed = extract_io(make_span(OPENINFERENCE_CHAT), LLM)
    assert inp == [
        system("sys"),
        user("weather?"),
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [
                {
                    "type": "tool_call_response",
                    "id": "call_1",
                    "response": '{"temp":21}',
                }
            ],
        },
    ]
    assert out == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_2",
                    "name": "get_time",
                    "arguments": {"tz": "CET"},
                }
            ],
        }
    ]
    flattened = {k for k in OPENINFERENCE_CHAT if k.startswith(("llm.input_messages.", "llm.output_messages."))}
    assert consumed == flattened  # input.value, finish reason and params are left for others


def test_openinference_multimodal_contents_become_text_uri_and_blob_parts():
    span = make_span(
        {
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.contents.0.message_content.type": "text",
            "llm.input_messages.0.message.contents.0.message_content.text": "What is this?",
            "llm.input_messages.0.message.contents.1.message_content.type": "image",
            "llm.input_messages.0.message.contents.1.message_content.image.image.url": "https://example.com/cat.png",
            "llm.input_messages.0.message.contents.2.message_content.type": "image",
            "llm.input_messages.0.message.contents.2.message_content.image.image.url": "data:image/png;base64,iVBORw0KGgo=",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.contents.0.message_content.type": "reasoning",
            "llm.output_messages.0.message.contents.0.message_content.text": "Looks feline.",
            "llm.output_messages.0.message.contents.1.message_content.type": "text",
            "llm.output_messages.0.message.contents.1.message_content.text": "A cat.",
        }
    )
    inp, out, _ = extract_io(span, LLM)
    assert inp == [
        {
            "role": "user",
            "parts": [
                text("What is this?"),
                {
                    "type": "uri",
                    "modality": "image",
                    "mime_type": None,
                    "uri": "https://example.com/cat.png",
                },
                {
                    "type": "blob",
                    "modality": "image",
                    "mime_type": "image/png",
                    "content": "iVBORw0KGgo=",
                },
            ],
        }
    ]
    assert out == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Looks feline."},
                text("A cat."),
            ],
        }
    ]


def test_openinference_legacy_prompts_and_choices():
    span = make_span(
        {
            "llm.prompts.0.prompt.text": "Once upon a time",
            "llm.choices.0.completion.text": " there was a span.",
        }
    )
    inp, out, consumed = extract_io(span, LLM)
    assert inp == [user("Once upon a time")]
    assert out == [assistant(" there was a span.")]
    assert consumed == {"llm.prompts.0.prompt.text", "llm.choices.0.completion.text"}


def test_openinference_old_string_array_prompts():
    span = make_span({"llm.prompts": ["first prompt", "second prompt"]})
    inp, _, consumed = extract_io(span, LLM)
    assert inp == [user("first prompt"), user("second prompt")]
    assert consumed == {"llm.prompts"}


def test_openinference_output_missing_is_taken_from_output_value():
    # Streaming responses can leave llm.output_messages unset; output.value has the body.
    span = make_span(
        {
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "hi",
            "output.value": json.dumps(
                {
                    "id": "chatcmpl-1",
                    "model": "gpt-4o",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "hello"},
                        }
                    ],
                }
            ),
            "output.mime_type": "application/json",
        }
    )
    inp, out, consumed = extract_io(span, LLM)
    assert inp == [user("hi")]
    assert out == [assistant("hello", finish_reason="stop")]
    assert consumed == {
        "llm.input_messages.0.message.role",
        "llm.input_messages.0.message.content",
        "output.value",
        "output.mime_type",
    }


def test_huge_flattened_index_is_ignored_and_left_unconsumed():
    huge = f"llm.input_messages.{MAX_FLATTENED_INDEX + 1}.message.content"
    span = make_span(
        {
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "real",
            huge: "attack",
            "llm.input_messages.9999999999999.message.content": "attack",
        }
    )
    inp, _, consumed = extract_io(span, LLM)
    assert inp == [user("real")]
    assert huge not in consumed
    assert consumed == {
        "llm.input_messages.0.message.role",
        "llm.input_messages.0.message.content",
    }


def test_only_a_capped_index_yields_nothing():
    span = make_span({"llm.input_messages.10001.message.content": "x"})
    assert extract_io(span, LLM) == (None, None, set())


def test_flattened_index_at_the_cap_is_kept_sparse_and_ordered():
    span = make_span(
        {
            f"gen_ai.prompt.{MAX_FLATTENED_INDEX}.content": "last",
            f"gen_ai.prompt.{MAX_FLATTENED_INDEX}.role": "user",
            "gen_ai.prompt.0.content": "first",
            "gen_ai.prompt.0.role": "user",
        }
    )
    assert extract_io(span, LLM)[0] == [user("first"), user("last")]


# --- rule 6: OpenLLMetry flattened ---------------------------------------------------------------


def test_openllmetry_flattened_prompt_and_completion_with_tool_calls():
    span = make_span(
        {
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "You are a travel agent.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "Book Paris",
            "gen_ai.prompt.2.role": "assistant",
            "gen_ai.prompt.2.tool_calls.0.id": "call_9",
            "gen_ai.prompt.2.tool_calls.0.name": "search_flights",
            "gen_ai.prompt.2.tool_calls.0.arguments": '{"to": "CDG"}',
            "gen_ai.prompt.3.role": "tool",
            "gen_ai.prompt.3.tool_call_id": "call_9",
            "gen_ai.prompt.3.content": "AF123",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Booked AF123.",
            "gen_ai.completion.0.finish_reason": "stop",
        }
    )
    inp, out, consumed = extract_io(span, LLM)
    assert inp == [
        system("You are a travel agent."),
        user("Book Paris"),
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_9",
                    "name": "search_flights",
                    "arguments": {"to": "CDG"},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_9", "response": "AF123"}],
        },
    ]
    assert out == [assistant("Booked AF123.", finish_reason="stop")]
    assert len(consumed) == 14


def test_gen_ai_prompt_name_is_not_a_message():
    span = make_span(
        {
            "gen_ai.prompt.name": "travel-agent-v3",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "hi",
        }
    )
    inp, _, consumed = extract_io(span, LLM)
    assert inp == [user("hi")]
    assert "gen_ai.prompt.name" not in consumed


def test_gen_ai_prompt_name_alone_yields_nothing():
    assert extract_io(make_span({"gen_ai.prompt.name": "travel-agent-v3"}), LLM) == (
        None,
        None,
        set(),
    )


def test_openllmetry_content_that_is_a_json_parts_list_is_decoded():
    span = make_span(
        {
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": '[{"type": "text", "text": "Describe"}, {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}}]',
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": '{"not": "parts"}',
        }
    )
    inp, out, _ = extract_io(span, LLM)
    assert inp == [
        {
            "role": "user",
            "parts": [
                text("Describe"),
                {
                    "type": "uri",
                    "modality": "image",
                    "mime_type": None,
                    "uri": "https://x.test/a.jpg",
                },
            ],
        }
    ]
    assert out == [assistant('{"not": "parts"}')]  # JSON the model wrote stays text


# --- rule 7: generic / framework IO --------------------------------------------------------------


def test_input_value_openai_request_body_becomes_messages_on_llm_spans():
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/i.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_5",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"id": 7}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_5", "content": "found"},
        ],
    }
    span = make_span({"input.value": json.dumps(body), "input.mime_type": "application/json"})
    inp, out, consumed = extract_io(span, LLM)
    assert inp == [
        system("Be brief."),
        {
            "role": "user",
            "parts": [
                text("hi"),
                {
                    "type": "uri",
                    "modality": "image",
                    "mime_type": None,
                    "uri": "https://x.test/i.png",
                },
            ],
        },
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_5",
                    "name": "lookup",
                    "arguments": {"id": 7},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_5", "response": "found"}],
        },
    ]
    assert out is None
    assert consumed == {"input.value", "input.mime_type"}


def test_input_value_anthropic_request_and_response_blocks():
    request = {
        "model": "claude-sonnet-4",
        "system": "You are Claude.",
        "messages": [
            {"role": "user", "content": "What is the weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Need a tool."},
                    {
                        "type": "tool_use",
                        "id": "toolu_1",
                        "name": "weather",
                        "input": {"city": "Oslo"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "-3C"}],
            },
        ],
    }
    response = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "Cold: -3C."}],
        "stop_reason": "end_turn",
    }
    span = make_span({"input.value": json.dumps(request), "output.value": json.dumps(response)})
    inp, out, _ = extract_io(span, LLM)
    assert inp == [
        system("You are Claude."),
        user("What is the weather?"),
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Need a tool."},
                {
                    "type": "tool_call",
                    "id": "toolu_1",
                    "name": "weather",
                    "arguments": {"city": "Oslo"},
                },
            ],
        },
        {
            "role": "user",
            "parts": [{"type": "tool_call_response", "id": "toolu_1", "response": "-3C"}],
        },
    ]
    assert out == [assistant("Cold: -3C.", finish_reason="stop")]


def test_input_value_responses_api_request_and_response():
    request = {"model": "gpt-4.1", "instructions": "Be exact.", "input": "2+2?"}
    response = {
        "object": "response",
        "model": "gpt-4.1",
        "output": [
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "Add."}],
            },
            {
                "type": "function_call",
                "call_id": "call_r",
                "name": "calc",
                "arguments": '{"e": "2+2"}',
            },
            {"type": "web_search_call", "id": "ws_1"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "4"}],
            },
        ],
    }
    span = make_span({"input.value": json.dumps(request), "output.value": json.dumps(response)})
    inp, out, _ = extract_io(span, LLM)
    assert inp == [system("Be exact."), user("2+2?")]
    assert out == [
        {"role": "assistant", "parts": [{"type": "reasoning", "content": "Add."}]},
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_r",
                    "name": "calc",
                    "arguments": {"e": "2+2"},
                }
            ],
        },
        assistant("4"),
    ]


def test_input_value_text_plain_stays_text_even_if_it_looks_like_json():
    span = make_span(
        {
            "input.value": "42",
            "input.mime_type": "text/plain",
            "output.value": "[1, 2]",
            "output.mime_type": "text/plain",
        }
    )
    assert extract_io(span, CHAIN) == (
        "42",
        "[1, 2]",
        {"input.value", "input.mime_type", "output.value", "output.mime_type"},
    )
    inp, out, _ = extract_io(span, LLM)
    assert inp == [user("42")]
    assert out == [assistant("[1, 2]")]


def test_input_value_on_a_chain_span_is_returned_as_decoded_json():
    span = make_span({"input.value": '{"messages": [{"role": "user", "content": "hi"}]}'})
    assert extract_io(span, CHAIN)[0] == {"messages": [{"role": "user", "content": "hi"}]}


def test_unrecognized_llm_value_is_kept_decoded():
    span = make_span({"output.value": '{"embedding": [0.1, 0.2]}'})
    assert extract_io(span, LLM)[1] == {"embedding": [0.1, 0.2]}


def test_traceloop_entity_io_is_returned_raw_on_task_spans():
    span = make_span(
        {
            "traceloop.span.kind": "task",
            "traceloop.entity.input": '{"args": ["Paris"], "kwargs": {"units": "metric"}}',
            "traceloop.entity.output": '"21C"',
        }
    )
    assert extract_io(span, CHAIN) == (
        {"args": ["Paris"], "kwargs": {"units": "metric"}},
        "21C",
        {"traceloop.entity.input", "traceloop.entity.output"},
    )


def test_mlflow_span_inputs_and_outputs():
    span = make_span(
        {
            "mlflow.spanInputs": '{"messages": [{"role": "user", "content": "hi"}]}',
            "mlflow.spanOutputs": '"hello"',
        }
    )
    assert extract_io(span, LLM)[:2] == ([user("hi")], [assistant("hello")])
    assert extract_io(span, CHAIN)[:2] == (
        {"messages": [{"role": "user", "content": "hi"}]},
        "hello",
    )


def test_genkit_model_span_uses_messages_and_message():
    genkit_input = {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "config": {"temperature": 0},
    }
    genkit_output = {
        "message": {"role": "model", "content": [{"text": "hello"}]},
        "finishReason": "stop",
    }
    span = make_span(
        {
            "genkit:input": json.dumps(genkit_input),
            "genkit:output": json.dumps(genkit_output),
        },
        scope="genkit-tracer",
    )
    assert extract_io(span, LLM)[:2] == (
        [user("hi")],
        [assistant("hello", finish_reason="stop")],
    )
    assert extract_io(span, CHAIN)[:2] == (
        genkit_input["messages"],
        genkit_output["message"],
    )


def test_vercel_ai_prompt_messages_and_text_plus_tool_calls():
    span = make_span(
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.prompt.messages": json.dumps(
                [
                    {"role": "system", "content": "You help."},
                    {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
                    {
                        "role": "assistant",
                        "content": [
                            {
                                "type": "tool-call",
                                "toolCallId": "call_v1",
                                "toolName": "weather",
                                "input": {"city": "Rome"},
                            }
                        ],
                    },
                    {
                        "role": "tool",
                        "content": [
                            {
                                "type": "tool-result",
                                "toolCallId": "call_v1",
                                "toolName": "weather",
                                "output": {"type": "json", "value": 25},
                            }
                        ],
                    },
                ]
            ),
            "ai.response.text": "Checking again.",
            "ai.response.toolCalls": json.dumps(
                [
                    {
                        "toolCallType": "function",
                        "toolCallId": "call_v2",
                        "toolName": "weather",
                        "args": '{"city":"Milan"}',
                    }
                ]
            ),
        },
        scope="ai",
    )
    inp, out, consumed = extract_io(span, LLM)
    assert inp == [
        system("You help."),
        user("Weather?"),
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_v1",
                    "name": "weather",
                    "arguments": {"city": "Rome"},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [
                {
                    "type": "tool_call_response",
                    "id": "call_v1",
                    "response": {"type": "json", "value": 25},
                }
            ],
        },
    ]
    assert out == [
        {
            "role": "assistant",
            "parts": [
                text("Checking again."),
                {
                    "type": "tool_call",
                    "id": "call_v2",
                    "name": "weather",
                    "arguments": {"city": "Milan"},
                },
            ],
        }
    ]
    assert consumed == {
        "ai.prompt.messages",
        "ai.response.text",
        "ai.response.toolCalls",
    }


def test_vercel_ai_wrapper_span_keeps_text_raw_and_builds_the_combined_output():
    span = make_span(
        {
            "ai.prompt": '{"system": "You help.", "prompt": "Weather?"}',
            "ai.response.text": '{"looks": "like json"}',
            "ai.response.toolCalls": '[{"toolCallId": "c1", "toolName": "w", "args": "{}"}]',
        },
        scope="ai",
    )
    inp, out, _ = extract_io(span, CHAIN)
    assert inp == {"system": "You help.", "prompt": "Weather?"}
    assert out == {
        "role": "assistant",
        "content": '{"looks": "like json"}',
        "tool_calls": [{"toolCallId": "c1", "toolName": "w", "args": "{}"}],
    }
    assert extract_io(span, LLM)[0] == [system("You help."), user("Weather?")]


def test_vercel_ai_tool_call_span():
    span = make_span(
        {
            "ai.toolCall.name": "weather",
            "ai.toolCall.id": "call_v1",
            "ai.toolCall.args": '{"city":"Rome"}',
            "ai.toolCall.result": '{"c":25}',
        },
        scope="ai",
    )
    assert extract_io(span, TOOL) == (
        {"city": "Rome"},
        {"c": 25},
        {"ai.toolCall.args", "ai.toolCall.result"},
    )
    assert extract_io(span, SpanKind.SPAN)[:2] == ({"city": "Rome"}, {"c": 25})


def test_adk_llm_request_and_response():
    request = {
        "model": "gemini-2.0-flash",
        "config": {"system_instruction": "You are a weather bot."},
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Oslo?"}]},
            {
                "role": "model",
                "parts": [
                    {
                        "function_call": {
                            "id": "adk-1",
                            "name": "get_weather",
                            "args": {"city": "Oslo"},
                        }
                    }
                ],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "function_response": {
                            "id": "adk-1",
                            "name": "get_weather",
                            "response": {"temp": -3},
                        }
                    }
                ],
            },
        ],
    }
    response = {
        "content": {"role": "model", "parts": [{"text": "It is -3C."}]},
        "finish_reason": "STOP",
        "usage_metadata": {},
    }
    span = make_span(
        {
            "gcp.vertex.agent.llm_request": json.dumps(request),
            "gcp.vertex.agent.llm_response": json.dumps(response),
        },
        scope="gcp.vertex.agent",
    )
    inp, out, consumed = extract_io(span, LLM)
    assert inp == [
        system("You are a weather bot."),
        user("Weather in Oslo?"),
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "adk-1",
                    "name": "get_weather",
                    "arguments": {"city": "Oslo"},
                }
            ],
        },
        {
            "role": "user",
            "parts": [{"type": "tool_call_response", "id": "adk-1", "response": {"temp": -3}}],
        },
    ]
    assert out == [assistant("It is -3C.", finish_reason="stop")]
    assert consumed == {"gcp.vertex.agent.llm_request", "gcp.vertex.agent.llm_response"}


def test_adk_empty_llm_payloads_fall_back_to_tool_args_and_response():
    span = make_span(
        {
            "gcp.vertex.agent.llm_request": "{}",
            "gcp.vertex.agent.llm_response": "{}",
            "gcp.vertex.agent.tool_call_args": '{"city": "Oslo"}',
            "gcp.vertex.agent.tool_response": '{"temp": -3}',
        },
        scope="gcp.vertex.agent",
    )
    inp, out, consumed = extract_io(span, SpanKind.SPAN)
    assert (inp, out) == ({"city": "Oslo"}, {"temp": -3})
    assert consumed == set(span.attributes)


def test_adk_all_empty_yields_nothing():
    span = make_span({"gcp.vertex.agent.llm_request": "{}", "gcp.vertex.agent.llm_response": "{}"})
    assert extract_io(span, LLM) == (None, None, set())


def test_logfire_request_and_response_data():
    span = make_span(
        {
            "request_data": json.dumps(
                {
                    "model": "gpt-4o",
                    "messages": [
                        {"role": "system", "content": "s"},
                        {"role": "user", "content": "u"},
                    ],
                }
            ),
            "response_data": json.dumps(
                {
                    "message": {"role": "assistant", "content": "a"},
                    "usage": {"total_tokens": 3},
                }
            ),
        },
        scope="logfire",
    )
    assert extract_io(span, LLM) == (
        [system("s"), user("u")],
        [assistant("a")],
        {"request_data", "response_data"},
    )


def test_logfire_events_attribute_is_read_like_legacy_events():
    entries = [
        {
            "event.name": "gen_ai.system.message",
            "content": "Be brief.",
            "role": "system",
        },
        {"event.name": "gen_ai.user.message", "content": "hi", "role": "user"},
        {
            "event.name": "gen_ai.choice",
            "index": 0,
            "message": {"role": "assistant", "content": "hello"},
        },
    ]
    span = make_span({"events": json.dumps(entries)}, scope="logfire")
    assert extract_io(span, LLM) == (
        [system("Be brief."), user("hi")],
        [assistant("hello")],
        {"events"},
    )


def test_unrelated_events_attribute_is_not_a_message_carrier():
    span = make_span({"events": '["started", "stopped"]'})
    assert extract_io(span, CHAIN) == (None, None, set())


def test_pydantic_ai_run_span_all_messages_and_final_result():
    all_messages = [
        {"role": "system", "parts": [{"type": "text", "content": "Be helpful."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Paris"}],
            "finish_reason": "stop",
        },
    ]
    span = make_span(
        {
            "agent_name": "agent",
            "pydantic_ai.all_messages": json.dumps(all_messages),
            "final_result": "Paris",
        },
        scope="pydantic-ai",
    )
    inp, out, consumed = extract_io(span, AGENT)
    assert inp == [
        system("Be helpful."),
        user("Capital of France?"),
        assistant("Paris", finish_reason="stop"),
    ]
    assert out == "Paris"
    assert consumed == {"pydantic_ai.all_messages", "final_result"}


def test_pydantic_ai_v2_tool_span_arguments_and_response():
    span = make_span(
        {
            "gen_ai.tool.name": "roll_die",
            "tool_arguments": '{"sides": 6}',
            "tool_response": "4",
        },
        scope="pydantic-ai",
    )
    assert extract_io(span, TOOL) == (
        {"sides": 6},
        4,
        {"tool_arguments", "tool_response"},
    )


def test_plain_input_and_output_attributes():
    span = make_span({"input": '{"query": "docs"}', "output": '["a.md", "b.md"]'})
    assert extract_io(span, SpanKind.RETRIEVER) == (
        {"query": "docs"},
        ["a.md", "b.md"],
        {"input", "output"},
    )


def test_livekit_turn_text_and_chat_context():
    turn = make_span(
        {"lk.user_transcript": "Book a table", "lk.response.text": "For how many?"},
        scope="livekit-agents",
    )
    assert extract_io(turn, AGENT) == (
        "Book a table",
        "For how many?",
        {"lk.user_transcript", "lk.response.text"},
    )
    chat_ctx = {
        "items": [
            {
                "id": "item_1",
                "type": "message",
                "role": "user",
                "content": ["Book a table"],
            },
            {
                "id": "item_2",
                "type": "function_call",
                "call_id": "fc_1",
                "name": "book",
                "arguments": '{"n": 2}',
            },
            {
                "id": "item_3",
                "type": "function_call_output",
                "call_id": "fc_1",
                "output": "booked",
                "name": "book",
            },
        ]
    }
    llm = make_span(
        {"lk.chat_ctx": json.dumps(chat_ctx), "lk.response.text": "Done."},
        scope="livekit-agents",
    )
    inp, out, _ = extract_io(llm, LLM)
    assert inp == [
        user("Book a table"),
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "fc_1",
                    "name": "book",
                    "arguments": {"n": 2},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "fc_1", "response": "booked"}],
        },
    ]
    assert out == [assistant("Done.")]


def test_cloudflare_prompt_json_and_completion_json():
    span = make_span(
        {
            "gen_ai.prompt_json": json.dumps(
                {
                    "model": "@cf/meta/llama",
                    "messages": [{"role": "user", "content": "hi"}],
                }
            ),
            "gen_ai.completion_json": json.dumps({"response": "hello"}),
        }
    )
    inp, out, consumed = extract_io(span, LLM)
    assert inp == [user("hi")]
    assert out == {"response": "hello"}  # not a recognizable message shape: kept decoded
    assert consumed == {"gen_ai.prompt_json", "gen_ai.completion_json"}


def test_bare_gen_ai_prompt_and_completion_blobs():
    span = make_span(
        {
            "gen_ai.prompt": json.dumps([{"role": "user", "content": "hi"}]),
            "gen_ai.completion": json.dumps([{"role": "assistant", "content": "hello"}]),
        }
    )
    assert extract_io(span, LLM) == (
        [user("hi")],
        [assistant("hello")],
        {"gen_ai.prompt", "gen_ai.completion"},
    )


def test_gemini_inline_data_and_thoughts():
    span = make_span(
        {
            "gen_ai.input.messages": [
                {
                    "role": "user",
                    "parts": [
                        {"inline_data": {"mime_type": "audio/wav", "data": "UklGRg=="}},
                        {"text": "transcribe"},
                    ],
                }
            ],
            "gen_ai.output.messages": [
                {
                    "role": "model",
                    "parts": [{"text": "hmm", "thought": True}, {"text": "Hello"}],
                }
            ],
        }
    )
    inp, out, _ = extract_io(span, LLM)
    assert inp == [
        {
            "role": "user",
            "parts": [
                {
                    "type": "blob",
                    "modality": "audio",
                    "mime_type": "audio/wav",
                    "content": "UklGRg==",
                },
                text("transcribe"),
            ],
        }
    ]
    assert out == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "hmm"}, text("Hello")],
        }
    ]


# --- rule order, tool chains, consumed keys -----------------------------------------------------


def test_otel_messages_win_over_generic_input_value():
    span = make_span(
        {
            "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"structured"}]}]',
            "input.value": "generic",
        }
    )
    inp, _, consumed = extract_io(span, LLM)
    assert inp == [user("structured")]
    assert "input.value" not in consumed  # a generic carrier that lost is left for metadata


def test_dual_emitted_openinference_keys_are_consumed_as_duplicates():
    span = make_span(
        {
            "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "hi",
            "gen_ai.prompt.0.content": "hi",
        }
    )
    _, _, consumed = extract_io(span, LLM)
    assert consumed == set(span.attributes)


def test_tool_span_argument_chain_prefers_otel_over_input_value():
    span = make_span(
        {
            "gen_ai.tool.call.arguments": '{"from": "otel"}',
            "input.value": '{"from": "openinference"}',
            "output.value": "done",
            "output.mime_type": "text/plain",
        }
    )
    assert extract_io(span, TOOL) == (
        {"from": "otel"},
        "done",
        {"gen_ai.tool.call.arguments", "output.value", "output.mime_type"},
    )


def test_tool_parameters_is_only_a_last_resort_for_arguments():
    schema_only = make_span({"tool.name": "search", "tool.parameters": '{"type": "object"}'})
    assert extract_io(schema_only, TOOL)[0] == {"type": "object"}
    with_input = make_span({"tool.parameters": '{"type": "object"}', "input.value": '{"q": "x"}'})
    assert extract_io(with_input, TOOL) == ({"q": "x"}, None, {"input.value"})


def test_traceloop_decorated_tool_span_uses_the_entity_io():
    span = make_span(
        {
            "traceloop.span.kind": "tool",
            "traceloop.entity.input": '{"args": [], "kwargs": {"q": 1}}',
            "traceloop.entity.output": "7",
        }
    )
    assert extract_io(span, TOOL)[:2] == ({"args": [], "kwargs": {"q": 1}}, 7)


def test_kind_is_matched_case_insensitively():
    span = make_span({"input.value": "hi"})
    assert extract_io(span, "LLM")[0] == [user("hi")]


def test_span_without_io_yields_nothing():
    assert extract_io(make_span({"gen_ai.request.model": "gpt-4o"}), LLM) == (
        None,
        None,
        set(),
    )


# --- log events ----------------------------------------------------------------------------------


def test_log_events_from_openai_v2_message_and_choice_records():
    # `message_to_event` / `choice_to_event` in opentelemetry-instrumentation-openai-v2.
    events = [
        log("gen_ai.system.message", {"content": "You are helpful."}, time_ns=1),
        log(
            "gen_ai.user.message",
            {"content": [{"type": "text", "text": "Weather?"}]},
            time_ns=2,
        ),
        log(
            "gen_ai.assistant.message",
            {
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {
                            "name": "weather",
                            "arguments": '{"city": "Paris"}',
                        },
                    }
                ]
            },
            time_ns=3,
        ),
        log("gen_ai.tool.message", {"content": "21C", "id": "call_1"}, time_ns=4),
        log(
            "gen_ai.choice",
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "time"},
                        }
                    ],
                },
            },
            time_ns=5,
        ),
    ]
    inp, out = messages_from_log_events(list(reversed(events)))  # arrival order does not matter
    assert inp == [
        system("You are helpful."),
        user("Weather?"),
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": "21C"}],
        },
    ]
    assert out == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_2", "name": "time", "arguments": None}],
            "finish_reason": "tool_call",
        }
    ]


def test_log_events_without_captured_content_still_record_the_turns():
    # Content capture off: the user event has no body, the choice only its finish reason.
    events = [
        log("gen_ai.user.message", None, time_ns=1),
        log(
            "gen_ai.choice",
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant"}},
            time_ns=2,
        ),
    ]
    assert messages_from_log_events(events) == (
        [{"role": "user", "parts": []}],
        [{"role": "assistant", "parts": [], "finish_reason": "stop"}],
    )


def test_log_events_developer_role_event_is_a_system_message():
    assert messages_from_log_events([log("gen_ai.developer.message", {"content": "Rules."})])[0] == [system("Rules.")]


def test_log_event_inference_details_wins_over_legacy_records():
    details = log(
        "gen_ai.client.inference.operation.details",
        None,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
            "gen_ai.output.messages": [
                {
                    "role": "assistant",
                    "parts": [{"type": "text", "content": "hello"}],
                    "finish_reason": "stop",
                }
            ],
            "gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}],
        },
    )
    legacy = log("gen_ai.user.message", {"content": "old"})
    assert messages_from_log_events([legacy, details]) == (
        [system("Be brief."), user("hi")],
        [assistant("hello", finish_reason="stop")],
    )


def test_log_event_name_may_come_from_the_event_name_attribute():
    record = log("", {"content": "hi"}, attributes={"event.name": "gen_ai.user.message"})
    assert messages_from_log_events([record]) == ([user("hi")], None)


def test_log_event_body_may_be_a_json_string():
    record = log(
        "gen_ai.choice",
        '{"index": 0, "finish_reason": "stop", "message": {"content": "ok"}}',
    )
    assert messages_from_log_events([record]) == (
        None,
        [assistant("ok", finish_reason="stop")],
    )


def test_no_log_events_means_no_messages():
    assert messages_from_log_events([]) == (None, None)
    assert messages_from_log_events([log("some.other.event", {"x": 1})]) == (None, None)


# --- real emitters (skipped when the instrumentation packages are not installed) -----------------


def test_shapes_written_by_openinference_openai_round_trip():
    openai = pytest.importorskip("openai")
    extractor = pytest.importorskip("openinference.instrumentation.openai._request_attributes_extractor")
    request = {
        "model": "gpt-4o",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/c.png"}},
                ],
            },
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "look", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        ],
    }
    attributes = dict(
        extractor._RequestAttributesExtractor(openai)._get_attributes_from_chat_completion_create_param(request)
    )
    inp, _, consumed = extract_io(make_span(attributes), LLM)
    assert inp == [
        {
            "role": "user",
            "parts": [
                text("What is this?"),
                {
                    "type": "uri",
                    "modality": "image",
                    "mime_type": None,
                    "uri": "https://x.test/c.png",
                },
            ],
        },
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "look", "arguments": {}}],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": "a cat"}],
        },
    ]
    assert consumed == {k for k in attributes if k.startswith("llm.input_messages.")}


# --- odd input never raises ---------------------------------------------------------------------

KNOWN_KEYS = [
    "langfuse.observation.input",
    "langfuse.trace.output",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "llm.prompts",
    "input.value",
    "input.mime_type",
    "output.value",
    "traceloop.entity.input",
    "mlflow.spanInputs",
    "genkit:input",
    "genkit:output",
    "ai.prompt.messages",
    "ai.prompt",
    "ai.response.text",
    "ai.response.toolCalls",
    "gcp.vertex.agent.llm_request",
    "gcp.vertex.agent.llm_response",
    "request_data",
    "response_data",
    "events",
    "all_messages_events",
    "prompt",
    "pydantic_ai.all_messages",
    "final_result",
    "tool_arguments",
    "input",
    "output",
    "lk.chat_ctx",
    "gen_ai.prompt_json",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.prompt.name",
    "tool.parameters",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "role",
                    "content",
                    "parts",
                    "type",
                    "text",
                    "tool_calls",
                    "id",
                    "function",
                    "message",
                    "messages",
                    "choices",
                    "name",
                    "arguments",
                    "input",
                    "model",
                    "contents",
                    "items",
                    "output",
                    "event.name",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
values = (
    json_values
    | json_values.map(json.dumps)
    | json_values.map(lambda v: json.dumps(json.dumps(v)))
    | json_values.map(lambda v: json.dumps(v)[:7])
    | st.binary(max_size=16)
)
flattened_keys = st.builds(
    lambda prefix, index, rest: f"{prefix}.{index}.{rest}",
    st.sampled_from(
        [
            "llm.input_messages",
            "llm.output_messages",
            "gen_ai.prompt",
            "gen_ai.completion",
            "llm.prompts",
            "llm.choices",
        ]
    ),
    st.integers(min_value=0, max_value=10**12) | st.text(string.digits + "a.", max_size=4),
    st.sampled_from(
        [
            "message.role",
            "message.content",
            "role",
            "content",
            "message.tool_calls.0.tool_call.id",
            "message.contents.1.message_content.type",
            "tool_calls.99999999.name",
            "a" + ".b" * 40,
            "",
        ]
    ),
)
attribute_dicts = st.dictionaries(
    st.sampled_from(KNOWN_KEYS) | flattened_keys | st.text(max_size=10),
    values,
    max_size=8,
)
event_names = st.sampled_from(
    [
        "gen_ai.user.message",
        "gen_ai.choice",
        "gen_ai.client.inference.operation.details",
        "gen_ai.content.prompt",
        "gen_ai.x.y.message",
        "exception",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    attributes=attribute_dicts,
    events=st.lists(
        st.builds(
            SpanEvent,
            name=event_names,
            time_ns=st.integers(0, 10),
            attributes=attribute_dicts,
        ),
        max_size=3,
    ),
    kind=st.sampled_from(SpanKind.ALL),
    parent=st.sampled_from(["", "00f067aa0ba902b7"]),
)
def test_random_attributes_never_raise(attributes, events, kind, parent):
    span = make_span(attributes, events=events, parent=parent)
    _, _, consumed = extract_io(span, kind)
    assert consumed <= set(attributes)


@settings(max_examples=200, deadline=None)
@given(
    records=st.lists(
        st.builds(
            log,
            name=event_names,
            body=values,
            attributes=attribute_dicts,
            time_ns=st.integers(0, 10),
        ),
        max_size=4,
    )
)
def test_random_log_events_never_raise(records):
    messages_from_log_events(records)


def test_deeply_nested_json_does_not_raise():
    deep = "[" * 5000 + "]" * 5000
    nested = json.dumps({"model": "m", "input": [{"role": "user", "content": [[[[[]]]]]}]})
    span = make_span({"input.value": deep, "output.value": nested, "gen_ai.input.messages": deep})
    assert extract_io(span, LLM)[0] == deep
