"""``llmtrace.score``: attach a quality signal to a trace or span, delivered like spans."""

from __future__ import annotations

import math
import re
import time

from opentelemetry import trace as trace_api

from llmtrace._internal import runtime
from llmtrace._internal.export import Score
from llmtrace._internal.guard import guarded

_TRACE_ID = re.compile(r"^[0-9a-f]{32}\Z")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}\Z")
_MAX_NAME = 200
_MAX_TEXT = 8192
# The server's limit: a longer source got the whole batch (up to 512 scores) refused with a 422.
_MAX_SOURCE = 256


def score(
    name: str,
    value: float,
    *,
    trace_id: str | None = None,
    span_id: str | None = None,
    comment: str | None = None,
    label: str | None = None,
    source: str = "sdk",
) -> None:
    """Record a score (e.g. a user rating or an eval result) for a span or a whole trace.

    Without ids it scores the current span. With only ``trace_id`` it scores the whole trace.
    Delivered through the configured backend (server or store) without blocking; a re-score with
    the same name, target and source replaces the earlier value.

        with llmtrace.span("answer"):
            ...
            llmtrace.score("helpfulness", 0.8, comment="thumbs up")

    Raises ``ValueError`` for an empty name, a non-finite value, a source longer than 256
    characters, malformed ids, or when no ids are given outside any span.
    """
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_NAME:
        raise ValueError(f"a score needs a non-empty name of at most {_MAX_NAME} characters, got {name!r}")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"a score value must be a finite number, got {value!r}")
    if not isinstance(source, str) or not source or len(source) > _MAX_SOURCE:
        raise ValueError(
            f"source= must be a non-empty string of at most {_MAX_SOURCE} characters, got {source!r}"
        )
    if trace_id is None:
        if span_id is not None:
            raise ValueError("span_id= needs trace_id= too")
        ctx = trace_api.get_current_span().get_span_context()
        if not ctx.is_valid:
            raise ValueError(
                "llmtrace.score() outside a span needs trace_id= (and optionally span_id=): call it "
                "inside the traced function (@llmtrace.trace, with llmtrace.span(...)) whose result "
                "it scores, or pass the trace_id of the trace you are scoring"
            )
        trace_id, span_id = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
    trace_id = trace_id.lower() if isinstance(trace_id, str) else trace_id
    span_id = span_id.lower() if isinstance(span_id, str) else span_id
    if not isinstance(trace_id, str) or not _TRACE_ID.match(trace_id) or trace_id == "0" * 32:
        raise ValueError(f"trace_id= must be 32 hex characters, not all zeros, got {trace_id!r}")
    if span_id is not None and (not isinstance(span_id, str) or not _SPAN_ID.match(span_id)):
        raise ValueError(f"span_id= must be 16 hex characters, got {span_id!r}")
    active = runtime.active()
    if active is None:
        return  # not instrumented: scoring is a no-op, like spans
    score_record = Score(
        trace_id=trace_id,
        span_id=span_id or "",
        name=name.strip(),
        value=float(value),
        label=(label or "")[:_MAX_TEXT],
        comment=(comment or "")[:_MAX_TEXT],
        source=source,
        timestamp_ns=time.time_ns(),
        project=active.settings.project,
    )
    with guarded("queueing a score"):
        runtime.put_score(score_record)
