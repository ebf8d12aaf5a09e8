"""Message / IO extraction: a span's input and output, whatever convention carried them.

Implements docs/conventions.md, "Messages". Pure and total: plain data in, plain data out, and odd input
never raises (SDKs truncate, double-encode and invent shapes; ingest must keep going).

LLM spans get the OTel GenAI message model, `{role, parts, name?, finish_reason?}`, so the
dashboard renders one shape. Message carriers (rules 2-6, `ai.prompt.messages`,
`pydantic_ai.all_messages`) are normalized on every span kind because they are messages by
definition; free-form carriers (`input.value`, `traceloop.entity.input`, ...) are normalized
only on LLM spans and are otherwise returned decoded but unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import methodcaller
from typing import Any

from ingest.records import LogEvent, RawSpan, SpanKind

Message = dict[str, Any]
Part = dict[str, Any]

# LF caps flattened-path reconstruction at 10,001 slots: `x.9999999.content` must not allocate.
MAX_FLATTENED_INDEX = 10_000
# Deeper flattened keys are not messages; the cap also bounds recursion in `_listify`.
_MAX_PATH_SEGMENTS = 16

_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
_INPUT_MESSAGES = "gen_ai.input.messages"
_OUTPUT_MESSAGES = "gen_ai.output.messages"
_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"

_ROLE_ALIASES = {
    "developer": "system",
    "human": "user",
    "ai": "assistant",
    "model": "assistant",  # Gemini / genkit
    "agent": "assistant",  # OpenInference's own GenAI converter maps it so
    "chatbot": "assistant",  # Cohere
    "function": "tool",
    "ipython": "tool",
}
_FINISH_ALIASES = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_calls": "tool_call",
    "tool-calls": "tool_call",
    "tool_use": "tool_call",
    "function_call": "tool_call",
    "max_tokens": "length",
    "max_output_tokens": "length",
    "content-filter": "content_filter",
    "safety": "content_filter",
    "refusal": "content_filter",
}

# Keys whose value is model or user text: JSON-looking text stays text, not a parsed object.
_TEXT_KEYS = frozenset(
    {
        "ai.response.text",
        "ai.result.text",
        "lk.input_text",
        "lk.user_transcript",
        "lk.response.text",
    }
)
_MIME_KEYS = {"input.value": "input.mime_type", "output.value": "output.mime_type"}

# docs/conventions.md, "Tool call": per-side priority chains for TOOL spans.
_TOOL_ARGUMENT_KEYS = (
    "langfuse.observation.input",
    "gen_ai.tool.call.arguments",
    "input.value",
    "tool_arguments",
    "ai.toolCall.args",
    "traceloop.entity.input",
    "gcp.vertex.agent.tool_call_args",
    "input",
    "mcp.request.argument",
    "gen_ai.tool.arguments",
    "tool.parameters",  # an OI schema more often than arguments: last resort only
)
_TOOL_RESULT_KEYS = (
    "langfuse.observation.output",
    "gen_ai.tool.call.result",
    "output.value",
    "tool_response",
    "ai.toolCall.result",
    "traceloop.entity.output",
    "gcp.vertex.agent.tool_response",
    "output",
    "mcp.response.value",
    "gen_ai.tool.message",
)

_NOT_JSON = object()


# --- decoding ---------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    """NaN/Infinity are not JSON and Postgres jsonb refuses them: treat such text as text."""
    raise ValueError(name)


# One decoder for every call: `json.loads(..., parse_constant=...)` builds a new one each time.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _loads(text: str) -> Any:
    stripped = text.lstrip()
    if not stripped or stripped[0] not in '{["-0123456789tfn':
        return _NOT_JSON
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError):
        return _NOT_JSON


def decode_value(value: Any) -> Any:
    """Parse JSON text, twice for double-encoded values; keep anything else as sent.

    Truncated JSON (`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`) is normal and stays a raw string.
    """
    value = _decode_text(value)
    if not isinstance(value, str):
        return value
    first = _loads(value)
    if first is _NOT_JSON:
        return value
    if isinstance(first, str):
        second = _loads(first)
        return first if second is _NOT_JSON else second
    return first


def _decode_text(value: Any) -> Any:
    """Bytes that are UTF-8 become text; everything else is returned unchanged."""
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value)


def _as_text(value: Any) -> str:
    """Render a non-text content value as text, without trusting it to be serializable."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return type(value).__name__


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else _as_text(value)


