"""Langfuse-native attributes (`langfuse.*`), read the way Langfuse's own OTel intake reads them.

Source: langfuse/langfuse `packages/shared/src/server/otel/` (docs/conventions.md, "Sources", tag LF).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ingest.conventions.span_view import SpanView
from ingest.conventions.values import as_cost, as_count, as_flag
from ingest.records import SpanKind

OBSERVATION_TYPE = "langfuse.observation.type"
MODEL_NAME = "langfuse.observation.model.name"
USAGE_DETAILS = "langfuse.observation.usage_details"
COST_DETAILS = "langfuse.observation.cost_details"
LEVEL = "langfuse.observation.level"
STATUS_MESSAGE = "langfuse.observation.status_message"
OBSERVATION_METADATA = "langfuse.observation.metadata"
TRACE_METADATA = "langfuse.trace.metadata"

# docs/conventions.md, "Span kinds", rule 1. `event` and `span` decide SPAN: Langfuse says what it is.
_OBSERVATION_KINDS = {
    "generation": SpanKind.LLM,
    "embedding": SpanKind.EMBEDDING,
    "agent": SpanKind.AGENT,
    "tool": SpanKind.TOOL,
    "chain": SpanKind.CHAIN,
    "retriever": SpanKind.RETRIEVER,
    "guardrail": SpanKind.GUARDRAIL,
    "evaluator": SpanKind.EVALUATOR,
    "event": SpanKind.SPAN,
    "span": SpanKind.SPAN,
}

# Rule 0: the Python SDK up to 3.3 exported generations as type "span"; these keys give them away.
_GENERATION_KEYS = (
    MODEL_NAME,
    "langfuse.observation.model.parameters",
    USAGE_DETAILS,
    COST_DETAILS,
    "langfuse.observation.completion_start_time",
    "langfuse.observation.prompt.name",
)
_QUIRK_SCOPE = "langfuse-sdk"
_QUIRK_LAST_VERSION = (3, 3)

_ERROR_LEVELS = frozenset({"error", "fatal", "critical"})


def kind_from_sdk_quirk(view: SpanView) -> str | None:
    """Rule 0: a "span" from langfuse-sdk ≤3.3 that carries generation keys is an LLM call."""
    if view.lower(OBSERVATION_TYPE) != "span" or view.scope != _QUIRK_SCOPE:
        return None
    if not _version_at_most(view.scope_version, _QUIRK_LAST_VERSION):
        return None
    carried = [view.has(key) for key in _GENERATION_KEYS]
    return SpanKind.LLM if any(carried) else None


def _version_at_most(version: str, last: tuple[int, int]) -> bool:
    """Unknown versions count as old: the generation keys are evidence enough."""
    parts = version.split(".")
    try:
        major_minor = (int(parts[0]), int(parts[1]) if len(parts) > 1 else 0)
    except ValueError:
        return True
    return major_minor <= last


def kind_from_observation_type(view: SpanView) -> str | None:
    """Rule 1."""
    return _OBSERVATION_KINDS.get(view.lower(OBSERVATION_TYPE))


def kind_from_model_name(view: SpanView) -> str | None:
    """Rule 11, Langfuse's "ModelBased" fallback: a model means an LLM call."""
    return SpanKind.LLM if view.has(MODEL_NAME) else None


@dataclass(frozen=True, slots=True)
class UsageDetail:
    """One bucket of `langfuse.observation.usage_details` (a JSON object), after `usage_buckets`.

    Langfuse buckets are exclusive: `input` is the uncached part, next to
    `input_cached_tokens` and `input_cache_creation` (docs/conventions.md, "Pitfalls", pitfall 1).
    """

    bucket: str

    def __call__(self, view: SpanView) -> Any:
        if view.get(USAGE_DETAILS) is None:  # consumed when present
            return None
        return view.memo(_buckets_of, lambda: _buckets_of(view)).get(self.bucket)


def _buckets_of(view: SpanView) -> dict[str, Any]:
    return usage_buckets(view.peek_object(USAGE_DETAILS))


# Langfuse's own bucket names, read as they are (docs/conventions.md, "Langfuse usage details").
BUCKETS = (
    "input", "output", "total", "input_cached_tokens", "cache_read_input_tokens",
    "input_cache_creation", "cache_creation_input_tokens", "output_reasoning_tokens",
)  # fmt: skip
_GEMINI = {  # Gemini's usage metadata, camelCase on the wire and snake_case in the Python SDK
    "prompt": ("promptTokenCount", "prompt_token_count"),
    "tool_prompt": ("toolUsePromptTokenCount", "tool_use_prompt_token_count"),
    "candidates": ("candidatesTokenCount", "candidates_token_count"),
    "cached": ("cachedContentTokenCount", "cached_content_token_count"),
    "thoughts": ("thoughtsTokenCount", "thoughts_token_count"),
    "total": ("totalTokenCount", "total_token_count"),
}


