"""A deterministic fake LLM provider (OpenAI, Anthropic and Gemini wire formats) for tests.

Runs a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 in a background thread::

    with FakeLLMServer() as llm:
        client = openai.OpenAI(base_url=f"{llm.url}/v1", api_key="sk-test")
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        assert llm.requests[0].path == "/v1/chat/completions"

Endpoints: ``POST /v1/chat/completions`` (plain and SSE streaming, with
``stream_options.include_usage``), ``POST /v1/responses`` (plain and streaming),
``POST /v1/embeddings``, Anthropic's ``POST /v1/messages`` (plain and streaming) and
Gemini's ``POST /v1beta/models/{model}:generateContent`` and
``:streamGenerateContent`` (SSE with ``?alt=sse``; any ``.../models/{model}:...`` path,
so Vertex-style paths and other API versions answer too). For Gemini the model comes
from the path, function calls are ``functionCall`` parts (without an ``id``, as the
Gemini API sends them), a tool result is read from the trailing ``functionResponse``
part (its ``response`` object: a single string value such as ``{"result": ...}`` or
``{"error": ...}`` is used as is, anything else as JSON), and the system instruction
counts as one item. A Gemini stream sends text in several chunks, a function call in
one; every chunk carries ``usageMetadata`` but only the last one is complete (the
earlier ones have the prompt counts only), as Gemini does: take the last, never sum.

The scripted reply (``weather_script``, replaceable through ``script=``):

* the last message is a tool result -> final text that quotes the result;
* the last user message mentions "weather" and tools are offered -> one call
  to the *first* tool, with JSON arguments ``{<its first parameter>: <city>}``,
  the city taken from "... in <City>" (default "Paris");
* otherwise -> ``default_text``.

A model name containing "error" fails: HTTP 500, 429 or 529 (Anthropic's "overloaded") if it
also contains that number, else HTTP 400, with the provider's error body (Gemini's is
``{"error": {"code": 400, "message": ..., "status": "INVALID_ARGUMENT"}}``, ``INTERNAL`` for 500,
``RESOURCE_EXHAUSTED`` for 429). Clients retry 429s and 5xx, so set ``max_retries=0`` when using it.

Token usage is a pure function of the request (see ``usage_for``), so a test can
assert exact numbers. ``n`` counts the conversation items sent (system prompt
included):

* OpenAI: prompt = 100 + 10n, of which cached = 10n; completion = 25 for a
  tool call, 40 for text, of which reasoning = 5; total = prompt + completion.
* Anthropic: input = 100 + 10n (excluding cache, as Anthropic reports it),
  cache_read = 30n, cache_creation = 7; output = 25 / 40.
* Gemini (``usageMetadata``): promptTokenCount = 100 + 10n, of which
  cachedContentTokenCount = 10n; candidatesTokenCount = 25 for a function call,
  40 for text; thoughtsTokenCount = 5, reported *outside* candidates (unlike
  OpenAI's reasoning tokens, which are part of completion); totalTokenCount =
  prompt + candidates + thoughts. Also promptTokensDetails (and
  cacheTokensDetails) by modality, all TEXT.
* Embeddings: prompt = total = 8 per input string.

Every request is kept in ``requests`` with the usage that was returned.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from tests.fakes.replies import reply

JSON = dict[str, Any]

CREATED = 1_767_225_600  # 2026-01-01T00:00:00Z: fixed so replies are byte-stable.


@dataclass(frozen=True)
class Turn:
    """What the script needs to know about a request, whatever the wire format."""

    api: str  # "chat", "responses", "anthropic" or "gemini"
    model: str
    n_items: int
    last_user_text: str
    tool_result: str | None  # content of the trailing tool result, if the request ends with one
    tool_names: list[str]
    first_tool_param: str


@dataclass(frozen=True)
class ToolCall:
    call_id: str
    name: str
    arguments: JSON


@dataclass(frozen=True)
class Reply:
    text: str | None = None
    tool_call: ToolCall | None = None


Script = Callable[[Turn, int], Reply]


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: JSON
    status: int = 0
    stream: bool = False
    usage: JSON | None = None  # the usage object the server returned
    reply: Reply | None = None


def weather_script(turn: Turn, seq: int, *, default_text: str = "Hello from the fake LLM.") -> Reply:
    if turn.tool_result is not None:
        return Reply(text=f"Here is what I found: {turn.tool_result}")
    if turn.tool_names and "weather" in turn.last_user_text.lower():
        match = re.search(r"\bin ([A-Z][\w-]*)", turn.last_user_text)
        city = match.group(1) if match else "Paris"
        prefix = "toolu" if turn.api == "anthropic" else "call"
        return Reply(
            tool_call=ToolCall(
                call_id=f"{prefix}_{seq:04d}",
                name=turn.tool_names[0],
                arguments={turn.first_tool_param: city},
            )
        )
    return Reply(text=default_text)


def usage_for(api: str, n_items: int, reply: Reply) -> JSON:
    output = 25 if reply.tool_call else 40
    if api == "anthropic":
        return {
            "input_tokens": 100 + 10 * n_items,
            "output_tokens": output,
            "cache_read_input_tokens": 30 * n_items,
            "cache_creation_input_tokens": 7,
        }
    prompt, cached, reasoning = 100 + 10 * n_items, 10 * n_items, 5
    if api == "gemini":
        return {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output + reasoning,
            "cachedContentTokenCount": cached,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
            "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": cached}],
            "thoughtsTokenCount": reasoning,
        }
    if api == "responses":
        return {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": prompt + output,
        }
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


class FakeLLMServer:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        script: Script | None = None,
        default_text: str = "Hello from the fake LLM.",
    ) -> None:
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._seq = 0
        self._script: Script = script or (lambda turn, seq: weather_script(turn, seq, default_text=default_text))
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeLLMServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _record(self, request: ReceivedRequest) -> int:
        with self._lock:
            self.requests.append(request)
            self._seq += 1
            return self._seq

    def _reply(self, turn: Turn, seq: int) -> Reply:
        return self._script(turn, seq)


# --- request parsing -------------------------------------------------------------


def _text_of(content: Any) -> str:
    """Flatten OpenAI/Anthropic content (string or list of parts) to text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif "content" in part:
                    parts.append(_text_of(part["content"]))
            elif isinstance(part, str):
                parts.append(part)
        return " ".join(parts)
    return ""


