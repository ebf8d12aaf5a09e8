"""Pure: read a `gen_ai.evaluation.result` event (a span event or a log record) as a score.

The event and its attributes are the OpenTelemetry GenAI semantic conventions':
`gen_ai.evaluation.name` (required), `gen_ai.evaluation.score.value` (a number),
`gen_ai.evaluation.score.label` (e.g. "relevant", "pass"), `gen_ai.evaluation.explanation`.
An event with `error.type` set says the evaluation itself failed: it is not a score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scores.values import score_number

EVENT_NAME = "gen_ai.evaluation.result"
NAME = "gen_ai.evaluation.name"
SCORE_VALUE = "gen_ai.evaluation.score.value"
SCORE_LABEL = "gen_ai.evaluation.score.label"
EXPLANATION = "gen_ai.evaluation.explanation"
ERROR_TYPE = "error.type"
RESPONSE_ID = "gen_ai.response.id"  # names the evaluated completion when the event has no span id

# A label that is a verdict makes a boolean score (value 1 or 0), so pass rates can be counted.
PASS_LABELS = frozenset({"pass", "passed", "true"})
FAIL_LABELS = frozenset({"fail", "failed", "false"})

MAX_NAME, MAX_LABEL, MAX_EXPLANATION = 200, 200, 10_000


@dataclass(frozen=True, slots=True)
class Verdict:
    name: str
    data_type: str  # Score.DataType values: numeric, boolean, categorical
    value: float | None
    label: str
    explanation: str


def verdict(attributes: Mapping[str, Any]) -> Verdict | None:
    """The score an evaluation event carries, or None: no name, a failed evaluation, or neither
    a value nor a label."""
    name = _text(attributes.get(NAME), MAX_NAME)
    if not name or attributes.get(ERROR_TYPE):
        return None
    value = score_number(attributes.get(SCORE_VALUE))  # true/false: 1/0
    label = _text(attributes.get(SCORE_LABEL), MAX_LABEL)
    explanation = _text(attributes.get(EXPLANATION), MAX_EXPLANATION)
    folded = label.lower()
    if isinstance(attributes.get(SCORE_VALUE), bool) or (
        (folded in PASS_LABELS or folded in FAIL_LABELS) and value in (None, 0.0, 1.0)
    ):
        if value is None:
            value = 1.0 if folded in PASS_LABELS else 0.0
        return Verdict(name, "boolean", value, label, explanation)
    if value is not None:
        return Verdict(name, "numeric", value, label, explanation)
    if label:
        return Verdict(name, "categorical", None, label, explanation)
    return None


def _text(raw: Any, limit: int) -> str:
    if raw is None or isinstance(raw, dict | list):
        return ""
    return str(raw).replace("\x00", "").strip()[:limit]
