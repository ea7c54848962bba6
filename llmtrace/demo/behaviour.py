"""How the fake provider behaves: token counts, latencies, cache hits, errors and answer text.

One model of behaviour serves two callers: the HTTP fake provider (answers to real SDK calls)
and the story's backfilled history (spans for calls made "last week"). Sharing it keeps the
history and the live traffic statistically alike, so any drift or regression the demo reports
is one the story planted, not an artefact of two generators.

Everything is derived from a seed and the request itself, so the same request gets the same
answer, whatever the thread interleaving.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

CHARS_PER_TOKEN = 4  # the usual English rule of thumb; counts are "realistic", not a tokenizer's


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """Speed of one fake model. Latency = time to first token + output tokens / throughput."""

    ttft_median_ms: float
    ttft_sigma: float  # lognormal shape of the time to first token
    tokens_per_second: float
    output_ratio: float  # median output tokens per input token (summaries are shorter than input)
    output_floor: int  # median output tokens even for a tiny prompt


PROFILES: dict[str, ModelProfile] = {
    "gpt-4o-mini": ModelProfile(350, 0.45, 90, 0.25, 40),
    "gpt-4.1-mini": ModelProfile(380, 0.45, 85, 0.25, 40),
    "gpt-4o": ModelProfile(500, 0.5, 60, 0.3, 60),
    "claude-haiku-4-5": ModelProfile(450, 0.4, 100, 0.2, 80),
    "claude-opus-4-1": ModelProfile(1400, 0.5, 35, 0.08, 200),
    "text-embedding-3-small": ModelProfile(60, 0.35, 0, 0.0, 0),
}
DEFAULT_PROFILE = ModelProfile(500, 0.5, 60, 0.25, 50)

_WORDS = [
    "the",
    "customer",
    "asked",
    "about",
    "their",
    "invoice",
    "and",
    "we",
    "confirmed",
    "the",
    "refund",
    "will",
    "arrive",
    "within",
    "five",
    "business",
    "days",
    "the",
    "order",
    "shipped",
    "late",
    "because",
    "of",
    "a",
    "warehouse",
    "delay",
    "summary",
    "of",
    "the",
    "thread",
    "main",
    "points",
    "next",
    "steps",
    "owner",
    "deadline",
    "risk",
    "follow",
    "up",
    "account",
    "billing",
    "plan",
    "upgrade",
    "support",
    "ticket",
    "resolved",
    "escalated",
    "pending",
    "review",
    "agreed",
    "proposal",
    "contract",
    "renewal",
    "feedback",
    "positive",
]


def count_tokens(text: str) -> int:
    """Tokens of a prompt text, the way the fake provider bills them (about 4 characters each)."""
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call does: its usage, timing, text, or the error it fails with."""

    input_tokens: int  # all input tokens, cached ones included (OpenAI / OTel semantics)
    output_tokens: int
    cached_tokens: int  # subset of input_tokens read from the prompt cache
    cache_write_tokens: int  # subset of input_tokens written to the prompt cache
    ttft_ms: float
    latency_ms: float
    text: str
    finish_reason: str  # "stop" or "length" (provider-neutral; the HTTP layer translates)
    error_status: int | None = None  # 429 / 500 / 529 when the call fails
    error_kind: str = ""  # "rate_limit" | "server_error" | "overloaded"


class Behaviour:
    """Deterministic outcomes for fake calls.

    ``latency_scale`` multiplies every latency (the demo runs faster than a real provider);
    ``error_rate`` is the probability that a call fails with a 429, 500 or 529.
    """

    def __init__(self, seed: int = 0, *, latency_scale: float = 1.0, error_rate: float = 0.01) -> None:
        if latency_scale < 0 or not 0 <= error_rate <= 1:
            raise ValueError("latency_scale must be >= 0 and error_rate within [0, 1]")
        self.seed = seed
        self.latency_scale = latency_scale
        self.error_rate = error_rate

    def rng(self, key: bytes) -> random.Random:
        """A generator seeded by the behaviour's seed and a request's bytes."""
        digest = hashlib.blake2b(key, digest_size=8, key=str(self.seed).encode()).digest()
        return random.Random(int.from_bytes(digest, "big"))

    def outcome(
        self,
        model: str,
        prompt_tokens: int,
        *,
        key: bytes,
        max_tokens: int | None = None,
        cacheable_tokens: int = 0,
        embedding: bool = False,
    ) -> Outcome:
        """The outcome of a call with ``prompt_tokens`` input tokens.

        ``cacheable_tokens`` is the prompt prefix that may be served from the prompt cache (an
        Anthropic system block with ``cache_control``, or OpenAI's automatic 1024-token prefix):
        about 85% of such calls read it from the cache, the rest write it.
        """
        rng = self.rng(key)
        profile = PROFILES.get(model, DEFAULT_PROFILE)
        ttft = profile.ttft_median_ms * math.exp(rng.gauss(0.0, profile.ttft_sigma))
        if embedding:
            output = 0
            finish = "stop"
        else:
            median = profile.output_floor + profile.output_ratio * prompt_tokens
            output = max(1, round(median * math.exp(rng.gauss(0.0, 0.35))))
            finish = "stop"
            if max_tokens is not None and output >= max_tokens:
                output, finish = max_tokens, "length"
        generation = output / profile.tokens_per_second * 1000.0 if profile.tokens_per_second else 0.0
        cached = write = 0
        if cacheable_tokens:
            if rng.random() < 0.85:
                cached = min(cacheable_tokens, prompt_tokens)
            else:
                write = min(cacheable_tokens, prompt_tokens)
        error_status, error_kind = None, ""
        if rng.random() < self.error_rate:
            error_status, error_kind = rng.choice(
                ((429, "rate_limit"), (429, "rate_limit"), (500, "server_error"), (529, "overloaded"))
            )
        return Outcome(
            input_tokens=prompt_tokens,
            output_tokens=output,
            cached_tokens=cached,
            cache_write_tokens=write,
            ttft_ms=ttft * self.latency_scale,
            latency_ms=(ttft + generation) * self.latency_scale,
            text=" ".join(rng.choice(_WORDS) for _ in range(output)),
            finish_reason=finish,
            error_status=error_status,
            error_kind=error_kind,
        )

    def embedding(self, key: bytes, dimensions: int) -> list[float]:
        """A unit-length pseudo-random vector, stable for the same input."""
        rng = self.rng(key)
        vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]
