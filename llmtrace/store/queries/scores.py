"""Write and list scores; reads use ``FINAL`` so a re-score replaces the earlier value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llmtrace.store.queries.spans import utc
from llmtrace.store.rows import SCORE_COLUMNS

SCORE_FIELDS: tuple[str, ...] = SCORE_COLUMNS
MAX_LIMIT = 1000  # largest page; a query may fetch one row more to see whether another page follows


@dataclass(frozen=True, slots=True)
class ScoreKey:
    """Position of a score in newest-first order (the primary key fields after the timestamp)."""

    timestamp: datetime
    name: str
    trace_id: str
    span_id: str
    source: str


def list_scores(
    store: Any,
    project: str,
    *,
    trace_id: str | None = None,
    span_id: str | None = None,
    name: str | None = None,
    after: ScoreKey | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Scores of ``project``, newest first, optionally filtered; at most ``limit``, strictly after ``after``."""
    params: dict[str, Any] = {
        "db": store.database,
        "project": project,
        "limit": max(1, min(limit, MAX_LIMIT + 1)),
    }
    conditions = ["project = {project:String}"]
    for column, value in (("trace_id", trace_id), ("span_id", span_id), ("name", name)):
        if value is not None:
            conditions.append(f"{column} = {{f_{column}:String}}")
            params[f"f_{column}"] = value
    if after is not None:
        conditions.append(
            "(timestamp, name, trace_id, span_id, source) < ({k_ts:DateTime64(6, 'UTC')},"
            " {k_name:String}, {k_trace:String}, {k_span:String}, {k_source:String})"
        )
        params.update(
            k_ts=utc(after.timestamp),
            k_name=after.name,
            k_trace=after.trace_id,
            k_span=after.span_id,
            k_source=after.source,
        )
    sql = (
        f"SELECT {', '.join(SCORE_FIELDS)} FROM {{db:Identifier}}.scores FINAL"
        f" WHERE {' AND '.join(conditions)}"
        " ORDER BY timestamp DESC, name DESC, trace_id DESC, span_id DESC, source DESC"
        " LIMIT {limit:UInt32}"
    )
    rows = store.client.query(sql, parameters=params).result_rows
    return [dict(zip(SCORE_FIELDS, row, strict=True)) for row in rows]


def score_row(project: str, score: Mapping[str, Any], timestamp: datetime) -> dict[str, Any]:
    """A `scores` row from a validated API score (defaults for the optional fields)."""
    return {
        "project": project,
        "trace_id": score["trace_id"],
        "span_id": score.get("span_id") or "",
        "name": score["name"],
        "value": float(score["value"]),
        "label": score.get("label") or "",
        "source": score.get("source") or "api",
        "comment": score.get("comment") or "",
        "timestamp": timestamp,
    }
