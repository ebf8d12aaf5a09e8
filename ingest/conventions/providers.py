"""Provider names: clean up what spans say, and infer it when they say nothing.

Values are lowercased (OpenLLMetry ≤0.4x wrote `OpenAI`, `Anthropic`), deprecated SC values
are mapped to their current names, and framework names that some emitters put in
`gen_ai.system` are rejected, so the next key in the priority list gets its turn.
"""

from __future__ import annotations

import re
from typing import Any

from ingest.conventions.values import as_text

# `gen_ai.system` is sometimes the framework, not the model provider (docs/conventions.md,
# "Pitfalls", pitfall 5).
FRAMEWORKS = frozenset(
    {
        "langchain",  # OpenLLMetry
        "crewai",  # OpenLLMetry
        "gcp.vertex.agent",  # Google ADK
        "strands-agents",  # Strands (openinference strands processor tests)
    }
)

# Deprecated SC values (gen_ai.system before 1.37) → the current `gen_ai.provider.name` values.
_ALIASES = {
    "az.ai.openai": "azure.ai.openai",
    "vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "xai": "x_ai",
}

# Last resort 1: the API host (`server.address`), matched as a domain suffix.
_HOSTS = (
    ("openai.azure.com", "azure.ai.openai"),
    ("api.openai.com", "openai"),
    ("api.anthropic.com", "anthropic"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("api.cohere.com", "cohere"),
    ("api.cohere.ai", "cohere"),
    ("api.x.ai", "x_ai"),
    ("api.perplexity.ai", "perplexity"),
    ("openrouter.ai", "openrouter"),
)
_BEDROCK_HOST = re.compile(r"(^|\.)bedrock(-runtime)?[.-].*amazonaws\.com$")

# Last resort 2: the model name.
_MODEL_PATTERNS = (
    (
        re.compile(r"^(?:[a-z]{2}\.)?(?:anthropic|amazon|meta|cohere|mistral|ai21)\.[\w.:-]+$"),
        "aws.bedrock",
    ),
    (re.compile(r"^(?:gpt-|chatgpt-|text-embedding-|o\d+(?:-|$))"), "openai"),
    (re.compile(r"^claude-"), "anthropic"),
    (re.compile(r"^gemini-"), "gcp.gemini"),
    (re.compile(r"^(?:mistral|mixtral|codestral|magistral|ministral)-"), "mistral_ai"),
    (re.compile(r"^command-"), "cohere"),
    (re.compile(r"^deepseek-"), "deepseek"),
    (re.compile(r"^grok-"), "x_ai"),
)
# `openai/gpt-4o` (OpenRouter, LiteLLM) and `anthropic:claude-…` (pydantic-ai model strings).
_PREFIXED_MODEL = re.compile(r"^([a-z][\w-]*)[/:].+$")
_MODEL_PREFIXES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "google": "gcp.gemini",
    "google-gla": "gcp.gemini",
    "gemini": "gcp.gemini",
    "google-vertex": "gcp.vertex_ai",
    "vertex_ai": "gcp.vertex_ai",
    "groq": "groq",
    "mistral": "mistral_ai",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "x-ai": "x_ai",
    "openrouter": "openrouter",
}


def provider_name(value: Any) -> str | None:
    """A normalized provider, or None for empty values and framework names."""
    text = as_text(value)
    if not text:
        return None
    name = text.lower()
    if name in FRAMEWORKS:
        return None
    return _ALIASES.get(name, name)


def provider_from_host(value: Any) -> str | None:
    host = (as_text(value) or "").lower().removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    if not host:
        return None
    if _BEDROCK_HOST.search(host):
        return "aws.bedrock"
    return next(
        (name for suffix, name in _HOSTS if host == suffix or host.endswith("." + suffix)),
        None,
    )


def provider_from_model(value: Any) -> str | None:
    model = (as_text(value) or "").lower()
    if not model:
        return None
    prefixed = _PREFIXED_MODEL.match(model)
    if prefixed and prefixed.group(1) in _MODEL_PREFIXES:
        return _MODEL_PREFIXES[prefixed.group(1)]
    return next((name for pattern, name in _MODEL_PATTERNS if pattern.search(model)), None)