def _first_param(schema: Any) -> str:
    if isinstance(schema, dict):
        required = schema.get("required") or []
        if required:
            return str(required[0])
        properties = schema.get("properties") or {}
        if properties:
            return str(next(iter(properties)))
    return "city"


def _chat_turn(body: JSON) -> Turn:
    messages: list[JSON] = body.get("messages") or []
    tools: list[JSON] = body.get("tools") or []
    functions = [t.get("function", {}) for t in tools]
    last = messages[-1] if messages else {}
    users = [m for m in messages if m.get("role") == "user"]
    return Turn(
        api="chat",
        model=str(body.get("model", "")),
        n_items=len(messages),
        last_user_text=_text_of(users[-1].get("content")) if users else "",
        tool_result=_text_of(last.get("content")) if last.get("role") in ("tool", "function") else None,
        tool_names=[str(f.get("name")) for f in functions],
        first_tool_param=_first_param(functions[0].get("parameters")) if functions else "city",
    )


def _responses_turn(body: JSON) -> Turn:
    raw_input = body.get("input") or []
    items: list[JSON] = [{"role": "user", "content": raw_input}] if isinstance(raw_input, str) else raw_input
    tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    users = [i for i in items if i.get("role") == "user"]
    last = items[-1] if items else {}
    return Turn(
        api="responses",
        model=str(body.get("model", "")),
        n_items=len(items) + (1 if body.get("instructions") else 0),
        last_user_text=_text_of(users[-1].get("content")) if users else "",
        tool_result=_text_of(last.get("output")) if last.get("type") == "function_call_output" else None,
        tool_names=[str(t.get("name")) for t in tools],
        first_tool_param=_first_param(tools[0].get("parameters")) if tools else "city",
    )


