"""Cost comes from genai-prices' bundled data with OTel token semantics; unknown is None."""

from __future__ import annotations

import logging

import pytest

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
        ("https://my-resource.openai.azure.com/openai/deployments/gpt", "azure"),
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
