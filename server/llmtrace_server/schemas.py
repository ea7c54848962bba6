"""Request and response models of the query API (``...Public`` = what a client sees).

Fields are named like the `spans` / `scores` columns; ids are lowercase hex strings.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import HTTPException, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

T = TypeVar("T")

TRACE_ID_PATTERN = r"^[0-9a-fA-F]{32}$"
SPAN_ID_PATTERN = r"^[0-9a-fA-F]{16}$"

TraceId = Annotated[
    str,
    Field(pattern=TRACE_ID_PATTERN, examples=["4bf92f3577b34da6a3ce929d0e0e4736"]),
    AfterValidator(str.lower),
]
SpanId = Annotated[
    str, Field(pattern=SPAN_ID_PATTERN, examples=["00f067aa0ba902b7"]), AfterValidator(str.lower)
]


_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
_LATEST = datetime(2106, 1, 1, tzinfo=UTC)  # the end of ClickHouse DateTime, used by the rollups


def _storable_time(value: datetime | None) -> datetime | None:
    """Naive times are UTC; the store cannot represent times outside 1970-2105."""
    if value is None:
        return None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not _EARLIEST <= value < _LATEST:
        raise ValueError("time must be between 1970-01-02 and 2105-12-31 (UTC)")
    return value


TimeParam = Annotated[datetime | None, AfterValidator(_storable_time)]


class Page(BaseModel, Generic[T]):
    """One page of a newest-first listing; pass ``next_cursor`` back as ``cursor`` for the next."""

    data: list[T]
    next_cursor: str | None = None


class SpanPublic(BaseModel):
    project: str
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    service_name: str
    environment: str
    start_time: datetime
    end_time: datetime
    duration_ms: float
    status: str
    error_type: str
    error_message: str
    provider: str
    operation: str
    request_model: str
    response_model: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    usage_source: str
    cost_usd: float | None
    ttft_ms: float | None
    finish_reason: str
    prompt_name: str
    prompt_version: str
    user_id: str
    session_id: str
    tags: list[str]
    input: str
    output: str
    output_chars: int
    attributes: dict[str, str]
    ingested_at: datetime


class ScorePublic(BaseModel):
    project: str
    trace_id: str
    span_id: str
    name: str
    value: float
    label: str
    source: str
    comment: str
    timestamp: datetime


class SpanNodePublic(SpanPublic):
    """A span in a trace tree, with its scores and its child spans (oldest first)."""

    scores: list[ScorePublic] = Field(default_factory=list)
    children: list[SpanNodePublic] = Field(default_factory=list)


class TracePublic(BaseModel):
    trace_id: str
    span_count: int
    # Root spans (no parent, or a parent that never arrived), each holding its subtree.
    spans: list[SpanNodePublic]
    # Scores on the trace as a whole (span_id "").
    scores: list[ScorePublic]


MAX_SCORE_CLOCK_SKEW = timedelta(hours=1)


def _score_time(value: datetime | None) -> datetime | None:
    """UTC (a naive time is UTC); from 1970 up to an hour ahead of the server's clock."""
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if value.year < 1970 or value > datetime.now(UTC) + MAX_SCORE_CLOCK_SKEW:
        raise ValueError("timestamp must be after 1970 and not more than an hour in the future")
    return value


class ScoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trace_id: TraceId
    span_id: SpanId | None = None
    name: str = Field(min_length=1, max_length=256)
    value: float = Field(allow_inf_nan=False)
    label: str | None = Field(default=None, max_length=8192)
    comment: str | None = Field(default=None, max_length=65536)
    source: str | None = Field(default=None, min_length=1, max_length=256)
    timestamp: Annotated[datetime | None, AfterValidator(_score_time)] = Field(
        default=None,
        description="when the score was given (the SDK sends the time of score()); default: arrival",
    )


class ScoresIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scores: list[ScoreIn] = Field(min_length=1, max_length=10_000)


class ScoresAcceptedPublic(BaseModel):
    accepted: int


class MetricTotalsPublic(BaseModel):
    calls: int
    errors: int
    error_rate: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None


class MetricPointPublic(MetricTotalsPublic):
    t: datetime


class MetricSeriesPublic(BaseModel):
    group: dict[str, str]
    points: list[MetricPointPublic]
    totals: MetricTotalsPublic = Field(
        description="over all the series' buckets; its quantiles are the window's own, not an average of the buckets'"
    )


class MetricsPublic(BaseModel):
    interval: str
    series: list[MetricSeriesPublic]


class HealthPublic(BaseModel):
    status: str


def encode_cursor(parts: list[Any]) -> str:
    """An opaque cursor from the sort key of the last row of a page."""
    raw = json.dumps([p.isoformat() if isinstance(p, datetime) else p for p in parts], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    """The sort key inside ``cursor``; 400 if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or len(parts) != size or not all(isinstance(p, str) for p in parts):
            raise ValueError("wrong shape")
        parts[0] = datetime.fromisoformat(parts[0])
    except (binascii.Error, ValueError, UnicodeDecodeError, TypeError, RecursionError):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "invalid cursor") from None
    return parts


class TraceSummaryPublic(BaseModel):
    """One row of the trace list: the trace's root span and totals over all its spans."""

    trace_id: str
    start_time: datetime
    end_time: datetime
    duration_ms: float
    root_name: str
    service_name: str
    environment: str
    spans: int
    llm_calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    status: str  # 'error' if any span errored, else 'ok'
    user_id: str
    session_id: str
    model: str  # the first of ``models`` (alphabetically); '' without LLM calls
    models: list[str]
    prompt_name: str
    prompt_names: list[str]


class SessionPublic(BaseModel):
    """Totals over every span that carries this ``session.id``."""

    session_id: str
    user_id: str
    first_seen: datetime
    last_seen: datetime
    duration_ms: float
    traces: int
    spans: int
    llm_calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


class SessionDetailPublic(BaseModel):
    """A session's totals and its traces, oldest first."""

    session: SessionPublic
    traces: list[TraceSummaryPublic]


class UserPublic(BaseModel):
    """Totals over every span that carries this ``user.id`` (sessions and traces are distinct counts)."""

    user_id: str
    first_seen: datetime
    last_seen: datetime
    sessions: int
    traces: int
    spans: int
    llm_calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