def _anthropic_turn(body: JSON) -> Turn:
    messages: list[JSON] = body.get("messages") or []
    tools: list[JSON] = body.get("tools") or []
    tool_result = None
    last_user_text = ""
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        blocks = content if isinstance(content, list) else []
        results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
        if not results:
            last_user_text = _text_of(content)
    if messages and messages[-1].get("role") == "user":
        content = messages[-1].get("content")
        blocks = content if isinstance(content, list) else []
        results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
        if results:
            tool_result = _text_of(results[-1].get("content"))
    return Turn(
        api="anthropic",
        model=str(body.get("model", "")),
        n_items=len(messages) + (1 if body.get("system") else 0),
        last_user_text=last_user_text,
        tool_result=tool_result,
        tool_names=[str(t.get("name")) for t in tools],
        first_tool_param=_first_param(tools[0].get("input_schema")) if tools else "city",
    )


GEMINI_PATH = re.compile(r"/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$")


def _gemini_response_text(response: Any) -> str:
    """A functionResponse's ``response`` object as the text a model would read."""
    if isinstance(response, dict) and len(response) == 1:
        (value,) = response.values()
        if isinstance(value, str):
            return value
    return response if isinstance(response, str) else json.dumps(response)


def _gemini_turn(body: JSON, model: str) -> Turn:
    """Gemini's JSON takes camelCase or snake_case field names (google-genai sends parameters_json_schema)."""
    contents: list[JSON] = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    declarations: list[JSON] = [
        d
        for tool in body.get("tools") or []
        for d in (tool.get("functionDeclarations") or tool.get("function_declarations") or [])
        if isinstance(d, dict)
    ]
    last_user_text = ""
    for content in contents:
        parts = [p for p in content.get("parts") or [] if isinstance(p, dict)]
        texts = [p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")]
        if content.get("role", "user") == "user" and texts:
            last_user_text = " ".join(texts)
    tool_result = None
    if contents:
        last_parts = [p for p in contents[-1].get("parts") or [] if isinstance(p, dict)]
        responses = [
            p.get("functionResponse") or p["function_response"]
            for p in last_parts
            if isinstance(p.get("functionResponse") or p.get("function_response"), dict)
        ]
        if responses:
            tool_result = _gemini_response_text(responses[-1].get("response"))
    first = declarations[0] if declarations else {}
    return Turn(
        api="gemini",
        model=model,
        n_items=len(contents) + (1 if body.get("systemInstruction") or body.get("system_instruction") else 0),
        last_user_text=last_user_text,
        tool_result=tool_result,
        tool_names=[str(d.get("name")) for d in declarations],
        first_tool_param=_first_param(
            first.get("parameters") or first.get("parametersJsonSchema") or first.get("parameters_json_schema")
        ),
    )


# --- response bodies -------------------------------------------------------------


def _chat_completion(turn: Turn, reply: Reply, seq: int, usage: JSON) -> JSON:
    message: JSON = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool_call:
        message["tool_calls"] = [_chat_tool_call(reply.tool_call)]
    return {
        "id": f"chatcmpl-fake{seq:04d}",
        "object": "chat.completion",
        "created": CREATED,
        "model": turn.model,
        "system_fingerprint": "fp_fake",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if reply.tool_call else "stop",
            }
        ],
        "usage": usage,
    }


def _chat_tool_call(call: ToolCall) -> JSON:
    return {
        "id": call.call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
    }


