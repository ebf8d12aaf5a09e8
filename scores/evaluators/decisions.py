"""Pure: the decisions of an LLM-as-judge evaluator that need no database or network.

- which runs it samples (a hash of the evaluator and the trace id, so a task delivered twice, or
  a run found again, always decides the same);
- what it sends the judge (a fixed system message asking for JSON, then the rendered rubric);
- how it reads the answer (a verdict it cannot read is an error, never a score);
- when a failed call is tried again, and whether one more call may start under the daily cap.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from scores.values import score_number

BINARY, SCALE = "binary", "scale"  # Evaluator.VerdictType values
SCALE_MIN, SCALE_MAX = 0, 10
MAX_REASON_CHARS = 10_000  # scores.services.MAX_EXPLANATION

_BUCKETS = 10_000  # sample rates have two decimals: 0.01% steps


def sampled(evaluator_id: int, trace_id: str, rate: Decimal) -> bool:
    """True when the run falls in the evaluator's sample. Each evaluator hashes with its own id,
    so two evaluators at 10% grade different runs, and raising a rate keeps every run already in."""
    digest = hashlib.sha256(f"{evaluator_id}:{trace_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % _BUCKETS
    return bucket < rate * (_BUCKETS // 100)


SYSTEM_PROMPTS = {
    BINARY: (
        "You are an impartial evaluator of an AI agent's run. Grade the run described in the user "
        "message strictly by the rubric it contains. Answer with a JSON object and nothing else: "
        '{"verdict": "pass" or "fail", "reason": "one or two sentences explaining the verdict"}'
    ),
    SCALE: (
        "You are an impartial evaluator of an AI agent's run. Grade the run described in the user "
        "message strictly by the rubric it contains, from 0 (worst) to 10 (best). Answer with a JSON "
        'object and nothing else: {"score": an integer from 0 to 10, "reason": "one or two sentences '
        'explaining the score"}'
    ),
}


def chat_request(*, model: str, verdict_type: str, prompt: str) -> dict[str, Any]:
    """The body of the POST to /chat/completions. No temperature or token limit: reasoning
    models refuse some values of both, and the answer is short anyway."""
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPTS[verdict_type]},
            {"role": "user", "content": prompt},
        ],
        "response_format": {"type": "json_object"},
    }


class VerdictError(ValueError):
    """The judge answered, but not with a verdict we can read."""


@dataclass(frozen=True, slots=True)
class Verdict:
    value: float  # 1 or 0 (binary), 0-10 (scale)
    label: str  # "pass" / "fail" (binary), "" (scale)
    reason: str


def parse_verdict(verdict_type: str, content: str) -> Verdict:
    answer = _json_object(content)
    reason = answer.get("reason", "")
    reason = reason if isinstance(reason, str) else json.dumps(reason, ensure_ascii=False)
    reason = reason.strip()[:MAX_REASON_CHARS]
    if verdict_type == BINARY:
        raw = answer.get("verdict")
        folded = raw.strip().lower() if isinstance(raw, str) else raw
        if folded in ("pass", True):
            return Verdict(1.0, "pass", reason)
        if folded in ("fail", False):
            return Verdict(0.0, "fail", reason)
        raise VerdictError(f'"verdict" must be "pass" or "fail", got {_shown(raw)}')
    raw = answer.get("score")
    # true/false is not a grade from 0 to 10: as 1 or 0 it would record about the opposite of
    # what a judge answering `true` meant, so it is unreadable like any other non-number (the
    # scores API likewise refuses true/false for a numeric score).
    number = None if isinstance(raw, bool) else score_number(raw)
    if number is None:
        raise VerdictError(f'"score" must be a number from {SCALE_MIN} to {SCALE_MAX}, got {_shown(raw)}')
    if not SCALE_MIN <= number <= SCALE_MAX:
        raise VerdictError(f'"score" {_shown(raw)} is outside {SCALE_MIN}-{SCALE_MAX}')
    return Verdict(number, "", reason)


def _json_object(content: str) -> dict[str, Any]:
    """The answer as a JSON object. A Markdown code fence around it is tolerated (models without
    JSON mode add one); any other text is not."""
    text = content.strip()
    if text.startswith("```") and text.endswith("```") and len(text) > 6:
        text = text[3:-3].strip()
        text = text[4:].lstrip() if text[:4].lower() == "json" else text
    try:
        answer = json.loads(text)
    except ValueError:
        raise VerdictError(f"the judge's answer is not JSON: {_shown(content)}") from None
    if not isinstance(answer, dict):
        raise VerdictError(f"the judge's answer is not a JSON object: {_shown(content)}")
    return answer


def _shown(value: Any, limit: int = 200) -> str:
    """A value quoted as JSON (so "" and null read differently), cut for an error message."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else f"{text[:limit]}…"


# --- retries and the daily cap -------------------------------------------------------------

MAX_ATTEMPTS = 5
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(minutes=15)


def retry_delay(attempt: int, retry_after: float | None) -> timedelta:
    """When to try again after the `attempt`-th try failed for a transient reason: what the
    judge asked for (Retry-After), else 30 s, 1 min, 2 min… both capped at 15 minutes."""
    if retry_after is not None:
        return min(timedelta(seconds=max(retry_after, 0)), MAX_BACKOFF)
    doublings = min(max(attempt - 1, 0), 10)
    return min(FIRST_BACKOFF * (1 << doublings), MAX_BACKOFF)


class Admission:
    """Whether one more judge call of an evaluator may start, given today's spend, the cap, and
    the calls already started in this pass. Calls run in parallel, so their cost is not known
    when the next one starts: each call in flight counts at the cost of the evaluator's last
    priced call. With no such call yet, one call goes alone and teaches the estimate. With exact
    estimates this admits exactly the calls a one-at-a-time loop would."""

    def __init__(self, *, spent: Decimal, cap: Decimal, estimate: Decimal | None) -> None:
        self.spent, self.cap, self.estimate = spent, cap, estimate
        self.in_flight = 0

    @property
    def over_cap(self) -> bool:
        """Today's spend has reached the cap: skip, do not call."""
        return self.spent >= self.cap

    def admit(self) -> bool:
        """Start one more call now? False means "not in this wave", not "skip"."""
        if self.over_cap:
            return False
        if self.estimate is None and self.in_flight:
            return False
        if self.spent + (self.estimate or Decimal(0)) * self.in_flight >= self.cap:
            return False
        self.in_flight += 1
        return True
