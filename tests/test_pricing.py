"""Cost comes from genai-prices' bundled data with OTel token semantics; unknown is None."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from llmtrace._internal.pricing import ModelPrice, PriceBook, provider_from_url


def test_cached_input_tokens_are_a_subset_priced_at_the_cache_read_rate() -> None:
    book = PriceBook()
    # gpt-4o: $2.50 / MTok input, $1.25 cached, $10 output -> 200*2.5 + 800*1.25 + 200*10 per MTok
    cost = book.cost_usd(
        provider="openai", model="gpt-4o", input_tokens=1000, output_tokens=200, cached_input_tokens=800
    )
    assert cost == pytest.approx(0.0035)


def test_anthropic_cache_reads_and_writes_use_their_own_rates() -> None:
    book = PriceBook()
    # claude-sonnet-4-5: $3 input, $0.30 cache read, $3.75 cache write, $15 output per MTok.
    cost = book.cost_usd(
        provider="anthropic",
        model="claude-sonnet-4-5",
        input_tokens=5100,
        output_tokens=200,
        cached_input_tokens=4000,
        cache_write_tokens=1000,
    )
    assert cost == pytest.approx((100 * 3 + 4000 * 0.30 + 1000 * 3.75 + 200 * 15) / 1e6)


def test_anthropic_one_hour_cache_writes_cost_more_than_five_minute_ones() -> None:
    book = PriceBook()
    # claude-sonnet-4-5: $3 input, $3.75 per MTok written for 5 minutes, $6 for an hour.
    costs = [
        book.cost_now("anthropic", "claude-sonnet-4-5", 1000, 0, 0, 1000, 0, one_hour)
        for one_hour in (0, 1000, 400, 0)  # 400: 600 x 3.75 + 400 x 6 (all but the first: cached rates)
    ]
    assert costs == [
        pytest.approx(0.00375),
        pytest.approx(0.006),
        pytest.approx(0.00465),
        pytest.approx(0.00375),
    ]


@pytest.mark.parametrize("tier", ["flex", "priority", "default", "scale"])
def test_the_service_tier_that_served_the_call_sets_its_price(tier: str) -> None:
    """gpt-5: flex about half the standard price, priority about twice; default and scale the standard."""
    book = PriceBook()
    tokens = {"input_tokens": 3000, "output_tokens": 700, "cached_input_tokens": 1000}
    usage = Usage(input_tokens=3000, output_tokens=700, cache_read_tokens=1000)
    expected = float(
        calc_price(usage, "gpt-5", provider_id="openai", price_context={"service_tier": tier}).total_price
    )
    standard = book.cost_usd(provider="openai", model="gpt-5", **tokens)
    for _ in range(2):  # the tier's rates probed, then cached
        assert book.cost_usd(provider="openai", model="gpt-5", service_tier=tier, **tokens) == expected
        assert book.cost_now("openai", "gpt-5", 3000, 700, 1000, 0, 0, 0, tier) == expected
    assert (expected < standard, expected > standard) == (tier == "flex", tier == "priority")
    # A call before the tier prices began (2026-10-15 in genai-prices) is not priced from the cache.
    before = datetime(2026, 1, 1, tzinfo=UTC)
    assert (
        book.cost_usd(provider="openai", model="gpt-5", service_tier=tier, when=before, **tokens) == standard
    )


def test_unknown_model_costs_none_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    book = PriceBook()
    with caplog.at_level(logging.WARNING, logger="llmtrace.pricing"):
        for _ in range(3):
            assert (
                book.cost_usd(provider="openai", model="no-such-model-x1", input_tokens=10, output_tokens=1)
                is None
            )
    assert len([r for r in caplog.records if "no-such-model-x1" in r.getMessage()]) == 1


def test_overrides_win_and_default_cached_rate_is_the_input_rate() -> None:
    book = PriceBook({"My-Model": {"input": 1.0, "output": 2.0}})
    assert book.cost_usd(
        provider="openai", model="my-model", input_tokens=1000, output_tokens=500
    ) == pytest.approx(0.002)
    book = PriceBook({"gpt-4o": ModelPrice(input=1.0, output=1.0, cached_input=0.5)})
    cost = book.cost_usd(
        provider="openai", model="gpt-4o", input_tokens=1000, output_tokens=0, cached_input_tokens=1000
    )
    assert cost == pytest.approx(0.0005)


def test_a_bad_override_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="'input' and 'output'"):
        PriceBook({"m": {"prompt": 1.0}})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.openai.com/v1", "openai"),
        ("https://my-resource.openai.azure.com/openai/deployments/gpt", "azure.ai.openai"),
        ("https://us-central1-aiplatform.googleapis.com/v1", "gcp.vertex_ai"),
        ("https://generativelanguage.googleapis.com", "gcp.gemini"),
        ("https://bedrock-runtime.us-east-1.amazonaws.com", "aws.bedrock"),
        ("http://localhost:11434/v1", "ollama"),
        ("http://gpu-vllm-1:8000/v1", "vllm"),
        ("https://openrouter.ai/api/v1", "openrouter"),
        ("https://api.anthropic.com", "anthropic"),
        ("https://api.groq.com/openai/v1", "groq"),
        ("http://127.0.0.1:8000/v1", "openai"),
        (None, "openai"),
    ],
)
def test_provider_from_base_url(url: str | None, expected: str) -> None:
    assert provider_from_url(url, "openai") == expected


def test_router_model_ids_are_priced_through_the_router() -> None:
    cost = PriceBook().cost_usd(
        provider="openrouter", model="openai/gpt-4o", input_tokens=1000, output_tokens=100
    )
    assert cost == pytest.approx(0.0035)


def _genai(provider: str, model: str, when: datetime | None = None, **tokens: Any) -> float:
    """genai-prices' own answer, the reference the price book's fast path must equal exactly."""
    usage = Usage(
        input_tokens=tokens.get("input_tokens", 0),
        output_tokens=tokens.get("output_tokens", 0),
        cache_read_tokens=tokens.get("cached_input_tokens") or None,
        cache_write_tokens=tokens.get("cache_write_tokens") or None,
        cache_write_1h_tokens=tokens.get("cache_write_1h_tokens") or None,
        output_reasoning_tokens=tokens.get("reasoning_tokens") or None,
        web_searches=tokens.get("web_searches") or None,
    )
    return float(calc_price(usage, model, provider_id=provider, genai_request_timestamp=when).total_price)


@pytest.mark.parametrize(
    ("provider", "model", "tokens"),
    [
        ("openai", "gpt-4o", {"input_tokens": 1234, "output_tokens": 567}),
        ("openai", "gpt-4o", {"input_tokens": 9000, "output_tokens": 10, "cached_input_tokens": 8191}),
        ("openai", "o3", {"input_tokens": 700, "output_tokens": 3000, "reasoning_tokens": 2500}),
        ("openai", "gpt-4o-mini", {"input_tokens": 0, "output_tokens": 1}),
        (
            "anthropic",
            "claude-sonnet-4-5",
            {
                "input_tokens": 9100,
                "output_tokens": 77,
                "cached_input_tokens": 4000,
                "cache_write_tokens": 5000,
            },
        ),
        # gemini-2.5-pro's prices rise for every token once the input exceeds 200k: both sides.
        (
            "google",
            "gemini-2.5-pro",
            {"input_tokens": 200_000, "output_tokens": 900, "cached_input_tokens": 5},
        ),
        (
            "google",
            "gemini-2.5-pro",
            {"input_tokens": 200_001, "output_tokens": 900, "cached_input_tokens": 5},
        ),
        ("anthropic", "claude-3-5-haiku-20241022", {"input_tokens": 3999, "output_tokens": 799}),
        # Anthropic's 1-hour cache writes: 2x the input price, against 1.25x for 5 minutes.
        (
            "anthropic",
            "claude-sonnet-4-5",
            {
                "input_tokens": 9100,
                "output_tokens": 77,
                "cache_write_tokens": 5000,
                "cache_write_1h_tokens": 3000,
            },
        ),
        # Web searches: $10 per 1,000 on Anthropic and OpenAI; a model without the price ignores them.
        ("anthropic", "claude-sonnet-4-5", {"input_tokens": 900, "output_tokens": 70, "web_searches": 3}),
        ("openai", "gpt-4o", {"input_tokens": 900, "output_tokens": 70, "web_searches": 2}),
        ("deepseek", "deepseek-chat", {"input_tokens": 900, "output_tokens": 70, "web_searches": 2}),
        (  # a price without a 1-hour rate: those writes at the cache write rate
            "google",
            "gemini-2.5-flash",
            {
                "input_tokens": 900,
                "output_tokens": 7,
                "cache_write_tokens": 500,
                "cache_write_1h_tokens": 500,
            },
        ),
    ],
)
def test_the_fast_path_equals_genai_prices_exactly(provider: str, model: str, tokens: dict[str, Any]) -> None:
    book = PriceBook()
    for _ in range(2):  # the first call probes and caches the rates, the second uses them
        assert book.cost_usd(provider=provider, model=model, **tokens) == _genai(provider, model, **tokens)


def test_above_its_tier_a_model_costs_its_tier_price() -> None:
    book = PriceBook()
    below, above = (
        book.cost_usd(provider="google", model="gemini-2.5-pro", input_tokens=n, output_tokens=0)
        for n in (200_000, 200_001)
    )
    # $1.25 / MTok input up to 200k tokens, $2.50 for every token of a larger request.
    assert (below, above) == (pytest.approx(0.25), pytest.approx(200_001 * 2.5 / 1e6))


def test_random_usages_match_genai_prices_exactly_across_models() -> None:
    rng = random.Random(5)
    book = PriceBook()
    models = [
        ("openai", "gpt-4o"),
        ("openai", "gpt-4.1-mini"),
        ("anthropic", "claude-opus-4-1"),
        ("google", "gemini-2.5-flash"),
        ("google", "gemini-2.5-pro"),
        ("deepseek", "deepseek-chat"),
    ]
    for _ in range(300):
        provider, model = rng.choice(models)
        total_in = rng.randrange(0, 300_000)
        cached = rng.randrange(0, total_in + 1)
        write = rng.randrange(0, total_in - cached + 1) if provider == "anthropic" else 0
        out = rng.randrange(0, 5000)
        tokens = {
            "input_tokens": total_in,
            "output_tokens": out,
            "cached_input_tokens": cached,
            "cache_write_tokens": write,
            "cache_write_1h_tokens": rng.randrange(0, write + 1),
            "reasoning_tokens": rng.randrange(0, out + 1),
        }
        when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 60 * 24 * 400))
        assert book.cost_usd(provider=provider, model=model, when=when, **tokens) == _genai(
            provider, model, when, **tokens
        ), (provider, model, tokens, when)


def test_a_dated_price_change_applies_from_its_day() -> None:
    # o3's price fell on 2025-06-10 ($10/$40 -> $2/$8 per MTok).
    book = PriceBook()
    tokens = {"input_tokens": 1_000_000, "output_tokens": 0}
    before = book.cost_usd(provider="openai", model="o3", when=datetime(2025, 6, 9, 23, tzinfo=UTC), **tokens)
    after = book.cost_usd(provider="openai", model="o3", when=datetime(2025, 6, 10, 1, tzinfo=UTC), **tokens)
    assert (before, after) == (pytest.approx(10.0), pytest.approx(2.0))
    # The same moments as nanoseconds since the epoch (what span ingest passes).
    assert [
        book.cost_usd(provider="openai", model="o3", when_ns=int(moment.timestamp()) * 10**9, **tokens)
        for moment in (datetime(2025, 6, 9, 23, tzinfo=UTC), datetime(2025, 6, 10, 1, tzinfo=UTC))
    ] == [before, after]


def test_off_peak_prices_follow_the_time_of_day() -> None:
    book = PriceBook()
    day = datetime(2025, 3, 1, tzinfo=UTC)
    costs = {
        hour: book.cost_usd(
            provider="deepseek",
            model="deepseek-chat",
            input_tokens=1000,
            output_tokens=1000,
            when=day + timedelta(hours=hour),
        )
        for hour in (3, 20)
    }
    assert costs[3] is not None and costs[3] == 2 * (costs[20] or 0)  # off-peak (16:30-00:30 UTC): half
    assert costs == {
        h: _genai(
            "deepseek", "deepseek-chat", day + timedelta(hours=h), input_tokens=1000, output_tokens=1000
        )
        for h in (3, 20)
    }


def test_usage_genai_prices_refuses_costs_none_instead_of_raising() -> None:
    # More cache reads than input tokens: inconsistent counts from a buggy sender.
    assert (
        PriceBook().cost_usd(
            provider="openai", model="gpt-4o", input_tokens=10, output_tokens=5, cached_input_tokens=20
        )
        is None
    )
