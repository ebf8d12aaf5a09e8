"""Pure: an evaluator's rubric, a Django template rendered over one run as plain text.

Why Django's template language and not `str.format`: `"{input.__class__}"` reaches any
attribute of what it formats, while Django's templates refuse names starting with an underscore
and resolve only what the context holds. The engine is restricted further, because a rubric is
written by whoever holds a project key:

- no loaders and no `{% include %}`, `{% extends %}` or `{% load %}`: a rubric cannot read files;
- only a vetted set of tags and filters: `center`, `ljust`, `stringformat`, `floatformat` and
  `{% lorem %}` are left out because a large argument makes them allocate gigabytes;
- no HTML escaping: the text goes to a model, not a browser;
- the context is plain strings, dicts and the small frozen objects below, never model
  instances (a template calls methods without arguments: `{{ run.delete }}` must not exist).

What a rubric sees:

    {{ input }}       the run's input as text ("user: ..." lines for chat messages)
    {{ output }}      the run's output as text
    {{ tool_calls }}  the run's tool calls as text, one block per call; or loop over them:
                      {% for call in tool_calls %}{{ call.name }} {{ call.arguments }}
                      {{ call.result }} {{ call.error }}{% endfor %}
    {{ run.trace_id }} {{ run.name }} {{ run.agent_name }} {{ run.status }} {{ run.error }}
    {{ run.duration_ms }} {{ run.cost_usd }}

Long values are cut (each field at MAX_FIELD_CHARS, the whole prompt at MAX_PROMPT_CHARS), so
one huge run cannot make an expensive judge call.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from django.template import Context, Library, Template, TemplateSyntaxError, defaultfilters, defaulttags
from django.template.base import Lexer, TokenType
from django.template.engine import Engine

MAX_FIELD_CHARS = 20_000
MAX_TOOL_TEXT_CHARS = 2_000  # each tool call's arguments, result and error
MAX_TOOL_CALLS = 50
MAX_PROMPT_CHARS = 100_000
RUN_NAMES = ("input", "output", "tool_calls", "run")

_TAGS = (
    "if", "for", "with", "comment", "firstof", "cycle", "ifchanged", "spaceless", "verbatim",
    "templatetag", "filter", "now",
)  # fmt: skip
_FILTERS = (
    "default", "default_if_none", "length", "first", "last", "join", "lower", "upper", "title",
    "capfirst", "truncatechars", "truncatewords", "wordcount", "striptags", "cut", "slice", "yesno",
    "pluralize", "add", "date", "linenumbers", "make_list", "dictsort",
)  # fmt: skip

register = Library()  # this module is the engine's only builtin library
for _name in _TAGS:
    register.tag(_name, defaulttags.register.tags[_name])
for _name in _FILTERS:
    register.filter(_name, defaultfilters.register.filters[_name])


class RubricError(ValueError):
    pass


class _RubricEngine(Engine):
    default_builtins: ClassVar[list[str]] = []  # not Django's defaulttags/defaultfilters/loader_tags


@functools.cache
def _get_engine() -> Engine:
    return _RubricEngine(loaders=[], libraries={}, builtins=[__name__], autoescape=False)


def compile_rubric(text: str) -> Template:
    try:
        return _get_engine().from_string(text)
    except TemplateSyntaxError as exc:
        raise RubricError(f"template syntax: {exc}") from None


def check(text: str) -> None:
    """Raise RubricError unless the rubric compiles and uses at least one of the run's values
    (a rubric that never shows the judge the run would grade nothing)."""
    compile_rubric(text)
    tokens = Lexer(text).tokenize()
    used = " ".join(t.contents for t in tokens if t.token_type in (TokenType.VAR, TokenType.BLOCK))
    words = set(used.replace("|", " ").replace(".", " ").split())
    if not words & set(RUN_NAMES):
        raise RubricError("use at least one of {{ input }}, {{ output }}, {{ tool_calls }} or {{ run }}")


def render(text: str, context: Mapping[str, Any]) -> str:
    """The prompt for one run. Rendering a user's template can fail in many ways: every failure
    is a RubricError, recorded as the evaluation's error."""
    template = compile_rubric(text)
    try:
        prompt = template.render(Context(dict(context), autoescape=False))
    except Exception as exc:  # a user's template: whatever fails is the rubric's error
        raise RubricError(f"rendering failed: {type(exc).__name__}: {exc}") from None
    return clip(prompt.strip(), MAX_PROMPT_CHARS)


