"""Pure: replace secrets and personal data in telemetry by `[REDACTED:kind]` before storage.

Agents put whatever they handle into their spans: the user's e-mail in a prompt, an API key
in a tool's arguments, an `Authorization` header in an HTTP span. A project that turns
redaction on (Project.redact_secrets / redact_pii) gets those rewritten here, and
`services.ingest_spans` / `services.ingest_log_events` call this before anything is written
or handed to a listener. Every intake path (OTLP/HTTP and gRPC, the JSON API, Langfuse's
exporter, logs) ends in those two functions, so nothing unredacted is ever stored.

Why hand-written patterns rather than a scanner library: detect-secrets and its kin report
findings line by line, Presidio needs an NLP model; intake needs one fast rewrite of every
string. Each rule is one precompiled regex behind a substring gate, so a string that holds
none of the gates (most of them) costs a few `in` tests; strings under MIN_LENGTH are not
looked at. Every pattern starts at a token boundary (a lookbehind) so a megabyte string is
scanned in linear time.

Redaction is idempotent (a redacted value redacts to itself) and never raises.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingest.records import LogEvent, RawSpan, SpanEvent, SpanFields

MIN_LENGTH = 6  # the shortest thing caught, an e-mail like a@b.co
SECRET_BY_NAME = "secret"  # noqa: S105  (the marker's kind, not a password)


@dataclass(frozen=True, slots=True)
class Policy:
    """What one project redacts. `pseudonym_key` keys the digest that keeps redacted user and
    session ids distinct (see `identifier`)."""

    secrets: bool = False
    pii: bool = False
    pseudonym_key: bytes = b""

    @property
    def active(self) -> bool:
        return self.secrets or self.pii


def marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# --- rules -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: str
    # The rule runs only on a string holding one of these literals, or one this test accepts: far
    # cheaper than the rule's own pattern, and true of every string the pattern would match.
    gate: tuple[str, ...] | Callable[[str], bool]
    pattern: re.Pattern[str]
    # The replacement of one match, or None to keep it (a validator said it is not one).
    replace: Callable[[re.Match[str]], str | None]


def _whole(kind: str) -> Callable[[re.Match[str]], str | None]:
    text = marker(kind)
    return lambda match: text


def _keep_prefix(kind: str) -> Callable[[re.Match[str]], str | None]:
    """Keep group "keep" (the header or key name), redact the rest: `password=[REDACTED:password]`."""
    text = marker(kind)
    return lambda match: match.group("keep") + text


def _assignment(match: re.Match[str]) -> str | None:
    """`password=[REDACTED:password]`, keeping the quotes of a quoted value so JSON stays JSON."""
    found = match.group("value")
    for quote in ('\\"', '"', "'"):
        if len(found) >= 2 * len(quote) and found.startswith(quote) and found.endswith(quote):
            return f"{match.group('keep')}{quote}{marker('password')}{quote}"
    return match.group("keep") + marker("password")


def _bearer(match: re.Match[str]) -> str | None:
    token = match.group("token")
    if len(token) < 20 and not any(c.isdigit() for c in token):
        return None  # prose ("the bearer of bad news"), not a credential
    return match.group("keep") + marker("bearer_token")


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# Issuer prefixes of the card networks (Visa, Mastercard, Amex, Discover, JCB, Diners,
# UnionPay, Maestro): a 16-digit id or timestamp that happens to pass Luhn is not redacted.
_CARD_PREFIX = re.compile(r"4|5|2[2-7]|3[04-9]|6")


def _card(match: re.Match[str]) -> str | None:
    digits = _digits(match.group())
    if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and _luhn_ok(digits):
        return marker("card")
    return None


def _phone(low: int, high: int) -> Callable[[re.Match[str]], str | None]:
    def replace(match: re.Match[str]) -> str | None:
        return marker("phone") if low <= len(_digits(match.group())) <= high else None

    return replace


_I = re.IGNORECASE
_NUMBER = re.compile(r"\d[\d ().-]{5,}\d")


def _has_number(string: str) -> bool:
    """Digit rules (cards, national phone numbers) need 7+ characters of a number."""
    return _NUMBER.search(string) is not None


def _has_assignment(string: str) -> bool:
    """A credential-like name followed by ":" or "=". Found with str.find: a case-insensitive
    regex over every string costs ten times more."""
    low = string.lower()
    for name in ("password", "passwd", "passphrase", "secret", "key", "token"):
        start = low.find(name)
        while start != -1:
            end = start + len(name)
            if low[end : end + 40].lstrip("\\\"' \t\r\n")[:1] in (":", "="):
                return True
            start = low.find(name, end)
    return False


# Names whose value is a credential, in `name=value`, `name: value`, `"name": "value"`.
_SECRET_NAME = (
    r"(?:[A-Za-z0-9]+[_.-])*"  # noqa: S105  (a pattern of names, not a password)
    r"(?:password|passwd|passphrase|secret|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|"
    r"private[_-]?key|access[_-]?token|refresh[_-]?token|auth[_-]?token|session[_-]?token|token)"
)
_QUOTED_OR_BARE = r"""(?:"(?:[^"\\]|\\.)*"|'[^'\n]*'|\\"(?:[^"\\]|\\[^"])*\\"|[^\s"',;&}\]\\]+)"""