def _first_of(item: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = item.get(key)
        if value is not None:
            return value
    return None


# --- roles, finish reasons --------------------------------------------------------------


def normalize_role(role: Any, default: str) -> str:
    """Map SDK role spellings onto the four SC roles; unknown roles pass through lowercased."""
    if not isinstance(role, str) or not role.strip():
        return default
    lowered = role.strip().lower()
    return _ROLE_ALIASES.get(lowered, lowered)


def normalize_finish_reason(reason: Any) -> str | None:
    """SC values are stop|length|content_filter|tool_call|error; map the vendor spellings."""
    if not isinstance(reason, str) or not reason.strip():
        return None
    lowered = reason.strip().lower()
    return _FINISH_ALIASES.get(lowered, lowered)


# --- parts ------------------------------------------------------------------------------


def _text(content: str) -> Part:
    return {"type": "text", "content": content}


def _reasoning(content: str) -> Part:
    return {"type": "reasoning", "content": content}


def _tool_call(call_id: Any, name: Any, arguments: Any) -> Part:
    """A requested call; its id is the join key to the TOOL span's `gen_ai.tool.call.id`."""
    return {
        "type": "tool_call",
        "id": _str_or_none(call_id),
        "name": _str_or_none(name) or "",
        "arguments": decode_value(arguments),
    }


def _tool_call_response(call_id: Any, response: Any) -> Part:
    return {
        "type": "tool_call_response",
        "id": _str_or_none(call_id),
        "response": response,
    }


def _file(file_id: Any, modality: str) -> Part:
    return {
        "type": "file",
        "modality": modality,
        "mime_type": None,
        "file_id": _str_or_none(file_id),
    }


def _media(source: Any, modality: str, mime_type: Any = None) -> Part | None:
    """A URL becomes a `uri` part; a data URL or bare base64 becomes a `blob` part."""
    if not isinstance(source, str) or not source:
        return None
    mime = _str_or_none(mime_type)
    if source.startswith("data:"):
        header, _, data = source[5:].partition(",")
        return {
            "type": "blob",
            "modality": modality,
            "mime_type": header.split(";")[0] or mime,
            "content": data,
        }
    if "://" in source[:32]:
        return {"type": "uri", "modality": modality, "mime_type": mime, "uri": source}
    return {"type": "blob", "modality": modality, "mime_type": mime, "content": source}


def _nested_url(value: Any, key: str) -> Any:
    """Find the URL in `"url"`, `{"url"}` or OpenInference's doubled `{"image": {"url"}}`."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("url"), str):
        return value["url"]
    inner = value.get(key)
    return inner.get("url") if isinstance(inner, dict) else None


def _source_part(source: Mapping[str, Any], modality: str) -> Part | None:
    """Anthropic `source` blocks: base64, url or file."""
    kind = source.get("type")
    if kind == "base64":
        return {
            "type": "blob",
            "modality": modality,
            "mime_type": _str_or_none(source.get("media_type")),
            "content": source.get("data"),
        }
    if kind == "url":
        return _media(source.get("url"), modality)
    if kind == "file":
        return _file(source.get("file_id"), modality)
    if kind == "text" and isinstance(source.get("data"), str):
        return _text(source["data"])
    return None


def _image_part(item: Mapping[str, Any], modality: str = "image") -> Part:
    source = item.get("source")
    if isinstance(source, dict):
        return _source_part(source, modality) or dict(item)
    url = _nested_url(item.get(modality), modality)
    mime = _first_of(item, "mimeType", "mediaType", "mime_type")
    return _media(url, modality, mime) or dict(item)


def _text_part(item: Mapping[str, Any]) -> Part | None:
    content = item.get("content")
    if not isinstance(content, str):
        content = item.get("text")
    return _text(content) if isinstance(content, str) and content else None


def _reasoning_part(item: Mapping[str, Any]) -> Part:
    content = _first_of(item, "content", "thinking", "text", "reasoning")
    if content is None and isinstance(item.get("summary"), list):
        content = "\n".join(
            s["text"] for s in item["summary"] if isinstance(s, dict) and isinstance(s.get("text"), str)
        )
    if isinstance(content, list):
        content = "\n".join(p.get("text", "") if isinstance(p, dict) else _as_text(p) for p in content)
    return _reasoning("" if content is None else _as_text(content))


def _sc_tool_call_response(item: Mapping[str, Any]) -> Part:
    """The JSON schema says `response`, the SC registry example says `result`: accept both."""
    response = item["response"] if "response" in item else item.get("result")
    return _tool_call_response(item.get("id"), response)


def _openai_file(item: Mapping[str, Any]) -> Part:
    """SC `file` parts pass through; OpenAI chat and VAI file parts are converted."""
    if "file_id" in item:
        return dict(item)
    inner = item.get("file")
    if isinstance(inner, dict):
        if inner.get("file_id") is not None:
            return _file(inner["file_id"], "document")
        return _media(inner.get("file_data"), "document") or dict(item)
    mime = _first_of(item, "mediaType", "mimeType", "mime_type")
    return _media(item.get("data"), "document", mime) or dict(item)


def _input_image(item: Mapping[str, Any]) -> Part:
    if item.get("file_id") is not None:
        return _file(item["file_id"], "image")
    return _media(_nested_url(item.get("image_url"), "image_url"), "image") or dict(item)


def _input_file(item: Mapping[str, Any]) -> Part:
    if item.get("file_id") is not None:
        return _file(item["file_id"], "document")
    return _media(_first_of(item, "file_url", "file_data"), "document") or dict(item)


def _input_audio(item: Mapping[str, Any]) -> Part:
    audio = item.get("input_audio")
    if not isinstance(audio, dict):
        return dict(item)
    audio_format = audio.get("format")
    mime = f"audio/{audio_format}" if isinstance(audio_format, str) else None
    return {
        "type": "blob",
        "modality": "audio",
        "mime_type": mime,
        "content": audio.get("data"),
    }


_PART_BUILDERS: dict[str, Callable[[Mapping[str, Any]], Part | None]] = {
    # SC parts that need a touch
    "text": _text_part,
    "reasoning": _reasoning_part,
    "tool_call": lambda i: _tool_call(i.get("id"), i.get("name"), i.get("arguments")),
    "tool_call_response": _sc_tool_call_response,
    # OpenAI chat / Responses
    "input_text": _text_part,
    "output_text": _text_part,
    "summary_text": _text_part,
    "refusal": lambda i: _text(i["refusal"]) if isinstance(i.get("refusal"), str) else None,
    "image_url": lambda i: _media(_nested_url(i.get("image_url"), "image_url"), "image") or dict(i),
    "input_image": _input_image,
    "input_file": _input_file,
    "input_audio": _input_audio,
    "file": _openai_file,
    "function_call": lambda i: _tool_call(_first_of(i, "call_id", "id"), i.get("name"), i.get("arguments")),
    "function_call_output": lambda i: _tool_call_response(_first_of(i, "call_id", "id"), i.get("output")),
    # Anthropic
    "thinking": _reasoning_part,
    "tool_use": lambda i: _tool_call(i.get("id"), i.get("name"), i.get("input")),
    "tool_result": lambda i: _tool_call_response(i.get("tool_use_id"), i.get("content")),
    "image": _image_part,
    "document": lambda i: _image_part(i, "document"),
    # OpenInference
    "audio": lambda i: _image_part(i, "audio"),
    "video": lambda i: _image_part(i, "video"),
    # Vercel AI SDK
    "tool-call": lambda i: _tool_call(i.get("toolCallId"), i.get("toolName"), _first_of(i, "input", "args")),
    "tool-result": lambda i: _tool_call_response(i.get("toolCallId"), _first_of(i, "output", "result")),
}


def _untyped_part(item: Mapping[str, Any]) -> Part:
    """Gemini / ADK, Bedrock (Strands) and genkit parts carry no `type`; their key says it."""
    if isinstance(item.get("text"), str):
        return _reasoning(item["text"]) if item.get("thought") is True else _text(item["text"])
    call = _first_of(item, "function_call", "functionCall", "toolUse", "toolRequest")
    if isinstance(call, dict):
        return _tool_call(
            _first_of(call, "id", "toolUseId", "ref"),
            call.get("name"),
            _first_of(call, "args", "input", "arguments"),
        )
    response = _first_of(item, "function_response", "functionResponse", "toolResult", "toolResponse")
    if isinstance(response, dict):
        return _tool_call_response(
            _first_of(response, "id", "toolUseId", "ref"),
            _first_of(response, "response", "content", "output"),
        )
    inline = _first_of(item, "inline_data", "inlineData")
    if isinstance(inline, dict):
        mime = _first_of(inline, "mime_type", "mimeType")
        return {
            "type": "blob",
            "modality": _modality(mime),
            "mime_type": _str_or_none(mime),
            "content": inline.get("data"),
        }
    file_data = _first_of(item, "file_data", "fileData")
    if isinstance(file_data, dict):
        mime = _first_of(file_data, "mime_type", "mimeType")
        return _media(_first_of(file_data, "file_uri", "fileUri"), _modality(mime), mime) or dict(item)
    media = item.get("media")
    if isinstance(media, dict):
        mime = media.get("contentType")
        return _media(media.get("url"), _modality(mime), mime) or dict(item)
    reasoning = item.get("reasoningContent")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("reasoningText"), dict):
        return _reasoning(_as_text(reasoning["reasoningText"].get("text", "")))
    if isinstance(item.get("reasoning"), str):
        return _reasoning(item["reasoning"])
    if isinstance(item.get("content"), str):
        return _text(item["content"])
    return dict(item)


def _modality(mime: Any) -> str:
    if isinstance(mime, str):
        for modality in ("image", "audio", "video"):
            if mime.startswith(f"{modality}/"):
                return modality
    return "document"


def _unwrap(item: Mapping[str, Any], key: str) -> dict[str, Any]:
    """OpenInference nests under wrapper segments (`message.`, `message_content.`, `tool_call.`)."""
    inner = item.get(key)
    if not isinstance(inner, dict):
        return dict(item)
    return {**{k: v for k, v in item.items() if k != key}, **inner}


def _part(raw: Any) -> Part | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return _text(raw) if raw else None
    if not isinstance(raw, dict):
        return _text(_as_text(raw))
    item = _unwrap(raw, "message_content")
    kind = item.get("type")
    if not isinstance(kind, str):
        return _untyped_part(item)
    builder = _PART_BUILDERS.get(kind)
    return builder(item) if builder else item  # blob/uri/file/server_tool_call...: SC already


def _parts(value: Any) -> list[Part]:
    items = value if isinstance(value, list) else [value]
    return [part for item in items if (part := _part(item)) is not None]


_PART_KEYS = (
    "type",
    "text",
    "toolUse",
    "toolResult",
    "function_call",
    "functionCall",
    "function_response",
    "functionResponse",
    "inline_data",
    "inlineData",
    "reasoningContent",
    "toolRequest",
    "toolResponse",
    "media",
)


def _structured_content(value: Any) -> Any:
    """TL, OI and Strands sometimes JSON-encode a list of content blocks into `content`.

    Only a list of part-like objects is decoded, so a user who typed JSON keeps their text.
    """
    if not isinstance(value, str) or not value.lstrip().startswith("["):
        return value
    decoded = decode_value(value)
    if (
        isinstance(decoded, list)
        and decoded
        and all(isinstance(p, dict) and any(k in p for k in _PART_KEYS) for p in decoded)
    ):
        return decoded
    return value


# --- messages ---------------------------------------------------------------------------


def _tool_call_parts(calls: Any) -> list[Part]:
    """OpenAI `{id, type, function{name, arguments}}`, OI `tool_call.*`, TL/VAI flat forms."""
    if not isinstance(calls, list):
        return []
    parts: list[Part] = []
    for raw in calls:
        if not isinstance(raw, dict):
            continue
        call = _unwrap(raw, "tool_call")
        function = call.get("function")
        if isinstance(function, dict):
            name, arguments = function.get("name"), function.get("arguments")
        else:
            name = _first_of(call, "name", "toolName")
            arguments = _first_of(call, "arguments", "args", "input")
        call_id = _first_of(call, "id", "toolCallId", "call_id")
        if name is None and arguments is None and call_id is None:
            continue
        parts.append(_tool_call(call_id, name, arguments))
    return parts


def _function_call_parts(item: Mapping[str, Any]) -> list[Part]:
    """Legacy OpenAI `function_call` and its OpenInference flattening."""
    legacy = item.get("function_call")
    if isinstance(legacy, dict):
        return [_tool_call(None, legacy.get("name"), legacy.get("arguments"))]
    name = item.get("function_call_name")
    if name is not None:
        return [_tool_call(None, name, item.get("function_call_arguments_json"))]
    return []


def _as_tool_response(parts: list[Part], item: Mapping[str, Any], content: Any, *, event: bool) -> list[Part]:
    """A tool-role message's text is the tool's answer: one `tool_call_response` part.

    ≤1.36 events put the call id in `id`; elsewhere `id` is a message id, so only events use it.
    """
    if any(p.get("type") == "tool_call_response" for p in parts):
        return parts
    call_id = _first_of(item, "tool_call_id", "toolCallId")
    if call_id is None and event:
        call_id = item.get("id")
    texts = [p for p in parts if p.get("type") == "text"]
    if not texts and content is None and call_id is None:
        return parts
    response = content if content is not None else "".join(p["content"] for p in texts)
    return [
        _tool_call_response(call_id, response),
        *(p for p in parts if p.get("type") != "text"),
    ]


_ITEM_TYPES = frozenset({"message", "function_call", "function_call_output", "reasoning"})
_TYPE_ROLES = frozenset({"human", "ai", "system", "tool", "function", "user", "assistant", "developer"})


def _is_message_like(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    if isinstance(item.get("role"), str) or isinstance(item.get("parts"), list):
        return True
    kind = item.get("type")
    return isinstance(kind, str) and (kind in _ITEM_TYPES or (kind in _TYPE_ROLES and "content" in item))


def _message_from(
    item: Mapping[str, Any],
    default_role: str,
    *,
    json_content: bool = False,
    event: bool = False,
) -> Message:
    """One message in any supported dialect -> SC `{role, parts, name?, finish_reason?}`."""
    kind = item.get("type")
    if kind == "function_call" and "role" not in item:  # Responses API / LiveKit items
        return {"role": "assistant", "parts": _parts(item)}
    if kind == "function_call_output" and "role" not in item:
        return {"role": "tool", "parts": _parts(item)}
    if kind == "reasoning" and "role" not in item:
        return {"role": "assistant", "parts": [_reasoning_part(item)]}
    role_hint = item.get("role")
    if role_hint is None and isinstance(kind, str) and kind in _TYPE_ROLES:
        role_hint = kind  # LangChain message dicts: {"type": "human", "content": ...}
    role = normalize_role(role_hint, default_role)

    parts = _parts(item["parts"]) if isinstance(item.get("parts"), list) else []
    content = item.get("content")
    if json_content:
        content = _structured_content(content)
    content_parts = _parts(content)
    contents = item.get("contents")
    extra_parts = _parts(contents) if isinstance(contents, list) else []
    if not (isinstance(content, str) and extra_parts == [_text(content)]):  # OI may send both
        parts += content_parts
    parts += extra_parts
    parts += _tool_call_parts(item.get("tool_calls"))
    parts += _function_call_parts(item)
    if role == "tool":
        parts = _as_tool_response(parts, item, content, event=event)

    message: Message = {"role": role, "parts": parts}
    if isinstance(item.get("name"), str) and item["name"]:
        message["name"] = item["name"]
    finish = normalize_finish_reason(_first_of(item, "finish_reason", "finishReason", "stop_reason"))
    if finish:
        message["finish_reason"] = finish
    return message


def _system_message(value: Any) -> Message | None:
    """`gen_ai.system_instructions` and envelope `system` fields, in every shape seen.

    Parts `[{type, content}]` (SC), full messages `[{role: "system", parts}]` (LiteLLM,
    langfuse#15336), JSON-string elements, Anthropic blocks, Gemini Content, or plain text.
    """
    value = decode_value(value)
    if isinstance(value, str):
        return {"role": "system", "parts": [_text(value)]} if value.strip() else None
    elements = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    parts: list[Part] = []
    for raw in elements:
        element = decode_value(raw) if isinstance(raw, str) else raw
        if isinstance(element, dict) and ("role" in element or isinstance(element.get("parts"), list)):
            parts += _message_from(element, "system")["parts"]
        elif (part := _part(element)) is not None:
            parts.append(part)
    return {"role": "system", "parts": parts} if parts else None


def _with_system(messages: list[Message], system: Message | None) -> list[Message]:
    """LF `prependSystemInstructions`: add the instructions unless a system message exists."""
    if system is None or any(m.get("role") == "system" for m in messages):
        return messages
    return [system, *messages]


def _prepend_system(messages: Any, system: Message | None) -> Any:
    if system is None or messages is None:
        return messages if system is None else [system]
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return messages  # undecodable input: nothing to prepend to
    return _with_system(messages, system)


def _list_to_messages(
    values: list[Any],
    default_role: str,
    *,
    allow_text: bool,
    lenient: bool,
    json_content: bool,
) -> list[Message] | None:
    if not values:
        return None
    if allow_text and all(isinstance(v, str) for v in values):
        return [{"role": default_role, "parts": _parts(v)} for v in values]
    messages: list[Message] = []
    for value in values:
        if lenient and isinstance(value, str):
            messages.append({"role": default_role, "parts": _parts(value)})
        elif isinstance(value, dict) and (lenient or _is_message_like(value)):
            messages.append(_message_from(value, default_role, json_content=json_content))
        else:
            return None
    return messages


def _items_to_messages(items: Any, default_role: str) -> list[Message] | None:
    """Response item lists mix messages with provider-side items (web_search_call, ...)."""
    if not isinstance(items, list):
        return None
    messages = [_message_from(i, default_role) for i in items if _is_message_like(i)]
    return messages or None


def _choice_messages(choices: list[Any]) -> list[Message] | None:
    """OpenAI `choices[]` (chat `message`, legacy completion `text`) and Gemini `candidates[]`."""
    messages: list[Message] = []
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        body = _first_of(choice, "message", "content")
        if isinstance(body, dict):
            message = _message_from(body, "assistant")
        elif isinstance(choice.get("text"), str):
            message = {"role": "assistant", "parts": _parts(choice["text"])}
        else:
            continue
        finish = normalize_finish_reason(_first_of(choice, "finish_reason", "finishReason"))
        if finish:
            message["finish_reason"] = finish
        messages.append(message)
    return messages or None


def _envelope_system(envelope: Mapping[str, Any]) -> Message | None:
    config = envelope.get("config")
    config = config if isinstance(config, dict) else {}
    return _system_message(
        _first_of(
            envelope,
            "system",
            "instructions",
            "system_instruction",
            "systemInstruction",
        )
        or _first_of(config, "system_instruction", "systemInstruction")
    )


def _envelope_messages(envelope: Mapping[str, Any], default_role: str) -> list[Message] | None:
    """Request/response bodies that real SDKs put in `input.value`, `request_data`, ...

    OpenAI/Anthropic/LFR `messages`, Gemini/ADK `contents`, Responses `input`/`output`,
    VAI `prompt`, OpenAI `choices`, Gemini `candidates`, LiveKit `items`, genkit/LFR
    `message`, ADK `content`, or the envelope being a single message itself.
    """
    for key in ("messages", "contents"):
        if isinstance(envelope.get(key), list):
            found = _list_to_messages(
                envelope[key],
                default_role,
                allow_text=True,
                lenient=False,
                json_content=False,
            )
            if found is not None:
                return _with_system(found, _envelope_system(envelope))
    requested = envelope.get("input")
    if ("model" in envelope or "instructions" in envelope) and isinstance(requested, str | list):
        found = _to_messages(requested, default_role, allow_text=True)
        if found is not None:
            return _with_system(found, _envelope_system(envelope))
    prompt = envelope.get("prompt")
    if isinstance(prompt, str | list):
        found = _to_messages(prompt, default_role, allow_text=True)
        if found is not None:
            return _with_system(found, _envelope_system(envelope))
    for key in ("choices", "candidates"):
        if isinstance(envelope.get(key), list):
            return _choice_messages(envelope[key])
    for key in ("output", "items"):
        if isinstance(envelope.get(key), list):
            return _items_to_messages(envelope[key], default_role)
    if _is_message_like(envelope):
        return [_message_from(envelope, default_role)]
    body = _first_of(envelope, "message", "content")
    if isinstance(body, dict) and _is_message_like(body):
        message = _message_from(body, default_role)
        finish = normalize_finish_reason(_first_of(envelope, "finish_reason", "finishReason", "stop_reason"))
        if finish:
            message["finish_reason"] = finish
        return [message]
    return None


def _to_messages(
    value: Any,
    default_role: str,
    *,
    allow_text: bool,
    lenient: bool = False,
    json_content: bool = False,
) -> list[Message] | None:
    """Messages if `value` is recognizably messages, else None (the caller keeps it raw)."""
    if isinstance(value, str):
        return [{"role": default_role, "parts": [_text(value)]}] if allow_text and value else None
    if isinstance(value, list):
        return _list_to_messages(
            value,
            default_role,
            allow_text=allow_text,
            lenient=lenient,
            json_content=json_content,
        )
    if isinstance(value, dict):
        return _envelope_messages(value, default_role)
    return None


def _message_carrier(raw: Any, default_role: str) -> Any:
    """A value that is messages by definition: messages, or the raw value if undecodable."""
    value = decode_value(raw)
    if _absent(value) or value == [] or value == {}:
        return None
    found = _to_messages(value, default_role, allow_text=False)
    return value if found is None else found


def _llm_view(value: Any, default_role: str, llm: bool) -> Any:
    """On LLM spans, free-form IO becomes messages when it is recognizable; else unchanged."""
    if not llm or value is None:
        return value
    found = _to_messages(value, default_role, allow_text=True)
    return value if found is None else found


# --- flattened attributes ---------------------------------------------------------------


class _Tree(dict[str, Any]):
    """A node built from flattened keys, never a user value (those are left untouched)."""


def _index(segment: str) -> int | None:
    if not (segment.isascii() and segment.isdigit()) or len(segment) > 6:
        return None
    index = int(segment)
    return index if index <= MAX_FLATTENED_INDEX else None


def _path_is_capped(path: list[str]) -> bool:
    return all(_index(s) is not None for s in path if s.isascii() and s.isdigit())


def _insert(tree: _Tree, path: list[str], value: Any) -> bool:
    node = tree
    for segment in path[:-1]:
        child = node.get(segment)
        if not isinstance(child, _Tree):
            if child is not None:
                return False  # `a.b = x` and `a.b.c = y`: keep the first
            child = _Tree()
            node[segment] = child
        node = child
    if isinstance(node.get(path[-1]), _Tree):
        return False
    node[path[-1]] = value
    return True


def _listify(node: Any) -> Any:
    if not isinstance(node, _Tree):
        return node
    converted = {key: _listify(value) for key, value in node.items()}
    if converted and all(_index(key) is not None for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return dict(converted)


def _indexed_items(attributes: Mapping[str, Any], prefix: str) -> tuple[list[Any], set[str]]:
    """Rebuild `prefix.{i}.a.b` keys into a list ordered by i (PX `unflatten`).

    Only integer segments directly after the prefix count: `gen_ai.prompt.name` is not a
    message. Indices above MAX_FLATTENED_INDEX are ignored and left unconsumed.
    """
    tree, used = _indexed_tree(attributes, prefix)
    items = _listify(tree)
    return (items if isinstance(items, list) else []), used


def _indexed_tree(attributes: Mapping[str, Any], prefix: str) -> tuple[_Tree, set[str]]:
    """The tree of `_indexed_items` and the keys it used; `_shadowed_keys` needs only the keys."""
    head = prefix + "."
    tree = _Tree()
    used: set[str] = set()
    # Called a dozen times per span, nearly always for a prefix the span does not use.
    keys = [key for key in attributes if key.startswith(head)]
    for key in keys:
        path = key[len(head) :].split(".", _MAX_PATH_SEGMENTS)
        if len(path) > _MAX_PATH_SEGMENTS or _index(path[0]) is None or not _path_is_capped(path):
            continue
        if _insert(tree, path, attributes[key]):
            used.add(key)
    return tree, used


def _flattened_messages(items: list[Any], default_role: str) -> list[Message] | None:
    messages: list[Message] = []
    for item in items:
        if isinstance(item, dict):
            messages.append(_message_from(_unwrap(item, "message"), default_role, json_content=True))
        elif isinstance(item, str):
            messages.append({"role": default_role, "parts": _parts(item)})
    return messages or None


def _legacy_text_messages(items: list[Any], wrapper: str, role: str) -> list[Message] | None:
    """OI legacy completions: `llm.prompts.{i}.prompt.text` / `llm.choices.{i}.completion.text`."""
    messages: list[Message] = []
    for item in items:
        inner = item.get(wrapper) if isinstance(item, dict) else item
        text = inner.get("text") if isinstance(inner, dict) else inner
        if isinstance(text, str):
            messages.append({"role": role, "parts": _parts(text)})
    return messages or None


# --- events -----------------------------------------------------------------------------


def _event_payload(payload: Any) -> dict[str, Any]:
    """Semantic Kernel nests the whole payload as JSON in `gen_ai.event.content`."""
    if not isinstance(payload, Mapping):
        return {}
    nested = decode_value(payload.get("gen_ai.event.content"))
    if isinstance(nested, dict):
        return {**payload, **nested}
    return dict(payload)


def _choice_message(payload: Mapping[str, Any]) -> Message:
    """`gen_ai.choice`: `{index, finish_reason, message{role, content, tool_calls}}`."""
    body = decode_value(payload.get("message"))
    if isinstance(body, dict):
        message = _message_from(body, "assistant", json_content=True, event=True)
    elif body is not None:  # Strands: `message` is the JSON content-block list itself
        message = _message_from({"content": body}, "assistant", json_content=True, event=True)
    else:
        message = _message_from(payload, "assistant", json_content=True, event=True)
    finish = normalize_finish_reason(payload.get("finish_reason"))
    if finish:
        message["finish_reason"] = finish
    return message


def _semantic_kernel_messages(value: Any, role: str) -> list[Message]:
    decoded = decode_value(value)
    if _absent(decoded):
        return []
    found = _to_messages(decoded, role, allow_text=True)
    return found if found is not None else [{"role": role, "parts": [_text(_as_text(decoded))]}]


def _event_role(name: str) -> str | None:
    """`gen_ai.{role}.message`; openai-v2 also emits `gen_ai.developer.message`."""
    if not (name.startswith("gen_ai.") and name.endswith(".message")):
        return None
    middle = name[len("gen_ai.") : -len(".message")]
    return normalize_role(middle, "user") if middle and "." not in middle else None


def _legacy_event_messages(
    entries: Iterable[tuple[Any, Any]],
) -> tuple[list[Message] | None, list[Message] | None]:
    """SC ≤1.36 events (rule 4): role events are input, `gen_ai.choice` is output."""
    inputs: list[Message] = []
    outputs: list[Message] = []
    for name, raw_payload in entries:
        if not isinstance(name, str):
            continue
        payload = _event_payload(raw_payload)
        if role := _event_role(name):
            inputs.append(_message_from(payload, role, json_content=True, event=True))
        elif name == "gen_ai.choice":
            outputs.append(_choice_message(payload))
        elif name == "gen_ai.content.prompt":
            inputs += _semantic_kernel_messages(payload.get("gen_ai.prompt"), "user")
        elif name == "gen_ai.content.completion":
            outputs += _semantic_kernel_messages(payload.get("gen_ai.completion"), "assistant")
    return inputs or None, outputs or None


def _otel_messages(source: Mapping[str, Any]) -> tuple[Any, Any, set[str], set[str]]:
    """Rule 2/3 payload: input + system instructions, output, and the keys each used."""
    input_keys: set[str] = set()
    output_keys: set[str] = set()
    messages = _message_carrier(source.get(_INPUT_MESSAGES), "user")
    if messages is not None:
        input_keys.add(_INPUT_MESSAGES)
    system = _system_message(source.get(_SYSTEM_INSTRUCTIONS))
    if system is not None:
        input_keys.add(_SYSTEM_INSTRUCTIONS)
    output = _message_carrier(source.get(_OUTPUT_MESSAGES), "assistant")
    if output is not None:
        output_keys.add(_OUTPUT_MESSAGES)
    return _prepend_system(messages, system), output, input_keys, output_keys


# --- rules ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Found:
    input: Any = None
    output: Any = None
    input_keys: set[str] = field(default_factory=set)
    output_keys: set[str] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        return _absent(self.input) and _absent(self.output)

    @property
    def complete(self) -> bool:
        return not _absent(self.input) and not _absent(self.output)

    def complement(self, other: _Found) -> None:
        """Fill a missing side from a rule of the same family (e.g. OI messages + output.value)."""
        if _absent(self.input) and not _absent(other.input):
            self.input, self.input_keys = other.input, other.input_keys
        if _absent(self.output) and not _absent(other.output):
            self.output, self.output_keys = other.output, other.output_keys


Rule = Callable[[RawSpan, bool], _Found]


def _read(attributes: Mapping[str, Any], key: str) -> tuple[Any, set[str]]:
    """One carrier key, decoded by its kind (JSON, text, or by `*.mime_type`)."""
    raw = attributes.get(key)
    if _absent(raw):
        return None, set()
    mime_key = _MIME_KEYS.get(key)
    mime = attributes.get(mime_key) if mime_key else None
    if key in _TEXT_KEYS or (isinstance(mime, str) and mime.strip().lower().startswith("text/")):
        value = _decode_text(raw)
    else:
        value = decode_value(raw)
    if _absent(value):
        return None, set()
    return value, {key} | ({mime_key} if mime_key and mime_key in attributes else set())


def _read_first(attributes: Mapping[str, Any], keys: Iterable[str]) -> tuple[Any, set[str]]:
    for key in keys:
        value, used = _read(attributes, key)
        if value is not None:
            return value, used
    return None, set()


def _free_pair(span: RawSpan, llm: bool, input_keys: Iterable[str], output_keys: Iterable[str]) -> _Found:
    attributes = span.attributes
    inp, in_used = _read_first(attributes, input_keys)
    out, out_used = _read_first(attributes, output_keys)
    return _Found(_llm_view(inp, "user", llm), _llm_view(out, "assistant", llm), in_used, out_used)


def _pair_rule(input_keys: tuple[str, ...], output_keys: tuple[str, ...]) -> Rule:
    """Most carriers are an input key and an output key with the same decoding."""

    def rule(span: RawSpan, llm: bool) -> _Found:
        return _free_pair(span, llm, input_keys, output_keys)

    rule.__name__ = f"pair_{input_keys[0]}"
    return rule


def _langfuse(span: RawSpan, llm: bool) -> _Found:
    """Rule 1: explicit Langfuse IO; the root may carry the trace's IO instead."""
    input_keys: tuple[str, ...] = ("langfuse.observation.input",)
    output_keys: tuple[str, ...] = ("langfuse.observation.output",)
    if not span.parent_span_id:
        input_keys += ("langfuse.trace.input",)
        output_keys += ("langfuse.trace.output",)
    return _free_pair(span, llm, input_keys, output_keys)


def _otel_attributes(span: RawSpan, llm: bool) -> _Found:
    """Rule 2: `gen_ai.input.messages` / `gen_ai.output.messages` / system instructions."""
    return _Found(*_otel_messages(span.attributes))


def _otel_tool_call(span: RawSpan, llm: bool) -> _Found:
    """Rule 2, tool spans: arguments/result are type any (structured or a JSON string)."""
    return _free_pair(span, False, ("gen_ai.tool.call.arguments",), ("gen_ai.tool.call.result",))


def _details_event(span: RawSpan, llm: bool) -> _Found:
    """Rule 3: the `gen_ai.client.inference.operation.details` event recorded on the span."""
    for event in span.events:
        if event.name == _DETAILS_EVENT:
            inp, out, _, _ = _otel_messages(event.attributes)
            if not (_absent(inp) and _absent(out)):
                return _Found(inp, out)
    return _Found()


def _legacy_events(span: RawSpan, llm: bool) -> _Found:
    """Rule 4: SC ≤1.36 message events and Semantic Kernel content events on the span."""
    inp, out = _legacy_event_messages((event.name, event.attributes) for event in span.events)
    return _Found(inp, out)


def _openinference(span: RawSpan, llm: bool) -> _Found:
    """Rule 5: OI flattened `llm.input_messages.*` / `llm.output_messages.*` (+ legacy)."""
    attributes = span.attributes
    items, input_keys = _indexed_items(attributes, "llm.input_messages")
    inp = _flattened_messages(items, "user")
    if inp is None:
        inp, input_keys = _openinference_prompts(attributes)
    items, output_keys = _indexed_items(attributes, "llm.output_messages")
    out = _flattened_messages(items, "assistant")
    if out is None:
        items, output_keys = _indexed_items(attributes, "llm.choices")
        out = _legacy_text_messages(items, "completion", "assistant")
    return _Found(inp, out, input_keys if inp else set(), output_keys if out else set())


def _openinference_prompts(
    attributes: Mapping[str, Any],
) -> tuple[list[Message] | None, set[str]]:
    """`llm.prompts` is a string array in older OI and `llm.prompts.{i}.prompt.text` today."""
    items, used = _indexed_items(attributes, "llm.prompts")
    found = _legacy_text_messages(items, "prompt", "user")
    if found is not None:
        return found, used
    whole = decode_value(attributes.get("llm.prompts"))
    if isinstance(whole, list | str) and whole:
        found = _legacy_text_messages(whole if isinstance(whole, list) else [whole], "prompt", "user")
        if found is not None:
            return found, {"llm.prompts"}
    return None, set()


def _openllmetry(span: RawSpan, llm: bool) -> _Found:
    """Rule 6: TL flattened `gen_ai.prompt.{i}.*` / `gen_ai.completion.{i}.*` (integer i only)."""
    attributes = span.attributes
    items, input_keys = _indexed_items(attributes, "gen_ai.prompt")
    inp = _flattened_messages(items, "user")
    items, output_keys = _indexed_items(attributes, "gen_ai.completion")
    out = _flattened_messages(items, "assistant")
    return _Found(inp, out, input_keys if inp else set(), output_keys if out else set())


def _io_value(span: RawSpan, llm: bool) -> _Found:
    """`input.value` / `output.value` (OI, smolagents, BeeAI), decoded per `*.mime_type`."""
    return _free_pair(span, llm, ("input.value",), ("output.value",))


def _genkit(span: RawSpan, llm: bool) -> _Found:
    """genkit: model spans wrap messages in `{messages: [...]}` / `{message: {...}}`."""
    found = _free_pair(span, False, ("genkit:input",), ("genkit:output",))
    if llm:
        found.input = _llm_view(found.input, "user", True)
        found.output = _llm_view(found.output, "assistant", True)
        return found
    if isinstance(found.input, dict) and "messages" in found.input:
        found.input = found.input["messages"]
    if isinstance(found.output, dict) and "message" in found.output:
        found.output = found.output["message"]
    return found


def _vercel_ai(span: RawSpan, llm: bool) -> _Found:
    """Vercel AI SDK: prompt messages in, text and/or tool calls out."""
    attributes = span.attributes
    inp = _message_carrier(attributes.get("ai.prompt.messages"), "user")
    input_keys = {"ai.prompt.messages"} if inp is not None else set()
    if inp is None:
        inp, input_keys = _read_first(attributes, ("ai.prompt", "ai.toolCall.args"))
        inp = _llm_view(inp, "user", llm)
    out, output_keys = _vercel_output(attributes, llm)
    return _Found(inp, out, input_keys, output_keys)


def _vercel_output(attributes: Mapping[str, Any], llm: bool) -> tuple[Any, set[str]]:
    text, text_keys = _read_first(attributes, ("ai.response.text", "ai.result.text"))
    calls, call_keys = _read(attributes, "ai.response.toolCalls")
    if text is None:
        value, used = _read_first(attributes, ("ai.toolCall.result", "ai.response.object"))
        if value is not None:
            return _llm_view(value, "assistant", llm), used
    if calls is not None and (text is not None or llm):
        message = {
            "role": "assistant",
            "tool_calls": calls if isinstance(calls, list) else [calls],
        }
        if text is not None:
            message["content"] = text
        return _llm_view(message, "assistant", llm), text_keys | call_keys
    if text is not None:
        return _llm_view(text, "assistant", llm), text_keys
    return calls, call_keys


def _adk(span: RawSpan, llm: bool) -> _Found:
    """Google ADK: `"{}"` means "not recorded", then the tool args/response keys apply."""
    attributes = span.attributes
    request_key, response_key = (
        "gcp.vertex.agent.llm_request",
        "gcp.vertex.agent.llm_response",
    )
    found = _free_pair(span, llm, (request_key,), (response_key,))
    # The `"{}"` markers stay in the consumed keys: they are known, and hold nothing.
    found.input = None if found.input == {} else found.input
    found.output = None if found.output == {} else found.output
    if not found.empty:
        return found
    tools = _free_pair(
        span,
        False,
        ("gcp.vertex.agent.tool_call_args",),
        ("gcp.vertex.agent.tool_response",),
    )
    if not tools.empty:
        tools.input_keys |= {k for k in (request_key, response_key) if k in attributes}
    return tools


def _logfire_events(span: RawSpan, llm: bool) -> _Found:
    """Logfire `events` and PAI v1 `all_messages_events`: JSON arrays of `{"event.name": ...}`."""
    attributes = span.attributes
    for key in ("events", "all_messages_events"):
        entries = decode_value(attributes.get(key))
        if not isinstance(entries, list) or not any(isinstance(e, dict) and "event.name" in e for e in entries):
            continue
        inp, out = _legacy_event_messages((e.get("event.name"), e) for e in entries if isinstance(e, dict))
        if inp is not None or out is not None:
            return _Found(inp, out, {key} if inp else set(), {key} if out else set())
    return _free_pair(span, llm, ("prompt",), ())


def _pydantic_ai(span: RawSpan, llm: bool) -> _Found:
    """PAI run span: the whole conversation in, the final result out."""
    attributes = span.attributes
    inp = _message_carrier(attributes.get("pydantic_ai.all_messages"), "user")
    out, output_keys = _read(attributes, "final_result")
    return _Found(
        inp,
        _llm_view(out, "assistant", llm),
        {"pydantic_ai.all_messages"} if inp is not None else set(),
        output_keys,
    )


_GENERIC_RULES: tuple[Rule, ...] = (
    _genkit,
    _vercel_ai,
    _adk,
    _pair_rule(("request_data",), ("response_data",)),  # Logfire
    _logfire_events,
    _pair_rule(
        (
            "lk.input_text",
            "lk.user_transcript",
            "lk.chat_ctx",
            "lk.function_tool.arguments",
        ),
        ("lk.function_tool.output", "lk.response.text"),
    ),  # LiveKit
    _pair_rule(("mlflow.spanInputs",), ("mlflow.spanOutputs",)),
    _pair_rule(("traceloop.entity.input",), ("traceloop.entity.output",)),
    _io_value,
    _pydantic_ai,
    _pair_rule(("tool_arguments",), ("tool_response",)),  # PAI instrumentation v2 tool spans
    _pair_rule(("input",), ("output",)),  # Pipecat, LFR OpenAI-Agents function spans
    _pair_rule(("gen_ai.prompt_json",), ("gen_ai.completion_json",)),  # Cloudflare AI Gateway
    _pair_rule(("gen_ai.prompt",), ("gen_ai.completion",)),  # OTel† single blobs (Axiom, OpenRouter)
)

# (rule, same-family rules that may fill a side the rule left empty)
_CHAIN: tuple[tuple[Rule, tuple[Rule, ...]], ...] = (
    (_langfuse, ()),
    (_otel_attributes, (_details_event, _legacy_events)),
    (_otel_tool_call, ()),
    (_details_event, (_legacy_events,)),
    (_legacy_events, ()),
    (_openinference, (_io_value,)),
    (_openllmetry, ()),
    *((rule, ()) for rule in _GENERIC_RULES),
)
_MESSAGE_RULES = 7  # the first entries of _CHAIN: rules 1-6 of docs/conventions.md, "Messages"


def _shadowed_keys(attributes: Mapping[str, Any]) -> set[str]:
    """Message attributes a higher rule made redundant (dual-emitting SDKs, e.g. OI + GenAI).

    They are the same prompt in another encoding; consuming them keeps it from being stored twice.
    """
    keys = {
        k
        for k in (
            _INPUT_MESSAGES,
            _OUTPUT_MESSAGES,
            _SYSTEM_INSTRUCTIONS,
            "llm.prompts",
        )
        if k in attributes
    }
    if any(map(_is_shadowed_head, attributes)):  # rarely: one pass in C rules them all out
        for prefix in _SHADOWED_PREFIXES:
            keys |= _indexed_tree(attributes, prefix)[1]
    return keys


_SHADOWED_PREFIXES = (
    "llm.input_messages",
    "llm.output_messages",
    "llm.prompts",
    "llm.choices",
    "gen_ai.prompt",
    "gen_ai.completion",
)
_is_shadowed_head = methodcaller("startswith", tuple(f"{prefix}." for prefix in _SHADOWED_PREFIXES))


def _tool_span(span: RawSpan) -> _Found:
    """TOOL spans: the per-side argument/result chains of docs/conventions.md, "Tool call"."""
    attributes = span.attributes
    inp, input_keys = _read_first(attributes, _TOOL_ARGUMENT_KEYS)
    out, output_keys = _read_first(attributes, _TOOL_RESULT_KEYS)
    return _Found(inp, out, input_keys, output_keys)


def _run_chain(span: RawSpan, llm: bool) -> _Found:
    for position, (rule, complements) in enumerate(_CHAIN):
        found = rule(span, llm)
        if found.empty:
            continue
        for extra in complements:
            if found.complete:
                break
            found.complement(extra(span, llm))
        if position < _MESSAGE_RULES:
            found.input_keys |= _shadowed_keys(span.attributes)
        return found
    return _Found()


def extract_io(span: RawSpan, kind: str) -> tuple[Any, Any, set[str]]:
    """(input, output, consumed attribute keys) of one span, by docs/conventions.md, "Messages".

    `kind` is the internal span kind (SpanKind). Consumed keys let the caller list what nothing
    mapped without storing the prompt twice.
    """
    normalized_kind = kind.lower()
    found = _Found()
    if normalized_kind == SpanKind.TOOL:
        found = _tool_span(span)
    if found.empty:
        found = _run_chain(span, normalized_kind == SpanKind.LLM)
    return found.input, found.output, found.input_keys | found.output_keys


# --- log events -------------------------------------------------------------------------


def _log_event_name(event: LogEvent) -> Any:
    return event.name or event.attributes.get("event.name")


def _log_payload(event: LogEvent) -> dict[str, Any]:
    """Log-based events carry the payload in the body; attributes hold `gen_ai.system` etc."""
    attributes = dict(event.attributes)
    body = decode_value(event.body)
    if isinstance(body, dict):
        return {**attributes, **body}
    if body is not None:
        return {**attributes, "content": body}
    return attributes


def messages_from_log_events(events: list[LogEvent]) -> tuple[Any, Any]:
    """(input, output) messages from GenAI events that arrived as OTLP log records.

    Same rules as spans: the `...operation.details` event first (rule 3), then the ≤1.36 events
    (rule 4) for whatever side is still missing. The caller groups records by trace/span id.
    """
    ordered = sorted(events, key=lambda event: event.time_ns)
    found = _Found()
    for event in ordered:
        if _log_event_name(event) == _DETAILS_EVENT:
            inp, out, _, _ = _otel_messages(_log_payload(event))
            found.complement(_Found(inp, out))
    if not found.complete:
        inp, out = _legacy_event_messages((_log_event_name(e), _log_payload(e)) for e in ordered)
        found.complement(_Found(inp, out))
    return found.input, found.output
