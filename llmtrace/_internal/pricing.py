"""Cost in USD from token counts, using genai-prices' bundled data (never the network).

Token semantics follow the OTel GenAI conventions, which genai-prices shares: ``input_tokens``
counts every input token, ``cached_input_tokens`` and ``cache_write_tokens`` are subsets of it
(priced at the cache-read and cache-write rates), and ``reasoning_tokens`` is a subset of
``output_tokens`` (priced as output). An unknown model costs ``None`` — never 0 — and is warned
about once per (provider, model).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from llmtrace._internal.clock import utc_from_ns

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
        rates = {k: float(v) for k, v in value.items()}
        bad = sorted(k for k, v in rates.items() if not 0 <= v < math.inf)  # (NaN fails too)
        if bad:  # a NaN or negative rate made every call's cost one the server rejects, with its span
            raise ValueError(
                f"a price is a finite, non-negative USD per million tokens; got {bad[0]}={value[bad[0]]!r}"
            )
        return cls(**rates)

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


# Base-URL host patterns -> ``gen_ai.provider.name``: the OTel GenAI well-known value where there is
# one (``azure.ai.openai``, ``gcp.gemini``, ...), else the genai-prices provider id; the aliases
# below turn the former into genai-prices ids for pricing. Order matters: the first match wins.
_PROVIDER_HOSTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"(^|\.)openai\.azure\.com$|(^|\.)azure\.com$|\.azure-api\.net$", "azure.ai.openai"),
        (r"(^|\.)openrouter\.ai$", "openrouter"),
        (r"(^|\.)anthropic\.com$", "anthropic"),
        (r"(^|\.)openai\.com$", "openai"),
        (r"(^|\.)groq\.com$", "groq"),
        (r"(^|\.)together\.(xyz|ai)$", "together"),
        (r"(^|\.)fireworks\.ai$", "fireworks"),
        (r"(^|\.)deepseek\.com$", "deepseek"),
        (r"(^|\.)mistral\.ai$", "mistral_ai"),
        (r"(^|\.)x\.ai$", "x_ai"),
        (r"(^|\.)cerebras\.ai$", "cerebras"),
        (r"(^|\.)perplexity\.ai$", "perplexity"),
        (r"(^|-)aiplatform\.googleapis\.com$", "gcp.vertex_ai"),
        (r"(^|\.)googleapis\.com$", "gcp.gemini"),
        (r"(^|\.)amazonaws\.com$", "aws.bedrock"),
        # Self-hosted servers have no fixed host: recognised by a host name that says what they are
        (r"ollama", "ollama"),
        (r"vllm", "vllm"),
    )
)
# Self-hosted servers: the model runs on the user's hardware, so no per-token price applies (a model
# name that a cloud provider also prices must not borrow its price); only a user override prices it.
_SELF_HOSTED = frozenset({"ollama", "vllm"})
# Self-hosted servers recognised by their default port when the host says nothing (Ollama's 11434).
_PROVIDER_PORTS = {"11434": "ollama"}

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
    """The provider behind a client's base URL (``https://x.openai.azure.com/...`` -> ``azure.ai.openai``).

    A URL that names no known host or port (a company proxy, a vLLM behind an unremarkable name)
    keeps ``default``, the provider whose SDK made the call.
    """
    if not base_url:
        return default
    authority = re.sub(r"^[a-z][a-z0-9+.-]*://", "", str(base_url).lower()).split("/", 1)[0]
    host, _, port = authority.partition(":")
    for pattern, name in _PROVIDER_HOSTS:
        if pattern.search(host):
            return name
    return _PROVIDER_PORTS.get(port, default)


def normalize_provider(name: str) -> str:
    name = name.strip().lower()
    return _PROVIDER_ALIASES.get(name, name)


class PriceBook:
    """Looks up prices with user overrides first, then genai-prices; remembers misses (bounded).

    genai-prices takes ~100 µs per ``calc_price`` (model lookup, unit registry, Decimal
    decomposition), far too slow for server ingest at tens of thousands of spans per second. So the
    book resolves each (provider, model) once and, for each price in effect, probes genai-prices for
    the per-token rates that hold below the model's first context-size tier: below it a price is
    linear in the token counts, so those rates give genai-prices' exact Decimal result in about a
    microsecond. Conditional prices (a dated price change, off-peak hours) are chosen per call
    from the call's time, exactly as genai-prices chooses them. Usage the rates do not cover (above
    a tier, or inconsistent counts) goes through genai-prices itself.
    """

    def __init__(self, overrides: Mapping[str, ModelPrice | Mapping[str, Any]] | None = None) -> None:
        self.overrides = {k.lower(): ModelPrice.parse(v) for k, v in (overrides or {}).items()}
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        # (provider, model[, service tier[, minute of a past call]]) -> (expiry, rates) for a model
        # with one linear price: the common case, priced without resolving the model again.
        self._linear: dict[tuple[str | int, ...], tuple[float, _Rates]] = {}

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
        when_ns: int | None = None,
        cache_write_1h_tokens: int = 0,
        service_tier: str | None = None,
        web_searches: int = 0,
    ) -> float | None:
        """Cost of one call in USD, or ``None`` when the model's price is unknown.

        ``cache_write_1h_tokens`` is the part of ``cache_write_tokens`` kept for an hour
        (Anthropic's 1-hour cache TTL), which costs more to write where the price says so.
        ``service_tier`` is the tier that served the call (OpenAI's ``flex`` at about half the
        price, ``priority`` at about twice); its price where genai-prices has one.
        ``web_searches`` the provider's web search tool ran for the call (Anthropic: $10 per
        1,000), at the model's price for them.

        ``when`` (or ``when_ns``, nanoseconds since the epoch, turned into a datetime only for a
        price that depends on time) is the call's time; default now.
        """

        if not model:
            return None
        if self.overrides:
            override = self.overrides.get(model.lower())
            if override is not None:
                return override.cost(input_tokens, output_tokens, cached_input_tokens, cache_write_tokens)
        if provider in _SELF_HOSTED:
            return None
        counts = (
            input_tokens,
            output_tokens,
            cached_input_tokens,
            cache_write_tokens,
            reasoning_tokens,
            cache_write_1h_tokens,
            web_searches,
        )
        tier = _priced_tier(service_tier)
        at = _moment(when, when_ns)
        # A tier's rates hold as of a moment (its prices may change on a date or at a time of day,
        # in whole minutes in genai-prices' data): a past call's are cached for its minute, since
        # finding them costs ~0.6 ms, and the server prices every span of a tier that way.
        if tier is None:
            key: tuple[str | int, ...] = (provider, model)
        elif at is None:
            key = (provider, model, tier)
        else:
            key = (provider, model, tier, int(at.timestamp()) // 60)
        now = time.monotonic()
        known = self._linear.get(key)
        if known is not None and known[0] >= now:
            cost = known[1].cost(*counts)
            if cost is not None:
                return cost
        resolved = _resolve(provider, model)
        if resolved is None:
            self._warn_unknown(provider, model)
            return None
        genai_provider, info = resolved
        prices = info.prices
        context = None if tier is None else {"service_tier": tier}
        if context is not None and info.price_variants:
            rates = _probe_rates(info.get_prices(at or datetime.now(UTC), context))  # a fresh object
            if rates is not None:
                if len(self._linear) >= _CACHE_LIMIT:
                    self._linear.clear()
                self._linear[key] = (now + _RESOLVE_TTL_S, rates)
        elif isinstance(prices, list):  # conditional prices: the one in effect at the call's time
            prices = info.get_prices(at or datetime.now(UTC))
            rates = _linear_rates(prices)
        else:
            rates = _linear_rates(prices)
            if rates is not None:
                if len(self._linear) >= _CACHE_LIMIT:
                    self._linear.clear()
                self._linear[key] = (now + _RESOLVE_TTL_S, rates)
        cost = None if rates is None else rates.cost(*counts)
        if cost is not None:
            return cost
        return _genai_price(genai_provider, info, counts, at, context)

    def cost_now(
        self,
        provider: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int,
        cache_write_tokens: int,
        reasoning_tokens: int,
        cache_write_1h_tokens: int = 0,
        service_tier: str | None = None,
        web_searches: int = 0,
    ) -> float | None:
        """`cost_usd` at the current time, with positional counts: the per-call path. A model
        with one linear price resolved within the last `_RESOLVE_TTL_S` (every call but a
        model's first each minute) costs one lookup and the rates' arithmetic; anything else
        (overrides, a first or expired resolution, usage the rates do not cover) is `cost_usd`'s."""
        if not self.overrides and (not service_tier or service_tier in _STANDARD_TIERS):
            known = self._linear.get((provider, model))
            if known is not None and known[0] >= time.monotonic():
                cost = known[1].cost(
                    input_tokens,
                    output_tokens,
                    cached_input_tokens,
                    cache_write_tokens,
                    reasoning_tokens,
                    cache_write_1h_tokens,
                    web_searches,
                )
                if cost is not None:
                    return cost
        return self.cost_usd(
            provider=provider,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens,
            cache_write_tokens=cache_write_tokens,
            reasoning_tokens=reasoning_tokens,
            cache_write_1h_tokens=cache_write_1h_tokens,
            service_tier=service_tier,
            web_searches=web_searches,
        )

    def _warn_unknown(self, provider: str, model: str) -> None:
        key = (provider, model)
        if key in self._warned:
            return
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


_STANDARD_TIERS = frozenset(("default", "auto"))  # a service tier priced at the standard price


def _priced_tier(service_tier: str | None) -> str | None:
    """The tier to price, or None for the standard price (none given, ``default``, ``auto``)."""
    return None if not service_tier or service_tier in _STANDARD_TIERS else service_tier


def _moment(when: datetime | None, when_ns: int | None) -> datetime | None:
    return when if when is not None or when_ns is None else utc_from_ns(when_ns)


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


_CACHE_LIMIT = 4096  # entries per cache below; a full cache starts over (names come from spans)
_RESOLVE_TTL_S = 60.0  # price data an application swaps in (genai-prices' UpdatePrices) applies within this
# (provider, model) as given -> (expiry, genai-prices Provider, ModelInfo), the latter two None if unknown.
_MODELS: dict[tuple[str, str], tuple[float, Any, Any]] = {}


def _resolve(provider: str, model: str) -> tuple[Any, Any] | None:
    """genai-prices' (Provider, ModelInfo) for a span's provider and model, or None (cached, bounded)."""
    entry = _MODELS.get((provider, model))
    now = time.monotonic()
    if entry is None or entry[0] < now:
        from genai_prices.data_snapshot import get_snapshot

        pair: tuple[Any, Any] = (None, None)
        found = _known_model(normalize_provider(provider), model)
        if found is not None:
            try:
                pair = get_snapshot().find_provider_model(found[1], None, found[0], None)
            except LookupError:
                pass
        if len(_MODELS) >= _CACHE_LIMIT:
            _MODELS.clear()
        entry = _MODELS[(provider, model)] = (now + _RESOLVE_TTL_S, *pair)
    return None if entry[2] is None else (entry[1], entry[2])


@dataclass(frozen=True, slots=True)
class _Rates:
    """USD per token of each kind, valid while input tokens <= ``max_input``.

    Each rate is an integer numerator over the common denominator ``den``: genai-prices' exact
    Decimal rates, scaled. A cost is then integer arithmetic and one ``int / int`` division, which
    Python rounds correctly, exactly as ``float()`` of genai-prices' (exact) Decimal total is
    rounded: the same float, several times faster than Decimal arithmetic and its ``float()``
    (which goes through a string).
    """

    fixed: int  # per call (a per-request fee), usually 0
    input: int  # uncached input
    cache_read: int
    cache_write: int
    cache_write_1h: int  # a cache write kept an hour (the cache write's rate where none is set)
    output: int  # non-reasoning output
    reasoning: int
    web_search: int  # one search of the provider's web search tool
    den: int
    max_input: float

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        cached: int,
        cache_write: int,
        reasoning: int,
        cache_write_1h: int = 0,
        web_searches: int = 0,
    ) -> float | None:
        """The cost of this usage, or None where these rates do not apply (above the first tier,
        or counts that do not add up: genai-prices decides those)."""
        if (
            input_tokens > self.max_input
            or cached + cache_write > input_tokens
            or reasoning > output_tokens
            or cache_write_1h > cache_write
        ):
            return None
        cost = (
            self.fixed
            + self.input * (input_tokens - cached - cache_write)
            + self.output * (output_tokens - reasoning)
        )
        if cached:
            cost += self.cache_read * cached
        if cache_write:
            cost += self.cache_write * (cache_write - cache_write_1h) + self.cache_write_1h * cache_write_1h
        if reasoning:
            cost += self.reasoning * reasoning
        if web_searches:
            cost += self.web_search * web_searches
        return cost / self.den


