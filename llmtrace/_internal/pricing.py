"""Cost in USD from token counts, using genai-prices' bundled data (never the network).

Token semantics follow the OTel GenAI conventions, which genai-prices shares: ``input_tokens``
counts every input token, ``cached_input_tokens`` and ``cache_write_tokens`` are subsets of it
(priced at the cache-read and cache-write rates), and ``reasoning_tokens`` is a subset of
``output_tokens`` (priced as output). An unknown model costs ``None`` — never 0 — and is warned
about once per (provider, model).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

logger = logging.getLogger("llmtrace.pricing")

_MTOK = 1_000_000


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """A user-supplied price, USD per million tokens (the ``prices=`` argument of ``instrument``)."""

    input: float
    output: float
    cached_input: float | None = None  # default: the input rate
    cache_write: float | None = None  # default: the input rate

    @classmethod
    def parse(cls, value: ModelPrice | Mapping[str, Any]) -> ModelPrice:
        if isinstance(value, ModelPrice):
            return value
        unknown = set(value) - {"input", "output", "cached_input", "cache_write"}
        if unknown or "input" not in value or "output" not in value:
            raise ValueError(
                "a price needs 'input' and 'output' (USD per million tokens) and may have "
                f"'cached_input' and 'cache_write'; got {sorted(value)}"
            )
        return cls(**{k: float(v) for k, v in value.items()})

    def cost(self, input_tokens: int, output_tokens: int, cached: int, cache_write: int) -> float:
        uncached = max(input_tokens - cached - cache_write, 0)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        write_rate = self.input if self.cache_write is None else self.cache_write
        return (
            uncached * self.input
            + cached * cached_rate
            + cache_write * write_rate
            + output_tokens * self.output
        ) / _MTOK


# Base-URL host patterns -> our provider names (which are also genai-prices provider ids,
# except where noted). Order matters: the first match wins.
_PROVIDER_HOSTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"(^|\.)openai\.azure\.com$|(^|\.)azure\.com$|\.azure-api\.net$", "azure"),
        (r"(^|\.)openrouter\.ai$", "openrouter"),
        (r"(^|\.)anthropic\.com$", "anthropic"),
        (r"(^|\.)openai\.com$", "openai"),
        (r"(^|\.)groq\.com$", "groq"),
        (r"(^|\.)together\.(xyz|ai)$", "together"),
        (r"(^|\.)fireworks\.ai$", "fireworks"),
        (r"(^|\.)deepseek\.com$", "deepseek"),
        (r"(^|\.)mistral\.ai$", "mistral"),
        (r"(^|\.)x\.ai$", "x-ai"),
        (r"(^|\.)cerebras\.ai$", "cerebras"),
        (r"(^|\.)perplexity\.ai$", "perplexity"),
        (r"(^|\.)googleapis\.com$", "google"),
        (r"(^|\.)amazonaws\.com$", "aws"),
    )
)

# Names other instrumentations put in gen_ai.provider.name / gen_ai.system -> genai-prices ids.
_PROVIDER_ALIASES = {
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.openai": "azure",
    "aws.bedrock": "aws",
    "gcp.gen_ai": "google",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
}


@lru_cache(maxsize=256)
def provider_from_url(base_url: str | None, default: str) -> str:
    """The provider behind a client's base URL (``https://x.openai.azure.com/...`` -> ``azure``).

    A URL that names no known host (a local vLLM, a company proxy) keeps ``default``, the
    provider whose SDK made the call.
    """
    if not base_url:
        return default
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", str(base_url).lower()).split("/", 1)[0].split(":", 1)[0]
    for pattern, name in _PROVIDER_HOSTS:
        if pattern.search(host):
            return name
    return default


def normalize_provider(name: str) -> str:
    name = name.strip().lower()
    return _PROVIDER_ALIASES.get(name, name)


class PriceBook:
    """Looks up prices with user overrides first, then genai-prices; remembers misses (bounded)."""

    def __init__(self, overrides: Mapping[str, ModelPrice | Mapping[str, Any]] | None = None) -> None:
        self.overrides = {k.lower(): ModelPrice.parse(v) for k, v in (overrides or {}).items()}
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def cost_usd(
        self,
        *,
        provider: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        when: datetime | None = None,
    ) -> float | None:
        """Cost of one call in USD, or ``None`` when the model's price is unknown."""
        if not model:
            return None
        override = self.overrides.get(model.lower())
        if override is not None:
            return override.cost(input_tokens, output_tokens, cached_input_tokens, cache_write_tokens)
        price = _genai_price(
            normalize_provider(provider),
            model,
            input_tokens,
            output_tokens,
            cached_input_tokens,
            cache_write_tokens,
            reasoning_tokens,
            when,
        )
        if price is None:
            self._warn_unknown(provider, model)
        return price

    def _warn_unknown(self, provider: str, model: str) -> None:
        key = (provider, model)
        with self._lock:
            if key in self._warned or len(self._warned) > 10_000:
                return
            self._warned.add(key)
        logger.warning(
            "llmtrace: no price known for model %r (provider %r); its cost is recorded as unknown (NULL). "
            "Pass prices={%r: {'input': ..., 'output': ...}} (USD per million tokens) to set one.",
            model,
            provider,
            model,
        )


@lru_cache(maxsize=4096)
def _known_model(provider: str, model: str) -> tuple[str | None, str] | None:
    """Resolve (provider id or None, model ref) that genai-prices can price, or None. Bounded."""
    from genai_prices import Usage, calc_price

    candidates: list[tuple[str | None, str]] = [(provider or None, model)]
    if "/" in model:  # "openai/gpt-4o" through a router, or an OpenRouter-style id elsewhere
        vendor, _, bare = model.partition("/")
        candidates += [(normalize_provider(vendor), bare), (provider or None, bare)]
    candidates.append((None, model))
    for provider_id, ref in candidates:
        try:
            calc_price(Usage(input_tokens=1, output_tokens=1), ref, provider_id=provider_id)
        except LookupError:
            continue
        return provider_id, ref
    return None


def _genai_price(
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached: int,
    cache_write: int,
    reasoning: int,
    when: datetime | None,
) -> float | None:
    from genai_prices import Usage, calc_price

    resolved = _known_model(provider, model)
    if resolved is None:
        return None
    provider_id, ref = resolved
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cached or None,
        cache_write_tokens=cache_write or None,
        output_reasoning_tokens=reasoning or None,
    )
    try:
        result = calc_price(usage, ref, provider_id=provider_id, genai_request_timestamp=when)
    except LookupError:
        return None
    return float(result.total_price)


# The process-wide default book (no overrides); the SDK builds its own from `prices=`.
default_price_book = PriceBook()
