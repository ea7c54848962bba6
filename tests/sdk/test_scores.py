"""llmtrace.score: validation and linkage (delivery is covered by the endpoint and store tests)."""

from __future__ import annotations

import math

import pytest

import llmtrace
from llmtrace.testing import CapturedSpans


def test_score_links_to_current_span_or_given_ids(capture_spans: CapturedSpans) -> None:
    with llmtrace.span("answer") as s:
        llmtrace.score("helpfulness", 1, label="good")
    ctx = s.get_span_context()
    llmtrace.score("trace-wide", 0.25, trace_id=format(ctx.trace_id, "032x").upper(), source="eval")
    first, second = capture_spans.scores()
    assert (first.trace_id, first.span_id, first.name, first.value, first.label, first.source) == (
        format(ctx.trace_id, "032x"),
        format(ctx.span_id, "016x"),
        "helpfulness",
        1.0,
        "good",
        "sdk",
    )
    assert (second.trace_id, second.span_id, second.value, second.source) == (
        format(ctx.trace_id, "032x"),
        "",
        0.25,
        "eval",
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("", 1.0), {"trace_id": "a" * 32}, "name"),
        (("x", math.nan), {"trace_id": "a" * 32}, "finite"),
        (("x", math.inf), {"trace_id": "a" * 32}, "finite"),
        (("x", "0.5"), {"trace_id": "a" * 32}, "finite"),
        (("x", True), {"trace_id": "a" * 32}, "finite"),
        (("x", 1.0), {"trace_id": "xyz"}, "trace_id"),
        (("x", 1.0), {"trace_id": "0" * 32}, "not all zeros"),  # the invalid id, though 32 hex digits
        (("x", 1.0), {"trace_id": "a" * 32, "span_id": "123"}, "span_id"),
        (("x", 1.0), {"trace_id": "a" * 32 + "\n"}, "trace_id"),
        (("x", 1.0), {"trace_id": "a" * 32, "span_id": "a" * 16 + "\n"}, "span_id"),
        (("x", 1.0), {"span_id": "a" * 16}, "trace_id"),
        (("x", 1.0), {}, "outside a span"),
        (("x", 1.0), {"trace_id": "a" * 32, "source": ""}, "source"),
        (("x", 1.0), {"trace_id": "a" * 32, "source": "s" * 257}, "source"),  # over the server's limit
    ],
)
def test_bad_scores_raise_value_error(
    capture_spans: CapturedSpans, args: tuple, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        llmtrace.score(*args, **kwargs)
    assert capture_spans.scores() == []


def test_score_when_not_instrumented_is_a_no_op() -> None:
    llmtrace.uninstrument()
    llmtrace.score("x", 1.0, trace_id="a" * 32)
