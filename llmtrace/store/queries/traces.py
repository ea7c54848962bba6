"""Traces: the newest-first trace list, and one trace's spans (oldest first) and scores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llmtrace.store.queries._summaries import TRACE_ORDER, as_utc, newest_groups
from llmtrace.store.queries.scores import SCORE_FIELDS
from llmtrace.store.queries.spans import MAX_LIMIT, SPAN_FIELDS, SpanQuery

# Aggregates of one trace over its trace_summaries rows, in TRACE_FIELDS order after the key and
# start time. Aliases never reuse a column name (ClickHouse would resolve the column to the alias).
_TRACE_AGGREGATES = """max(last_end) AS a_end, min(root) AS a_root, sum(spans) AS a_spans,
    sum(llm_calls) AS a_llm_calls, sum(errors) AS a_errors, sum(in_tokens) AS a_in, sum(out_tokens) AS a_out,
    sum(cost) AS a_cost, max(user) AS a_user, max(session) AS a_session,
    arraySort(groupUniqArrayArray(models)) AS a_models, arraySort(groupUniqArrayArray(prompt_names)) AS a_prompts"""

TRACE_FIELDS: tuple[str, ...] = (
    "trace_id",
    "start_time",
    "end_time",
    "duration_ms",
    "root_name",
    "service_name",
    "environment",
    "spans",
    "llm_calls",
    "errors",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "status",
    "user_id",
    "session_id",
    "model",
    "models",
    "prompt_name",
    "prompt_names",
)


@dataclass(frozen=True, slots=True)
class TraceKey:
    """Position of a trace in newest-first order (by start time): the next page starts below it."""

    start_time: datetime
    trace_id: str


def list_traces(
    store: Any, project: str, query: SpanQuery, *, after: TraceKey | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Up to ``limit`` traces of ``project`` newest first (by start), one row each (see TRACE_FIELDS).

    A filter keeps the traces with at least one matching span (``model="gpt-4o"``: traces with a
    gpt-4o call); ``status`` is the trace's: 'error' if any span errored, else 'ok'. ``since`` and
    ``until`` bound the trace's start. Raises ValueError for a filter traces do not have.
    """
    rows = newest_groups(
        store,
        project,
        query,
        TRACE_ORDER,
        columns=_TRACE_AGGREGATES,
        after=(after.start_time, after.trace_id) if after else None,
        limit=max(1, min(limit, MAX_LIMIT + 1)),
    )
    return [trace_row(row) for row in rows]


def trace_row(row: tuple[Any, ...]) -> dict[str, Any]:
    """A trace dict from ``(trace_id, start, *_TRACE_AGGREGATES)``."""
    (
        trace_id,
        start,
        end,
        root,
        spans,
        calls,
        errors,
        tokens_in,
        tokens_out,
        cost,
        user,
        session,
        models,
        prompts,
    ) = row
    start, end = as_utc(start), as_utc(end)
    _, _, root_name, service_name, environment = root
    return {
        "trace_id": trace_id,
        "start_time": start,
        "end_time": end,
        "duration_ms": max(0.0, (end - start).total_seconds() * 1000),
        "root_name": root_name,
        "service_name": service_name,
        "environment": environment,
        "spans": int(spans),
        "llm_calls": int(calls),
        "errors": int(errors),
        "input_tokens": int(tokens_in),
        "output_tokens": int(tokens_out),
        "cost_usd": float(cost),
        "status": "error" if errors else "ok",
        "user_id": user,
        "session_id": session,
        "model": models[0] if models else "",
        "models": list(models),
        "prompt_name": prompts[0] if prompts else "",
        "prompt_names": list(prompts),
    }


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


def traces_at(store: Any, project: str, at: list[tuple[datetime, str]]) -> list[dict[str, Any]]:
    """Trace rows (oldest first) of the traces in ``at``, (hour, trace_id) pairs, from the
    trace_summaries rows of those hours only: a primary-key lookup of a few granules."""
    if not at:
        return []
    sql = (
        f"SELECT trace_id, min(first_start) AS g_time, {_TRACE_AGGREGATES}"
        " FROM {db:Identifier}.trace_summaries"
        " WHERE project = {project:String} AND (hour, trace_id) IN {at:Array(Tuple(DateTime('UTC'), String))}"
        " GROUP BY trace_id ORDER BY g_time, trace_id"
    )
    params = {"db": store.database, "project": project, "at": sorted(set(at))}
    return [trace_row(row) for row in store.client.query(sql, parameters=params).result_rows]
