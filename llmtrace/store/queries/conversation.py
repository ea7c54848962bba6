"""The LLM calls of a set of traces, oldest first: what a session page shows as its conversation."""

from __future__ import annotations

from typing import Any

CONVERSATION_FIELDS: tuple[str, ...] = (
    "trace_id",
    "span_id",
    "start_time",
    "name",
    "kind",
    "model",
    "status",
    "error_message",
    "input",
    "output",
)
MAX_CALLS = 500


def llm_calls_of_traces(store: Any, project: str, trace_ids: list[str]) -> list[dict[str, Any]]:
    """LLM spans (with their input and output) of ``trace_ids``, oldest first, at most MAX_CALLS."""
    if not trace_ids:
        return []
    sql = (
        f"SELECT {', '.join(CONVERSATION_FIELDS)} FROM {{db:Identifier}}.spans"
        " WHERE project = {project:String} AND trace_id IN {ids:Array(String)} AND kind = 'llm'"
        " ORDER BY start_time, span_id LIMIT 1 BY span_id LIMIT {cap:UInt32}"
    )
    params = {"db": store.database, "project": project, "ids": trace_ids, "cap": MAX_CALLS}
    rows = store.client.query(sql, parameters=params).result_rows
    return [dict(zip(CONVERSATION_FIELDS, row, strict=True)) for row in rows]