def _chat_chunks(turn: Turn, reply: Reply, seq: int, usage: JSON, *, include_usage: bool) -> Iterator[JSON]:
    base = {
        "id": f"chatcmpl-fake{seq:04d}",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": turn.model,
        "system_fingerprint": "fp_fake",
    }

    def chunk(delta: JSON, finish_reason: str | None = None) -> JSON:
        choice = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        return {**base, "choices": [choice]} | ({"usage": None} if include_usage else {})

    yield chunk({"role": "assistant", "content": "" if reply.text is not None else None})
    if reply.tool_call:
        call = reply.tool_call
        head = {
            "index": 0,
            "id": call.call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        yield chunk({"tool_calls": [head]})
        for piece in _split(json.dumps(call.arguments)):
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        yield chunk({}, "tool_calls")
    else:
        for piece in _split(reply.text or ""):
            yield chunk({"content": piece})
        yield chunk({}, "stop")
    if include_usage:
        yield {**base, "choices": [], "usage": usage}


def _response_output(reply: Reply, seq: int) -> list[JSON]:
    if reply.tool_call:
        call = reply.tool_call
        return [
            {
                "type": "function_call",
                "id": f"fc_fake{seq:04d}",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": json.dumps(call.arguments),
                "status": "completed",
            }
        ]
    return [
        {
            "type": "message",
            "id": f"msg_fake{seq:04d}",
            "role": "assistant",
            "status": "completed",
            "content": [
                {
                    "type": "output_text",
                    "text": reply.text or "",
                    "annotations": [],
                    "logprobs": [],
                }
            ],
        }
    ]


def _response(body: JSON, turn: Turn, reply: Reply, seq: int, usage: JSON | None, status: str) -> JSON:
    return {
        "id": f"resp_fake{seq:04d}",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "model": turn.model,
        "instructions": body.get("instructions"),
        "output": _response_output(reply, seq) if status == "completed" else [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "temperature": body.get("temperature", 1.0),
        "top_p": body.get("top_p", 1.0),
        "max_output_tokens": body.get("max_output_tokens"),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "text": {"format": {"type": "text"}},
        "truncation": "disabled",
        "metadata": body.get("metadata") or {},
        "store": body.get("store", True),
        "error": None,
        "incomplete_details": None,
        "usage": usage,
    }


def _response_events(body: JSON, turn: Turn, reply: Reply, seq: int, usage: JSON) -> Iterator[JSON]:
    yield {
        "type": "response.created",
        "response": _response(body, turn, reply, seq, None, "in_progress"),
    }
    yield {
        "type": "response.in_progress",
        "response": _response(body, turn, reply, seq, None, "in_progress"),
    }
    for index, item in enumerate(_response_output(reply, seq)):
        if item["type"] == "function_call":
            yield {
                "type": "response.output_item.added",
                "output_index": index,
                "item": {**item, "arguments": "", "status": "in_progress"},
            }
            for piece in _split(item["arguments"]):
                yield {
                    "type": "response.function_call_arguments.delta",
                    "output_index": index,
                    "item_id": item["id"],
                    "delta": piece,
                }
            yield {
                "type": "response.function_call_arguments.done",
                "output_index": index,
                "item_id": item["id"],
                "arguments": item["arguments"],
            }
        else:
            text = item["content"][0]["text"]
            empty_part = {
                "type": "output_text",
                "text": "",
                "annotations": [],
                "logprobs": [],
            }
            yield {
                "type": "response.output_item.added",
                "output_index": index,
                "item": {**item, "content": [], "status": "in_progress"},
            }
            yield {
                "type": "response.content_part.added",
                "output_index": index,
                "item_id": item["id"],
                "content_index": 0,
                "part": empty_part,
            }
            for piece in _split(text):
                yield {
                    "type": "response.output_text.delta",
                    "output_index": index,
                    "item_id": item["id"],
                    "content_index": 0,
                    "delta": piece,
                    "logprobs": [],
                }
            yield {
                "type": "response.output_text.done",
                "output_index": index,
                "item_id": item["id"],
                "content_index": 0,
                "text": text,
                "logprobs": [],
            }
            yield {
                "type": "response.content_part.done",
                "output_index": index,
                "item_id": item["id"],
                "content_index": 0,
                "part": item["content"][0],
            }
        yield {"type": "response.output_item.done", "output_index": index, "item": item}
    yield {
        "type": "response.completed",
        "response": _response(body, turn, reply, seq, usage, "completed"),
    }


def _anthropic_content(reply: Reply) -> list[JSON]:
    if reply.tool_call:
        call = reply.tool_call
        return [
            {
                "type": "tool_use",
                "id": call.call_id,
                "name": call.name,
                "input": call.arguments,
            }
        ]
    return [{"type": "text", "text": reply.text or ""}]


def _anthropic_message(turn: Turn, reply: Reply, seq: int, usage: JSON) -> JSON:
    return {
        "id": f"msg_fake{seq:04d}",
        "type": "message",
        "role": "assistant",
        "model": turn.model,
        "content": _anthropic_content(reply),
        "stop_reason": "tool_use" if reply.tool_call else "end_turn",
        "stop_sequence": None,
        "usage": {**usage, "service_tier": "standard"},
    }


def _anthropic_events(turn: Turn, reply: Reply, seq: int, usage: JSON) -> Iterator[tuple[str, JSON]]:
    start = _anthropic_message(turn, reply, seq, {**usage, "output_tokens": 1})
    yield (
        "message_start",
        {
            "type": "message_start",
            "message": {**start, "content": [], "stop_reason": None},
        },
    )
    block = _anthropic_content(reply)[0]
    if block["type"] == "tool_use":
        yield (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {**block, "input": {}},
            },
        )
        for piece in _split(json.dumps(block["input"])):
            yield (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                },
            )
    else:
        yield (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        )
        for piece in _split(block["text"]):
            yield (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    delta = {
        "stop_reason": "tool_use" if reply.tool_call else "end_turn",
        "stop_sequence": None,
    }
    yield "message_delta", {"type": "message_delta", "delta": delta, "usage": usage}
    yield "message_stop", {"type": "message_stop"}


def _gemini_parts(reply: Reply) -> list[JSON]:
    if reply.tool_call:
        return [{"functionCall": {"name": reply.tool_call.name, "args": reply.tool_call.arguments}}]
    return [{"text": reply.text or ""}]


def _gemini_response(turn: Turn, seq: int, parts: list[JSON], usage: JSON, finish: bool) -> JSON:
    candidate: JSON = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = "STOP"
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": turn.model,
        "responseId": f"fake-gemini-{seq:04d}",
    }


