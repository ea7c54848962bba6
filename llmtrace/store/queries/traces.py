"""One trace: all its spans (oldest first) and every score attached to it or to its spans."""

from __future__ import annotations

from typing import Any

from llmtrace.store.queries.scores import SCORE_FIELDS
from llmtrace.store.queries.spans import SPAN_FIELDS

MAX_TRACE_SPANS = 10_000


def trace_spans(store: Any, project: str, trace_id: str) -> list[dict[str, Any]]:
    """The spans of ``trace_id`` in ``project``, oldest first (each once); [] if the trace is unknown."""
    sql = (
        f"SELECT {', '.join(SPAN_FIELDS)} FROM {{db:Identifier}}.spans"
        " WHERE project = {project:String} AND trace_id = {trace_id:String}"
        " ORDER BY start_time, span_id LIMIT 1 BY span_id LIMIT {cap:UInt32}"
    )
    params = {"db": store.database, "project": project, "trace_id": trace_id, "cap": MAX_TRACE_SPANS}
    rows = store.client.query(sql, parameters=params).result_rows
    return [dict(zip(SPAN_FIELDS, row, strict=True)) for row in rows]


def trace_scores(store: Any, project: str, trace_id: str) -> list[dict[str, Any]]:
    """Current scores of ``trace_id`` (re-scores replace earlier values, hence FINAL)."""
    sql = (
        f"SELECT {', '.join(SCORE_FIELDS)} FROM {{db:Identifier}}.scores FINAL"
        " WHERE project = {project:String} AND trace_id = {trace_id:String}"
        " ORDER BY timestamp, name"
    )
    params = {"db": store.database, "project": project, "trace_id": trace_id}
    rows = store.client.query(sql, parameters=params).result_rows
    return [dict(zip(SCORE_FIELDS, row, strict=True)) for row in rows]
