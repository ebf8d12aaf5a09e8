"""Langfuse-native attributes (`langfuse.*`), read the way Langfuse's own OTel intake reads them.

Source: langfuse/langfuse `packages/shared/src/server/otel/` (CONVENTIONS.md tag LF).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ingest.conventions.span_view import SpanView
from ingest.conventions.values import as_cost, as_flag
from ingest.telemetry import SpanKind

OBSERVATION_TYPE = "langfuse.observation.type"
MODEL_NAME = "langfuse.observation.model.name"
USAGE_DETAILS = "langfuse.observation.usage_details"
COST_DETAILS = "langfuse.observation.cost_details"
LEVEL = "langfuse.observation.level"
STATUS_MESSAGE = "langfuse.observation.status_message"
OBSERVATION_METADATA = "langfuse.observation.metadata"
TRACE_METADATA = "langfuse.trace.metadata"

# Rule 1 of CONVENTIONS.md (b). `event` and `span` decide SPAN: Langfuse says what it is.
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
    """One bucket of `langfuse.observation.usage_details` (a JSON object).

    Langfuse buckets are exclusive: `input` is the uncached part, next to
    `input_cached_tokens` and `input_cache_creation` (pitfall 1).
    """

    bucket: str

    def __call__(self, view: SpanView) -> Any:
        if view.get(USAGE_DETAILS) is None:  # consumed when present
            return None
        return view.peek_object(USAGE_DETAILS).get(self.bucket)


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
    """Langfuse forces a span to be the trace root with `as_root` / `is_app_root` (pitfall 3)."""
    flags = [
        as_flag(view.get("langfuse.internal.as_root")),
        as_flag(view.get("langfuse.internal.is_app_root")),
    ]
    return any(flags)