def _common_denominator(values: list[Decimal]) -> tuple[int, list[int]]:
    """(denominator, numerators) with ``values[i] == numerators[i] / denominator`` exactly."""
    ratios = [v.as_integer_ratio() for v in values]
    den = math.lcm(*(d for _, d in ratios))
    return den, [n * (den // d) for n, d in ratios]


# id(genai-prices ModelPrice) -> (that ModelPrice, kept alive so the id stays its own; rates or None)
_RATES: dict[int, tuple[Any, _Rates | None]] = {}


def _linear_rates(prices: Any) -> _Rates | None:
    """Per-token rates of one genai-prices ``ModelPrice`` (cached, bounded); None if not linear."""
    entry = _RATES.get(id(prices))
    if entry is None or entry[0] is not prices:
        if len(_RATES) >= _CACHE_LIMIT:
            _RATES.clear()
        entry = _RATES[id(prices)] = (prices, _probe_rates(prices))
    return entry[1]


def _probe_rates(prices: Any) -> _Rates | None:
    """Price single tokens with genai-prices; the differences are the per-token rates.

    genai-prices prices a call as a sum over its units of price x count, where the counts are
    linear in the usage fields (input minus cache reads and writes, ...) and a tier applies only
    when the call's input tokens exceed the tier's start; so below the first tier the cost of any
    consistent usage is ``fixed`` plus these rates times the counts.
    """
    from genai_prices import Usage
    from genai_prices.types import TieredPrices

    starts = [t.start for v in vars(prices).values() if isinstance(v, TieredPrices) for t in v.tiers]
    max_input = float(min(starts)) if starts else float("inf")
    if max_input < 1:
        return None

    def cost(**counts: int) -> Decimal:
        return Decimal(
            prices.calc_price(Usage(**{"input_tokens": 0, "output_tokens": 0, **counts}))["total_price"]
        )

    try:
        fixed = cost()
        den, (n_fixed, n_input, n_read, n_write, n_write_1h, n_output, n_reasoning, n_search) = (
            _common_denominator(
                [
                    fixed,
                    cost(input_tokens=1) - fixed,
                    cost(input_tokens=1, cache_read_tokens=1) - fixed,
                    cost(input_tokens=1, cache_write_tokens=1) - fixed,
                    cost(input_tokens=1, cache_write_tokens=1, cache_write_1h_tokens=1) - fixed,
                    cost(output_tokens=1) - fixed,
                    cost(output_tokens=1, output_reasoning_tokens=1) - fixed,
                    cost(web_searches=1) - fixed,
                ]
            )
        )
    except (LookupError, ValueError):  # a price genai-prices cannot apply to token counts alone
        return None
    return _Rates(
        n_fixed, n_input, n_read, n_write, n_write_1h, n_output, n_reasoning, n_search, den, max_input
    )


def _genai_price(
    provider: Any,
    info: Any,
    counts: tuple[int, int, int, int, int, int, int],
    when: datetime | None,
    context: Mapping[str, str] | None = None,
) -> float | None:
    """genai-prices' own calculation of ``counts`` (input, output, cache reads, cache writes,
    reasoning, 1-hour cache writes, web searches); None for usage it refuses (cache reads above
    the input)."""
    from genai_prices import Usage

    input_tokens, output_tokens, cached, cache_write, reasoning, cache_write_1h, web_searches = counts
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cached or None,
        cache_write_tokens=cache_write or None,
        cache_write_1h_tokens=cache_write_1h or None,
        output_reasoning_tokens=reasoning or None,
        web_searches=web_searches or None,
    )
    try:
        result = info.calc_price(usage, provider, genai_request_timestamp=when, price_context=context)
    except (LookupError, ValueError):
        return None
    return float(result.total_price)


# The process-wide default book (no overrides); the SDK builds its own from `prices=`.
default_price_book = PriceBook()
