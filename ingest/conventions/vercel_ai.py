"""Vercel AI SDK (`ai.*`, instrumentation scope `ai`), v4 to v7.

Source: vercel/ai telemetry (`ai.operationId`, `ai.usage.*`, `ai.response.*`, `ai.toolCall.*`);
Langfuse's scope-`ai` branch (docs/conventions.md, "Sources", tag VAI). Spans: wrappers `ai.generateText` /
`ai.streamText` (aggregate usage), model calls `ai.*.doGenerate` / `doStream`, tools `ai.toolCall`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.conventions.span_view import SpanView
from ingest.conventions.values import as_text
from ingest.records import SpanKind

SCOPE = "ai"
OPERATION_ID = "ai.operationId"
OPERATION_NAME = "operation.name"  # `{operationId} {functionId}`
PROVIDER_METADATA = "ai.response.providerMetadata"

# Rule 6: model calls, only when a model key is present.
_MODEL_CALLS = {
    "ai.generatetext.dogenerate": SpanKind.LLM,
    "ai.streamtext.dostream": SpanKind.LLM,
    "ai.generateobject.dogenerate": SpanKind.LLM,
    "ai.streamobject.dostream": SpanKind.LLM,
    "ai.embed.doembed": SpanKind.EMBEDDING,
    "ai.embedmany.doembed": SpanKind.EMBEDDING,
}
_MODEL_KEYS = ("ai.model.id", "gen_ai.request.model")
_TOOL_CALL = "ai.toolcall"

# AI SDK v6 added these; their presence tells v6+ (cache-inclusive `inputTokens`) from older SDKs.
V6_DETAIL_KEYS = (
    "ai.usage.inputTokenDetails.noCacheTokens",
    "ai.usage.inputTokenDetails.cacheReadTokens",
    "ai.usage.inputTokenDetails.cacheWriteTokens",
    "ai.usage.outputTokenDetails.textTokens",
    "ai.usage.outputTokenDetails.reasoningTokens",
)


def _operation(view: SpanView) -> str:
    """The operation id, lowercased: `ai.operationId` exactly, else `operation.name` without its function id."""
    operation_id = view.lower(OPERATION_ID)
    operation_name = view.lower(OPERATION_NAME)
    return operation_id or operation_name.split(" ", 1)[0]


def kind_from_model_call(view: SpanView) -> str | None:
    """Rule 6."""
    kind = _MODEL_CALLS.get(_operation(view))
    has_model = [view.has(key) for key in _MODEL_KEYS]
    return kind if kind and any(has_model) else None


def kind_from_other_operation(view: SpanView) -> str | None:
    """Rule 7: `ai.toolCall` is a tool; any other `ai.*` operation is a wrapper (CHAIN) with aggregate usage."""
    operation = _operation(view)
    if operation == _TOOL_CALL:
        return SpanKind.TOOL
    if operation.startswith("ai.") and operation not in _MODEL_CALLS:
        return SpanKind.CHAIN
    return None


def operation_name(view: SpanView) -> str | None:
    """`operation.name` without the ` {functionId}` suffix VAI appends."""
    value = as_text(view.get(OPERATION_NAME))
    if value and value.startswith("ai."):
        return value.split(" ", 1)[0]
    return value


def function_operation_name(view: SpanView) -> str | None:
    """Display name `{ai.telemetry.functionId}:{ai.operationId}`, as Langfuse shows VAI spans."""
    function_id = as_text(view.get("ai.telemetry.functionId"))
    operation_id = as_text(view.get(OPERATION_ID))
    return f"{function_id}:{operation_id}" if function_id and operation_id else None


def model_provider(view: SpanView) -> str | None:
    """`ai.model.provider`, e.g. `openai.chat` → `openai`."""
    return provider_family(view.get("ai.model.provider"))


def provider_family(value: Any) -> str | None:
    """VAI provider ids are `{provider}.{api}`; the part before the dot names the provider."""
    text = as_text(value)
    return text.split(".", 1)[0] if text else None


def _provider_id(view: SpanView) -> str:
    """The full VAI provider id (`anthropic.messages`, `vertex.anthropic.messages`, `openai.chat`)."""
    return view.lower("ai.model.provider") or view.lower("gen_ai.system")


def excludes_cache_natively(view: SpanView) -> bool:
    """Anthropic (direct, Bedrock, Vertex) and Bedrock Converse count input without cache."""
    provider_id = _provider_id(view)
    return "anthropic" in provider_id or provider_id.startswith(("amazon-bedrock", "bedrock"))


def includes_cache_natively(view: SpanView) -> bool:
    """OpenAI-shaped `prompt_tokens` and Gemini `promptTokenCount` include the cached part."""
    return _provider_id(view).startswith(("openai", "azure", "google", "xai", "deepseek"))


def is_v6(view: SpanView) -> bool:
    present = [view.has(key) for key in V6_DETAIL_KEYS]
    return any(present)


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """A count inside `ai.response.providerMetadata` (JSON), where VAI < 6 kept cache usage.

    Peeked, not consumed: the container holds more than usage.
    """

    path: tuple[str, ...]

    def __call__(self, view: SpanView) -> Any:
        if PROVIDER_METADATA not in view.attributes:
            return None
        value: Any = view.peek_object(PROVIDER_METADATA)
        for step in self.path:
            value = value.get(step) if isinstance(value, dict) else None
        return value


# Langfuse reads the same paths (`extractUsageDetails`, scope `ai`).
CACHE_READ_METADATA = (
    ProviderMetadata(("anthropic", "cacheReadInputTokens")),
    ProviderMetadata(("anthropic", "usage", "cache_read_input_tokens")),
    ProviderMetadata(("bedrock", "usage", "cacheReadInputTokens")),
    ProviderMetadata(("openai", "cachedPromptTokens")),
)
CACHE_WRITE_METADATA = (
    ProviderMetadata(("anthropic", "cacheCreationInputTokens")),
    ProviderMetadata(("anthropic", "usage", "cache_creation_input_tokens")),
    ProviderMetadata(("bedrock", "usage", "cacheWriteInputTokens")),
    ProviderMetadata(("bedrock", "usage", "cacheCreationInputTokens")),
)