# --- the run as plain data --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: str
    result: str
    error: str  # "" when the call succeeded

    def __str__(self) -> str:
        lines = [f"tool {self.name or '(unnamed)'}", f"arguments: {self.arguments or '(none)'}"]
        lines.append(f"error: {self.error}" if self.error else f"result: {self.result or '(none)'}")
        return "\n".join(lines)


class ToolCalls(list[ToolCall]):
    """A list to loop over that prints as readable text, so `{{ tool_calls }}` just works."""

    omitted: int = 0

    def __str__(self) -> str:
        if not self:
            return "(no tool calls)"
        text = "\n\n".join(f"{i}. {call}" for i, call in enumerate(self, 1))
        return f"{text}\n\n… {self.omitted} more tool calls not shown" if self.omitted else text


def tool_call(name: str, arguments: Any, result: Any, error: str) -> ToolCall:
    return ToolCall(
        name=name,
        arguments=clip(as_text(arguments), MAX_TOOL_TEXT_CHARS),
        result=clip(as_text(result), MAX_TOOL_TEXT_CHARS),
        error=clip(error, MAX_TOOL_TEXT_CHARS),
    )


def tool_calls(calls: Iterable[ToolCall], total: int) -> ToolCalls:
    shown = ToolCalls(list(calls)[:MAX_TOOL_CALLS])
    shown.omitted = max(total - len(shown), 0)
    return shown


def context(*, input: Any, output: Any, calls: ToolCalls, run: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "input": clip(as_text(input), MAX_FIELD_CHARS),
        "output": clip(as_text(output), MAX_FIELD_CHARS),
        "tool_calls": calls,
        "run": {key: "" if value is None else value for key, value in run.items()},
    }


def as_text(value: Any) -> str:
    """A stored payload as a judge should read it: chat messages as "role: text" lines (the
    GenAI parts shape intake normalizes to, and the OpenAI / Anthropic shapes REST intake keeps),
    a string as itself, anything else as indented JSON."""
    if value is None or value in ("", [], {}):
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(_is_message(m) for m in value):
        return "\n\n".join(_message_text(m) for m in value)
    if _is_message(value):
        return _message_text(value)
    return _json(value)


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("role"), str) and ("parts" in value or "content" in value)


def _message_text(message: Mapping[str, Any]) -> str:
    role = message["role"]
    if isinstance(message.get("parts"), list):
        pieces = [_part_text(p) for p in message["parts"]]
    else:
        content = message.get("content")
        pieces = [_part_text(p) for p in content] if isinstance(content, list) else [as_text(content)]
        pieces += [_openai_tool_call(c) for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    return f"{role}: " + "\n".join(p for p in pieces if p)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return _json(part)
    kind = part.get("type")
    if kind == "reasoning":
        return ""  # the agent's private reasoning is not what is graded, and can be long
    if kind == "tool_call" or kind == "tool_use":
        return f"[calls tool {part.get('name', '')}: {_json(part.get('arguments', part.get('input')))}]"
    if kind in ("tool_call_response", "tool_result"):
        response = part.get("response", part.get("content"))
        return f"[tool result: {response if isinstance(response, str) else _json(response)}]"
    for key in ("content", "text"):
        if isinstance(part.get(key), str):
            return str(part[key])
    if kind in ("blob", "uri", "file", "image", "image_url"):
        return f"[{part.get('modality') or kind}{' ' + str(part['mime_type']) if part.get('mime_type') else ''}]"
    return _json(part)


def _openai_tool_call(call: Mapping[str, Any]) -> str:
    raw = call.get("function")
    function: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    return f"[calls tool {function.get('name', '')}: {function.get('arguments', '')}]"


def _json(value: Any) -> str:
    """Indented, keys sorted: PostgreSQL's jsonb reorders keys, and the judge must read the same
    prompt whatever the database (a stable prompt also caches better)."""
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    except (RecursionError, TypeError, ValueError):
        return str(value)


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… [{len(text) - limit:,} more characters cut]"