SECRET_RULES: tuple[_Rule, ...] = (
    _Rule(
        "private_key",
        ("PRIVATE KEY",),
        re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S),
        _whole("private_key"),
    ),
    _Rule(
        "jwt",
        ("eyJ",),
        re.compile(r"(?<![\]A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"),
        _whole("jwt"),
    ),
    _Rule(
        "anthropic_key",
        ("sk-ant-",),
        re.compile(r"(?<![\]A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,}"),
        _whole("anthropic_key"),
    ),
    _Rule(
        "openai_key",
        ("sk-",),
        re.compile(r"(?<![\]A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}"),
        _whole("openai_key"),
    ),
    _Rule(
        "aws_access_key",
        ("AKIA", "ASIA", "ABIA", "ACCA"),
        re.compile(r"(?<![\]A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![\[A-Za-z0-9])"),
        _whole("aws_access_key"),
    ),
    _Rule(
        "github_token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"(?<![\]A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})"),
        _whole("github_token"),
    ),
    _Rule(
        "slack_token",
        ("xox", "hooks.slack.com/"),
        re.compile(
            r"(?<![\]A-Za-z0-9-])xox[abposre]-[A-Za-z0-9-]{10,}"
            r"|https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+"
        ),
        _whole("slack_token"),
    ),
    _Rule(
        "google_api_key",
        ("AIza",),
        re.compile(r"(?<![\]A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}"),
        _whole("google_api_key"),
    ),
    _Rule(
        "stripe_key",
        ("_live_", "_test_"),
        re.compile(r"(?<![\]A-Za-z0-9_])(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),
        _whole("stripe_key"),
    ),
    _Rule(
        "bearer_token",
        ("earer", "EARER"),
        re.compile(r"(?P<keep>(?<![\]A-Za-z0-9])bearer\s+)(?P<token>[A-Za-z0-9\-._~+/]{8,}=*)", _I),
        _bearer,
    ),
    # "Authorization: Basic dXNlcjpwYXNz", "authorization": "Token abc123", any scheme.
    _Rule(
        "authorization",
        ("uthorization", "UTHORIZATION"),
        re.compile(
            r"(?P<keep>(?<![\]A-Za-z0-9_-])(?:proxy-)?authorization\\?[\"']?\s*[:=]\s*\\?[\"']?"
            r"(?:(?:bearer|basic|token|digest|negotiate|apikey)\s+)?+)(?!\[REDACTED:)[^\s\"',;\\]{6,}",
            _I,
        ),
        _keep_prefix("authorization"),
    ),
    _Rule(
        "password",
        _has_assignment,
        re.compile(
            rf"(?P<keep>(?<![\]A-Za-z0-9_.-]){_SECRET_NAME}(?![\[A-Za-z0-9])\\?[\"']?\s{{0,16}}[:=]\s{{0,16}})"
            rf"(?!\\?[\"']?\[REDACTED:)(?!null\b|true\b|false\b)(?P<value>{_QUOTED_OR_BARE})",
            _I,
        ),
        _assignment,
    ),
)

