"""Shared integration machinery: the per-token price fast path must equal the price book exactly."""

from __future__ import annotations

import pytest

from llmtrace._internal.pricing import PriceBook, default_price_book
from llmtrace.integrations._common import TokenUsage, _model_cost, endpoint_facts


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4o"),
        ("openai", "o3"),
        ("anthropic", "claude-sonnet-4-5"),
        ("google", "gemini-2.5-pro"),
    ],
)
@pytest.mark.parametrize("input_tokens", [5_100, 150_000, 300_000])  # below and above the 200k tiers
def test_fast_cost_equals_the_price_book(provider: str, model: str, input_tokens: int) -> None:
    usage = TokenUsage(input=input_tokens, output=200, cached=4000, cache_write=1000, reasoning=50)
    expected = default_price_book.cost_usd(
        provider=provider,
        model=model,
        input_tokens=input_tokens,
        output_tokens=200,
        cached_input_tokens=4000,
        cache_write_tokens=1000,
        reasoning_tokens=50,
    )
    assert expected is not None
    assert _model_cost(default_price_book, provider, model, usage) == pytest.approx(expected, rel=1e-12)


def test_overrides_and_unknown_models() -> None:
    book = PriceBook({"my-model": {"input": 1.0, "output": 2.0, "cached_input": 0.5}})
    usage = TokenUsage(input=1000, output=100, cached=400)
    assert _model_cost(book, "openai", "my-model", usage) == pytest.approx(
        (600 * 1 + 400 * 0.5 + 100 * 2) / 1e6
    )
    assert _model_cost(book, "openai", "no-such-model-xyz", usage) is None


def test_endpoint_facts() -> None:
    assert endpoint_facts("https://acme.openai.azure.com/openai/", "openai") == (
        "azure",
        {"server.address": "acme.openai.azure.com", "server.port": 443},
    )
    assert endpoint_facts("http://127.0.0.1:8000/v1", "openai") == (
        "openai",
        {"server.address": "127.0.0.1", "server.port": 8000},
    )
