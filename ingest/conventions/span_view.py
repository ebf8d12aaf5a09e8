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

from ingest.conventions.values import as_object
from ingest.records import RawSpan, SpanKind

T = TypeVar("T")


@dataclass(slots=True)
class SpanView:
    span: RawSpan
    # Set once classified: some carriers only mean something on one kind.
    kind: str = SpanKind.SPAN
    consumed: set[str] = field(default_factory=set)
    # Taken from the span once: the ~200 reads a span gets go straight to these.
    attributes: dict[str, Any] = field(init=False)
    name: str = field(init=False)
    # Instrumentation scope name, lowercased: it identifies the emitter (docs/conventions.md,
    # "Instrumentation scopes").
    scope: str = field(init=False)
    scope_version: str = field(init=False)
    # JSON containers decoded once per span: several sources read fields of the same one.
    _objects: dict[str, dict[str, Any]] = field(init=False, default_factory=dict)
    _memo: dict[Callable[..., Any], Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.attributes = self.span.attributes
        self.name = _stripped(self.span.name)
        self.scope = _stripped(self.span.scope_name).lower()
        self.scope_version = _stripped(self.span.scope_version)

    def get(self, key: str) -> Any:
        """The attribute's value (None when absent), and the key counts as consumed."""
        value = self.attributes.get(key, _ABSENT)
        if value is _ABSENT:
            return None
        self.consumed.add(key)
        return value

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

    def peek_object(self, key: str) -> dict[str, Any]:
        """`as_object` of the attribute, without consuming it, decoded at most once per span."""
        found = self._objects.get(key)
        if found is None:
            found = self._objects[key] = as_object(self.attributes.get(key))
        return found

    def memo(self, reader: Callable[[SpanView], T], compute: Callable[[], T]) -> T:
        """`compute()`, remembered under `reader` for this span: for values several rules ask for.

        Only for readers whose result does not depend on `kind`, and whose reads are
        consumed the first time (a repeat would consume nothing new)."""
        if reader in self._memo:
            return self._memo[reader]  # type: ignore[no-any-return]
        value = self._memo[reader] = compute()
        return value

    def resource(self, key: str) -> Any:
        """A resource attribute. Resource keys are not span attributes, so they never count as unmapped."""
        resource: Any = self.span.resource
        return resource.get(key) if isinstance(resource, dict) else None


_ABSENT = object()


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
    # Hot path (~30 lists per span): after the winner a key source is only marked consumed,
    # and a function source still runs for the keys it consumes, but nothing is converted.
    # Absent values are not converted either: every `convert` maps None to None.
    attributes = view.attributes
    consumed = view.consumed
    found: tuple[T, Source] | None = None
    for source in sources:
        if isinstance(source, str):
            if source not in attributes:
                continue
            consumed.add(source)
            if found is not None:
                continue
            value = attributes[source]
        else:
            value = source(view)
            if found is not None:
                continue
        if value is not None:
            converted = convert(value)
            if converted is not None:
                found = (converted, source)
    return found


def first(view: SpanView, sources: tuple[Source, ...], convert: Callable[[Any], T | None]) -> T | None:
    found = first_with_source(view, sources, convert)
    return None if found is None else found[0]
