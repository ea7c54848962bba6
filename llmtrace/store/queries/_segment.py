"""Shared pieces of the analytics queries: segment filters and "scores with their span's columns".

Filter names come from the API; columns from :data:`SEGMENT_COLUMNS` only (present in ``spans``,
``spans_hourly`` and - except ``prompt_version`` - ``cost_5m``). Values are always bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SEGMENT_COLUMNS: Mapping[str, str] = {
    "service": "service_name",
    "model": "model",
    "provider": "provider",
    "prompt": "prompt_name",
    "prompt_version": "prompt_version",
    "environment": "environment",
}


def segment_where(
    filters: Mapping[str, str | None],
    params: dict[str, Any],
    *,
    prefix: str = "",
    allowed: Mapping[str, str] = SEGMENT_COLUMNS,
) -> str:
    """``AND col = {f_name:String}`` for each non-empty filter (unknown names raise ValueError)."""
    parts = []
    for name, value in filters.items():
        if value is None:
            continue
        if name not in allowed:
            raise ValueError(f"unknown filter {name!r}; use one of {', '.join(allowed)}")
        params[f"f_{name}"] = value
        parts.append(f" AND {prefix}{allowed[name]} = {{f_{name}:String}}")
    return "".join(parts)


# Which LLM call of a trace a trace-level score counts for: the last one that names a prompt, else
# the last one (span id breaks ties, so the choice never depends on read order).
SCORED_CALL_ORDER = "(prompt_name != '', start_time, span_id)"


# A trace's LLM calls are looked for this far around the query's time range: enough for any trace
# but day-long agents, and it lets ClickHouse skip the partitions and granules outside it.
TRACE_REACH = "INTERVAL 1 DAY"


def scored_spans_sql(
    span_where: str, span_columns: str, *, by_name: bool = True, time_range: tuple[str, str] | None = None
) -> str:
    """A subquery of ``scores FINAL`` rows (``name = {score_name:String}``) with their LLM call's columns.

    The rule (docs/analytics.md, "Which call a score counts for"): a score on an LLM call counts
    for that call; a score on the whole trace (``span_id = ''``) or on a span that is not an LLM
    call (the function ``@llmtrace.trace`` wraps, an agent step) counts for the trace's last LLM
    call that names a prompt, else its last LLM call. Each score counts once, at that call's start
    time, with its prompt, prompt version, model, ... The call is chosen among all of the trace's
    LLM calls before ``span_where`` filters (time window, segment), so a filter never moves a
    score to another call. Attribution happens at read time, so a score that arrived before its
    spans counts as soon as they are stored. ``span_where`` may use the bound parameters of the
    caller and the span columns ``start_time`` and :data:`SEGMENT_COLUMNS`; ``span_columns`` lists
    the columns to carry (comma-separated). With ``by_name=False`` every score name is returned,
    as column ``sc_name``. ``time_range`` (two SQL expressions of the caller's bound parameters,
    e.g. ``("{since:DateTime64(6)}", "{until:DateTime64(6)}")``) bounds the search for a trace's
    calls to :data:`TRACE_REACH` around the range the query reads.

    The calls are read from ``llm_calls`` (migration 0100), the narrow copy of the LLM calls.
    """
    requested = [c.strip() for c in span_columns.split(",")]
    cols = list(dict.fromkeys(["start_time", *SEGMENT_COLUMNS.values(), *requested]))
    # Per trace, one array per column (cheaper to build than an array of tuples), and the id of
    # its last call; a score takes element sc_call of each: the call it names when that is one of the
    # trace's LLM calls, else the last one. Arrays are named c_<column> so that no alias of the
    # aggregating subquery shadows a column it reads.
    arrays = ", ".join(f"groupArray({c}) AS c_{c}" for c in cols)
    chosen = ", ".join(f"arrayElement(tr.c_{c}, sc_call) AS {c}" for c in cols)
    name = "AND name = {score_name:String}" if by_name else ""
    # Only traces that have such a score: without this, a window with few scores still groups
    # every call in it. Tested on the trace id's hash (``trace_key``), a number, which is much
    # cheaper than the id itself; a trace that only shares the hash is grouped but never joined.
    scored_traces = (
        "AND trace_key IN (SELECT cityHash64(trace_id) FROM {db:Identifier}.scores"
        f" WHERE project = {{project:String}} {name})"
    )
    if time_range is not None:
        scored_traces += f" AND start_time >= {time_range[0]} - {TRACE_REACH} AND start_time < {time_range[1]} + {TRACE_REACH}"
    return f"""
    (SELECT * FROM
       (SELECT sc.name AS sc_name, sc.value AS value, sc.label AS label,
               if(indexOf(tr.call_ids, sc.span_id) > 0, indexOf(tr.call_ids, sc.span_id),
                  indexOf(tr.call_ids, tr.last_id)) AS sc_call, {chosen}
          FROM (SELECT name, trace_id, span_id, value, label FROM {{db:Identifier}}.scores FINAL
                 WHERE project = {{project:String}} {name}) AS sc
         INNER JOIN (SELECT trace_id, groupArray(span_id) AS call_ids, {arrays},
                            argMax(span_id, {SCORED_CALL_ORDER}) AS last_id
                       FROM {{db:Identifier}}.llm_calls
                      WHERE project = {{project:String}} {scored_traces}
                      GROUP BY trace_id) AS tr
            ON sc.trace_id = tr.trace_id)
     WHERE 1 = 1 {span_where})
    """