PII_RULES: tuple[_Rule, ...] = (
    _Rule(
        "email",
        ("@",),
        re.compile(
            r"(?<![\]A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
            r"[A-Za-z]{2,24}(?![\[A-Za-z0-9-])"
        ),
        _whole("email"),
    ),
    # 13 to 19 digits in one run, or as printed on cards: 4-4-4-4(-3) or Amex 4-6-5, split by
    # spaces or dashes; checked by Luhn. Exact group shapes, so a failed candidate (a longer
    # number) does not swallow a card printed next to it.
    _Rule(
        "card",
        _has_number,
        re.compile(
            r"\d(?<![\]\d.-]\d)(?:\d{12,18}|\d{3}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?|\d{3}([ -])\d{6}\2\d{4,5})"
            r"(?![\[\d])"
        ),
        _card,
    ),
    # International: "+33 6 12 34 56 78", "+1 (415) 555-2671", "+14155552671" (8 to 15 digits, E.164).
    _Rule(
        "phone",
        ("+",),
        re.compile(r"\+(?<![\]\w+]\+)\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){1,6}+(?![\[\w])"),
        _phone(8, 15),
    ),
    # North American: "(415) 555-2671", "415-555-2671", "415.555.2671".
    _Rule(
        "phone",
        _has_number,
        re.compile(r"(?:\((?<![\]\w+(.-]\()\d{3}\) ?|\d(?<![\]\w+(.-]\d)\d{2}[-. ])\d{3}[-. ]\d{4}(?![\[\w-])"),
        _phone(10, 10),
    ),
    # National with a trunk 0: "06 12 34 56 78", "020 7946 0958", "07700 900123", "030-1234-5678".
    _Rule(
        "phone",
        _has_number,
        re.compile(r"0(?<![\]\w+.-]0)\d{1,4}(?:[ .-]\d{2,8}){1,4}(?![\[\w-])"),
        _phone(10, 11),
    ),
)


@dataclass(frozen=True, slots=True)
class _RuleSet:
    """Rules run in order, behind one test of all their gates: most strings pass no gate and
    cost one `in` per literal and one search per gate pattern."""

    rules: tuple[_Rule, ...]
    literals: tuple[str, ...]
    literal_pattern: re.Pattern[str]  # the literals as one pattern: faster on short strings
    tests: tuple[Callable[[str], bool], ...]

    @classmethod
    def of(cls, *rules: _Rule) -> _RuleSet:
        literals = tuple(dict.fromkeys(g for rule in rules if isinstance(rule.gate, tuple) for g in rule.gate))
        tests = tuple(dict.fromkeys(rule.gate for rule in rules if not isinstance(rule.gate, tuple)))
        return cls(rules, literals, re.compile("|".join(map(re.escape, literals))), tests)

    def _any_literal(self, string: str) -> bool:
        if len(string) <= 64:
            return self.literal_pattern.search(string) is not None
        return any(map(string.__contains__, self.literals))

    def apply(self, string: str) -> str:
        if not self._any_literal(string) and not any(test(string) for test in self.tests):
            return string
        passed: dict[Callable[[str], bool], bool] = {}
        for rule in self.rules:
            gate = rule.gate
            if isinstance(gate, tuple):
                if not any(map(string.__contains__, gate)):
                    continue
            else:
                if gate not in passed:
                    passed[gate] = gate(string)
                if not passed[gate]:
                    continue

            string = _substitute(rule, string)
        return string


_FIRST_GROUP = re.compile(r"[^ .()-]*[ .()-]+")


def _substitute(rule: _Rule, string: str) -> str:
    """re.sub, except that when a validator turns a match down (a longer number that fails Luhn,
    too many digits for a phone) the search goes on from the match's second group of digits
    rather than after it, so a card or phone number printed right after another number is found."""
    parts: list[str] = []
    done = pos = 0
    second_looks = 1000  # then on past the match: a megabyte of "4111 4111 …" stays linear and fast
    while (match := rule.pattern.search(string, pos)) is not None:
        replaced = rule.replace(match)
        if replaced is None:
            first = _FIRST_GROUP.match(string, match.start(), match.end()) if second_looks else None
            pos = first.end() if first is not None and first.end() < match.end() else match.end()
            second_looks -= first is not None
            continue
        parts += (string[done : match.start()], replaced)
        done = pos = match.end()
    if not parts:
        return string
    parts.append(string[done:])
    return "".join(parts)


SECRETS = _RuleSet.of(*SECRET_RULES)
PERSONAL_DATA = _RuleSet.of(*PII_RULES)


# --- values ----------------------------------------------------------------------------------


# Something that every rule needs, in one search: most attribute values are short ("openai",
# "assistant", "text") and hold none of it, and one search costs a third of the gates of both sets.
_ANYTHING = re.compile(
    r"[@+=:]|\d\d|PRIVATE KEY|eyJ|sk-|A[KS]IA|ABIA|ACCA|gh[pousr]_|github_pat_|xox|hooks\.slack|AIza|_live_|_test_"
    r"|[Bb]earer|BEARER|[Aa]uthorization|AUTHORIZATION"
)
SHORT = 64


def text(value: str, policy: Policy) -> str:
    """One string with every secret (policy.secrets) and personal datum (policy.pii) replaced."""
    if len(value) < MIN_LENGTH or (len(value) <= SHORT and _ANYTHING.search(value) is None):
        return value
    if policy.secrets:
        value = SECRETS.apply(value)
    if policy.pii:
        value = PERSONAL_DATA.apply(value)
    return value


