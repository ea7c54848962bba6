"""Shared integration machinery: the fast paths (per-token prices, attribute storing) equal the slow ones."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import SpanLimits, TracerProvider

from llmtrace._internal.pricing import PriceBook, default_price_book
from llmtrace.integrations._common import TokenUsage, _model_cost, endpoint_facts, set_attributes


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


def _sdk_span(limits: SpanLimits | None = None) -> Any:
    return TracerProvider(span_limits=limits or SpanLimits()).get_tracer("t").start_span("s")


def test_set_attributes_stores_what_the_sdk_would_store() -> None:
    attrs = {"s": "text", "i": 1, "f": 0.5, "b": True, "l": ["stop", "length"], "t": ("a",)}
    fast, public = _sdk_span(), _sdk_span()
    set_attributes(fast, dict(attrs))
    public.set_attributes(dict(attrs))
    assert dict(fast.attributes) == dict(public.attributes) == {**attrs, "l": ("stop", "length")}


def test_set_attributes_leaves_unusual_values_and_limits_to_the_sdk() -> None:
    odd, public, value = _sdk_span(), _sdk_span(), object()
    set_attributes(odd, {"mixed": ["a", 1], "obj": value, "ok": "x"})
    public.set_attributes({"mixed": ["a", 1], "obj": value, "ok": "x"})
    assert dict(odd.attributes) == dict(public.attributes)
    assert odd.attributes["mixed"] == ("a", 1) and odd.attributes["obj"] is not value
    capped = _sdk_span(SpanLimits(max_span_attribute_length=3))
    set_attributes(capped, {"s": "truncate me"})
    assert capped.attributes["s"] == "tru"
    full = _sdk_span(SpanLimits(max_span_attributes=2))
    set_attributes(full, {"a": "1", "b": "2", "c": "3"})
    assert len(full.attributes) == 2
    ended = _sdk_span()
    ended.end()
    set_attributes(ended, {"late": "x"})
    assert "late" not in ended.attributes
