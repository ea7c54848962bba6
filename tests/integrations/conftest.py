"""Fixtures shared by the provider integration tests."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest

import llmtrace.testing
from llmtrace.testing import CapturedSpans


@pytest.fixture
def cap() -> Iterator[CapturedSpans]:
    """llmtrace instrumented into memory, content captured, no stream-usage injection."""
    with llmtrace.testing.capture() as captured:
        yield captured


async def resolve(value: Any) -> Any:
    """Await `value` if the (async) SDK returned an awaitable."""
    return await value if inspect.isawaitable(value) else value


async def drain(stream: Any) -> list[Any]:
    """Read a sync or async stream to the end."""
    if hasattr(type(stream), "__aiter__"):  # what `async for` looks up (a proxy forwards hasattr)
        return [chunk async for chunk in stream]
    return list(stream)


def attrs(span: Any) -> dict[str, Any]:
    """A span's attributes as a plain dict (tuples stay tuples, as OTel stores them)."""
    return dict(span.attributes or {})


def timing_free(span: Any) -> dict[str, Any]:
    """Attributes minus the two timings, which are asserted separately (positive, ordered)."""
    values = attrs(span)
    ttfc = values.pop("gen_ai.response.time_to_first_chunk", None)
    ttft = values.pop("llmtrace.ttft_ms", None)
    if ttfc is not None:
        assert ttfc > 0
    if ttft is not None:
        assert ttft > 0
    return values
