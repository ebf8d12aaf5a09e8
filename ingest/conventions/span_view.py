"""One door to a span's attributes, so we know which keys some rule understood.

Every attribute read goes through `SpanView.get`, which records the key. What is left
at the end is `SpanFields.unmapped`. Priority lists are sequences of `Source`s: an
attribute key, or a small function for carriers that are not one plain key (a JSON
bucket, a key gated by another key, a pattern in the span name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ingest.telemetry import RawSpan, SpanKind

T = TypeVar("T")


@dataclass(slots=True)
class SpanView:
    span: RawSpan
    # Set once classified: some carriers only mean something on one kind.
    kind: str = SpanKind.SPAN
    consumed: set[str] = field(default_factory=set)

    # RawSpan's fields are typed, but spans come from outside: each read re-checks the type.

    @property
    def attributes(self) -> dict[str, Any]:
        attributes: Any = self.span.attributes
        return attributes if isinstance(attributes, dict) else {}

    @property
    def name(self) -> str:
        return _stripped(self.span.name)

    @property
    def scope(self) -> str:
        """Instrumentation scope name, lowercased: it identifies the emitter (CONVENTIONS.md (d))."""
        return _stripped(self.span.scope_name).lower()

    @property
    def scope_version(self) -> str:
        return _stripped(self.span.scope_version)

    def get(self, key: str) -> Any:
        """The attribute's value (None when absent), and the key counts as consumed."""
        attributes = self.attributes
        if key not in attributes:
            return None
        self.consumed.add(key)
        return attributes[key]

    def peek(self, key: str) -> Any:
        """Read without consuming: for containers (metadata JSON, provider metadata) of which we
        take one field, so the rest of their content still reaches `unmapped`."""
        return self.attributes.get(key)

    def has(self, key: str) -> bool:
        """Present and not empty ("→ try next if absent/empty")."""
        return self.get(key) not in (None, "", [], {})

    def lower(self, key: str) -> str:
        """A string attribute lowercased and stripped, for case-insensitive matching; "" otherwise."""
        value = self.get(key)
        return value.strip().lower() if isinstance(value, str) else ""

    def resource(self, key: str) -> Any:
        """A resource attribute. Resource keys are not span attributes, so they never count as unmapped."""
        resource: Any = self.span.resource
        return resource.get(key) if isinstance(resource, dict) else None


def _stripped(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


Source = str | Callable[[SpanView], Any]


def read(view: SpanView, source: Source) -> Any:
    return view.get(source) if isinstance(source, str) else source(view)


def first_with_source(
    view: SpanView, sources: tuple[Source, ...], convert: Callable[[Any], T | None]
) -> tuple[T, Source] | None:
    """The first usable value in priority order, with the source that carried it.

    Every source is read, not only those up to the winner: a lower-priority duplicate of
    the same concept (dual-emitted generations) is understood, so it is not "unmapped".
    Values are never combined across sources.
    """
    found: tuple[T, Source] | None = None
    for source in sources:
        value = convert(read(view, source))
        if found is None and value is not None:
            found = (value, source)
    return found


def first(view: SpanView, sources: tuple[Source, ...], convert: Callable[[Any], T | None]) -> T | None:
    found = first_with_source(view, sources, convert)
    return None if found is None else found[0]