def usage_buckets(details: dict[str, Any]) -> dict[str, Any]:
    """Langfuse's exclusive buckets from `usage_details`, whether it holds Langfuse's names or a
    provider's raw usage object, as Langfuse's integrations write it (its OpenAI wrapper, or any
    code handing a provider's usage to a generation). Langfuse's own names win where both occur.

    - OpenAI chat: `prompt_tokens` includes `prompt_tokens_details.cached_tokens`, and
      `completion_tokens` includes `completion_tokens_details.reasoning_tokens`;
    - OpenAI Responses: the same with `input_tokens`/`output_tokens` and `*_tokens_details`;
    - Anthropic: `input_tokens` is the uncached part beside `cache_read_input_tokens` and
      `cache_creation_input_tokens` (those two are Langfuse bucket names too);
    - Gemini: `promptTokenCount` (+ `toolUsePromptTokenCount`) includes `cachedContentTokenCount`;
      `thoughtsTokenCount` is billed as output but reported outside `candidatesTokenCount`.
    """
    raw = _flattened(details)
    buckets: dict[str, Any] = {}
    if "prompt_tokens" in raw or "completion_tokens" in raw:
        _openai(buckets, raw, "prompt_tokens", "completion_tokens")
    elif "input_tokens_details.cached_tokens" in raw or "output_tokens_details.reasoning_tokens" in raw:
        _openai(buckets, raw, "input_tokens", "output_tokens")
    elif "input_tokens" in raw or "output_tokens" in raw:  # Anthropic, or a Responses usage without details
        buckets.update(input=raw.get("input_tokens"), output=raw.get("output_tokens"))
    elif any(key in raw for keys in _GEMINI.values() for key in keys):
        gemini = {name: _first(raw, keys) for name, keys in _GEMINI.items()}
        prompt = _sum(gemini["prompt"], gemini["tool_prompt"])
        buckets.update(
            input=_minus(prompt, gemini["cached"]),
            input_cached_tokens=gemini["cached"],
            output=gemini["candidates"],
            output_reasoning_tokens=gemini["thoughts"],
        )
    if "total_tokens" in raw:
        buckets["total"] = raw["total_tokens"]
    elif (total := _first(raw, _GEMINI["total"])) is not None:
        buckets["total"] = total
    buckets.update((key, raw[key]) for key in BUCKETS if key in raw)
    return {key: value for key, value in buckets.items() if value is not None}


def _openai(buckets: dict[str, Any], raw: dict[str, Any], input_key: str, output_key: str) -> None:
    cached = raw.get(f"{input_key}_details.cached_tokens")
    reasoning = raw.get(f"{output_key}_details.reasoning_tokens")
    buckets.update(
        input=_minus(raw.get(input_key), cached),
        input_cached_tokens=cached,
        output=_minus(raw.get(output_key), reasoning),
        output_reasoning_tokens=reasoning,
    )


def _flattened(details: dict[str, Any]) -> dict[str, Any]:
    """Nested detail objects as dotted keys (`prompt_tokens_details.cached_tokens`); dotted keys stay."""
    flat: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, dict):
            flat.update((f"{key}.{inner}", item) for inner, item in value.items())
        else:
            flat[key] = value
    return flat


def _first(raw: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((raw[key] for key in keys if raw.get(key) is not None), None)


def _sum(a: Any, b: Any) -> int | None:
    counts = [c for c in (as_count(a), as_count(b)) if c is not None]
    return sum(counts) if counts else None


def _minus(whole: Any, part: Any) -> int | None:
    """The uncached (or non-reasoning) rest; a part larger than the whole leaves the whole as it is."""
    total, piece = as_count(whole), as_count(part) or 0
    if total is None:
        return None
    return total - piece if piece <= total else total


def cost_total(view: SpanView) -> Decimal | None:
    """`cost_details.total`, else the sum of its buckets (they are disjoint; Langfuse totals them the same way)."""
    if view.get(COST_DETAILS) is None:  # consumed when present
        return None
    details = view.peek_object(COST_DETAILS)
    if "total" in details:
        return as_cost(details["total"])
    amounts = [amount for value in details.values() if (amount := as_cost(value)) is not None]
    return sum(amounts, Decimal(0)) if amounts else None


@dataclass(frozen=True, slots=True)
class MetadataValue:
    """`{prefix}.{key}` flattened, else `key` inside the JSON object `{prefix}`: both forms occur.

    The JSON container is peeked, not consumed: its other fields are still metadata.
    """

    prefix: str
    key: str
    flat_key: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "flat_key", f"{self.prefix}.{self.key}")

    def __call__(self, view: SpanView) -> Any:
        flat = view.get(self.flat_key)
        if flat not in (None, ""):
            return flat
        if self.prefix not in view.attributes:  # the common case: no such container at all
            return None
        return view.peek_object(self.prefix).get(self.key)


def is_error_level(view: SpanView) -> bool:
    """`ERROR`/`FATAL`/`CRITICAL` are errors; `WARN(ING)` is not."""
    return view.lower(LEVEL) in _ERROR_LEVELS


def is_root(view: SpanView) -> bool:
    """Langfuse forces a span to be the trace root with `as_root` / `is_app_root` (docs/conventions.md,
    "Pitfalls", pitfall 3)."""
    flags = [
        as_flag(view.get("langfuse.internal.as_root")),
        as_flag(view.get("langfuse.internal.is_app_root")),
    ]
    return any(flags)