# The last segment of an attribute or JSON key ("http.request.header.x-api-key" -> "x_api_key")
# that names a credential: its value is redacted whole, whatever it looks like.
_SECRET_KEY = re.compile(
    r"(?:^|_)(?:authorization|password|passwd|passphrase|secret|api_?key|token|cookie|set_cookie|"
    r"credentials?|private_key|secret_key|access_key)$"
)


@functools.lru_cache(maxsize=8192)  # the same few hundred attribute keys come back on every span
def is_secret_name(key: str) -> bool:
    return _SECRET_KEY.search(key.rsplit(".", 1)[-1].lower().replace("-", "_")) is not None


def value(data: Any, policy: Policy) -> Any:
    """A decoded JSON-like value with its strings redacted; containers are copied, keys kept
    (they name fields, and the normalizer has already read them)."""
    if not policy.active:
        return data
    return _value(data, policy, 0)


def _value(data: Any, policy: Policy, depth: int) -> Any:
    if isinstance(data, str):
        return text(data, policy)
    if depth > 64:  # deeper than any limit lets through; kept as is rather than recursing on
        return data
    if isinstance(data, dict):
        out = {}
        for key, item in data.items():
            if policy.secrets and isinstance(key, str) and is_secret_name(key):
                out[key] = _mask(item, depth + 1)
            else:
                out[key] = _value(item, policy, depth + 1)
        return out
    if isinstance(data, list | tuple):
        return [_value(item, policy, depth + 1) for item in data]
    return data


def _mask(data: Any, depth: int) -> Any:
    """Every string inside a value named as a credential: numbers and booleans carry none."""
    if isinstance(data, str):
        return marker(SECRET_BY_NAME) if data else data
    if isinstance(data, bytes | bytearray):
        return marker(SECRET_BY_NAME)
    if depth > 64:
        return marker(SECRET_BY_NAME)
    if isinstance(data, dict):
        return {key: _mask(item, depth + 1) for key, item in data.items()}
    if isinstance(data, list | tuple):
        return [_mask(item, depth + 1) for item in data]
    return data


def identifier(value_: str, policy: Policy) -> str:
    """A user or session id. Redacted like any text, but when something was taken out a short
    keyed digest of the original is added ("[REDACTED:email]~3f9a1c2b"), so two users whose ids
    were e-mails stay two users in the per-user pages and totals, and the digest cannot be
    reversed from a list of addresses without the key."""
    redacted = text(value_, policy)
    if redacted == value_ or not policy.pseudonym_key:
        return redacted
    digest = hmac.new(policy.pseudonym_key, value_.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"{redacted}~{digest[:10]}"


# --- telemetry ---------------------------------------------------------------------------------


def span(raw: RawSpan, fields: SpanFields, policy: Policy) -> tuple[RawSpan, SpanFields]:
    """A span with every stored string redacted: its name, status message, attributes, events and
    resource, and what the normalizer took from them (messages, tool arguments and result, errors,
    agent, run name, tags, user and session ids). Ids, kinds, models and numbers are kept."""
    if not policy.active:
        return raw, fields
    raw = dataclasses.replace(
        raw,
        name=text(raw.name, policy),
        status_message=text(raw.status_message, policy),
        attributes=value(raw.attributes, policy),
        events=[SpanEvent(text(e.name, policy), e.time_ns, value(e.attributes, policy)) for e in raw.events],
        resource=value(raw.resource, policy),
    )
    fields = dataclasses.replace(
        fields,
        display_name=text(fields.display_name, policy),
        error_type=text(fields.error_type, policy),
        error_message=text(fields.error_message, policy),
        tool_name=text(fields.tool_name, policy),
        tool_arguments=value(fields.tool_arguments, policy),
        tool_result=value(fields.tool_result, policy),
        input=value(fields.input, policy),
        output=value(fields.output, policy),
        agent_name=text(fields.agent_name, policy),
        run_name=text(fields.run_name, policy),
        environment=text(fields.environment, policy),
        tags=[text(t, policy) for t in fields.tags],
        user_id=identifier(fields.user_id, policy),
        session_id=identifier(fields.session_id, policy),
    )
    return raw, fields


def log_event(event: LogEvent, policy: Policy) -> LogEvent:
    """A log record with its name, attributes and body redacted."""
    if not policy.active:
        return event
    return dataclasses.replace(
        event,
        name=text(event.name, policy),
        attributes=value(event.attributes, policy),
        body=value(event.body, policy),
    )