def _gemini_chunks(turn: Turn, reply: Reply, seq: int, usage: JSON) -> Iterator[JSON]:
    """Text in pieces, a function call whole; only the last chunk has the complete usage."""
    partial = {
        "promptTokenCount": usage["promptTokenCount"],
        "totalTokenCount": usage["promptTokenCount"],
        "promptTokensDetails": usage["promptTokensDetails"],
    }
    pieces = [_gemini_parts(reply)] if reply.tool_call else [[{"text": p}] for p in _split(reply.text or "")]
    for index, parts in enumerate(pieces):
        last = index == len(pieces) - 1
        yield _gemini_response(turn, seq, parts, usage if last else partial, last)


def _embeddings(body: JSON) -> tuple[JSON, JSON]:
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, (str, int)) else list(raw or [])
    usage = {"prompt_tokens": 8 * len(inputs), "total_tokens": 8 * len(inputs)}
    data = []
    for index, item in enumerate(inputs):
        vector = [round(((len(str(item)) + i) % 7) / 7, 4) for i in range(8)]
        embedding: Any = vector
        if body.get("encoding_format") == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return {
        "object": "list",
        "data": data,
        "model": body.get("model", ""),
        "usage": usage,
    }, usage


def _split(text: str, size: int = 12) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


_ERRORS = {  # status -> (OpenAI type and message, Anthropic type, Gemini status)
    500: ("server_error", "The server had an error while processing your request.", "api_error", "INTERNAL"),
    429: ("rate_limit_exceeded", "Rate limit reached for requests.", "rate_limit_error", "RESOURCE_EXHAUSTED"),
    529: ("server_error", "Overloaded", "overloaded_error", "UNAVAILABLE"),
}


def _error(api: str, model: str) -> tuple[int, JSON]:
    status = next((code for code in _ERRORS if str(code) in model), 400)
    if status in _ERRORS:
        openai_type, message, anthropic_type, gemini_status = _ERRORS[status]
    else:
        openai_type, anthropic_type, gemini_status = (
            "invalid_request_error",
            "invalid_request_error",
            "INVALID_ARGUMENT",
        )
        message = f"The model `{model}` does not exist or you do not have access to it."
    if api == "gemini":
        if status == 400:
            message = f"models/{model} is not found for API version v1beta, or is not supported."
        return status, {"error": {"code": status, "message": message, "status": gemini_status}}
    if api == "anthropic":
        if status == 400:
            message = f"model: {model} is not available"
        return status, {"type": "error", "error": {"type": anthropic_type, "message": message}}
    error = {"message": message, "type": openai_type, "param": None, "code": None}
    if status == 400:
        error.update(param="model", code="model_not_found")
    return status, {"error": error}


# --- HTTP plumbing ---------------------------------------------------------------


