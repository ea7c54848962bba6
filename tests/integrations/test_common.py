"""Shared integration machinery: endpoint facts, and the fast attribute store equals the SDK's."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import SpanLimits, TracerProvider

from llmtrace.integrations._common import endpoint_facts, set_attributes


def test_endpoint_facts() -> None:
    assert endpoint_facts("https://acme.openai.azure.com/openai/", "openai") == (
        "azure.ai.openai",
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