def _make_handler(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._send_json(
                HTTPStatus.NOT_FOUND,
                {
                    "error": {
                        "message": f"no route {self.path}",
                        "type": "invalid_request_error",
                    }
                },
            )

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: JSON = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {"_raw": raw.decode(errors="replace")}
            path = self.path.split("?", 1)[0]
            gemini = GEMINI_PATH.search(path)
            request = ReceivedRequest(
                method="POST",
                path=path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                stream=gemini.group("method") == "streamGenerateContent" if gemini else bool(body.get("stream")),
            )
            seq = server._record(request)
            if path.endswith("/embeddings"):
                self._embeddings(request, body)
                return
            if gemini:
                self._gemini(request, _gemini_turn(body, gemini.group("model")), seq)
                return
            parsers = {
                "/chat/completions": _chat_turn,
                "/responses": _responses_turn,
                "/messages": _anthropic_turn,
            }
            parser = next((p for suffix, p in parsers.items() if path.endswith(suffix)), None)
            if parser is None:
                request.status = HTTPStatus.NOT_FOUND
                self._send_json(
                    HTTPStatus.NOT_FOUND,
                    {
                        "error": {
                            "message": f"no route {path}",
                            "type": "invalid_request_error",
                        }
                    },
                )
                return
            turn = parser(body)
            if "error" in turn.model:
                status, error = _error(turn.api, turn.model)
                request.status = status
                self._send_json(status, error)
                return
            reply = server._reply(turn, seq)
            usage = usage_for(turn.api, turn.n_items, reply)
            request.status, request.usage, request.reply = HTTPStatus.OK, usage, reply
            if turn.api == "chat":
                if request.stream:
                    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                    if not include_usage:
                        request.usage = None
                    self._send_sse(
                        (None, c) for c in _chat_chunks(turn, reply, seq, usage, include_usage=include_usage)
                    )
                else:
                    self._send_json(HTTPStatus.OK, _chat_completion(turn, reply, seq, usage))
            elif turn.api == "responses":
                if request.stream:
                    events = _response_events(body, turn, reply, seq, usage)
                    self._send_sse((e["type"], {**e, "sequence_number": i}) for i, e in enumerate(events))
                else:
                    self._send_json(
                        HTTPStatus.OK,
                        _response(body, turn, reply, seq, usage, "completed"),
                    )
            elif request.stream:
                self._send_sse(_anthropic_events(turn, reply, seq, usage), done=False)
            else:
                self._send_json(HTTPStatus.OK, _anthropic_message(turn, reply, seq, usage))

        def _gemini(self, request: ReceivedRequest, turn: Turn, seq: int) -> None:
            if "error" in turn.model:
                status, error = _error("gemini", turn.model)
                request.status = status
                self._send_json(status, error)
                return
            reply = server._reply(turn, seq)
            usage = usage_for("gemini", turn.n_items, reply)
            request.status, request.usage, request.reply = HTTPStatus.OK, usage, reply
            if request.stream:
                self._send_sse(((None, c) for c in _gemini_chunks(turn, reply, seq, usage)), done=False)
            else:
                self._send_json(HTTPStatus.OK, _gemini_response(turn, seq, _gemini_parts(reply), usage, True))

        def _embeddings(self, request: ReceivedRequest, body: JSON) -> None:
            model = str(body.get("model", ""))
            if "error" in model:
                status, error = _error("chat", model)
                request.status = status
                self._send_json(status, error)
                return
            payload, usage = _embeddings(body)
            request.status, request.usage = HTTPStatus.OK, usage
            self._send_json(HTTPStatus.OK, payload)

        def _send_json(self, status: int, payload: JSON) -> None:
            reply(self, status, json.dumps(payload).encode(), "application/json")

        def _send_sse(self, events: Iterator[tuple[str | None, JSON]], *, done: bool = True) -> None:
            lines = []
            for name, payload in events:
                if name:
                    lines.append(f"event: {name}\n")
                lines.append(f"data: {json.dumps(payload)}\n\n")
            if done:
                lines.append("data: [DONE]\n\n")
            data = "".join(lines).encode()
            reply(self, HTTPStatus.OK, data, "text/event-stream; charset=utf-8", {"Cache-Control": "no-cache"})

    return Handler
