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


# A trace's LLM calls lie this far around each other (enough for any trace but day-long agents):
# when calls are written, attribution looks for the rest of their traces' calls this far around
# them, which lets ClickHouse skip the partitions and granules outside it.
TRACE_REACH = "INTERVAL 1 DAY"


# The call columns a score carries in ``scored_calls`` (migration 0110): the time and every segment.
ATTRIBUTED_COLUMNS: tuple[str, ...] = ("start_time", *SEGMENT_COLUMNS.values())


def scored_spans_sql(
    span_where: str, span_columns: str, *, by_name: bool = True, time_range: tuple[str, str] | None = None
) -> str:
    """A subquery of the current scores (``name = {score_name:String}``) with their LLM call's columns.

    The rule (docs/analytics.md, "Which call a score counts for"): a score on an LLM call counts
    for that call; a score on the whole trace (``span_id = ''``) or on a span that is not an LLM
    call (the function ``@llmtrace.trace`` wraps, an agent step) counts for the trace's last LLM
    call that names a prompt, else its last LLM call. Each score counts once, at that call's start
    time, with its prompt, prompt version, model, ... The call is chosen among all of the trace's
    LLM calls before ``span_where`` filters (time window, segment), so a filter never moves a
    score to another call. ``span_where`` may use the bound parameters of the caller and the span
    columns ``start_time`` and :data:`SEGMENT_COLUMNS`; ``span_columns`` lists the columns to
    carry (comma-separated, among :data:`ATTRIBUTED_COLUMNS`). With ``by_name=False`` every score
    name is returned, as column ``sc_name``. ``time_range`` (two SQL expressions of the caller's
    bound parameters, e.g. ``("{since:DateTime64(6)}", "{until:DateTime64(6)}")``) limits the
    read to the hours of the range the query reads (``span_where`` must still bound the time).

    The attribution is decided when scores or calls are written (:mod:`llmtrace.store.attribution`)
    and kept in ``scored_calls`` (migration 0110), read with ``FINAL``: one row per score (a
    re-score or a later call of its trace replaces it), in the hour of its call, so a read
    touches only the scores of its window.
    """
    requested = [c.strip() for c in span_columns.split(",")]
    unknown = set(requested) - set(ATTRIBUTED_COLUMNS)
    if unknown:
        raise ValueError(f"scored calls carry no column {', '.join(sorted(unknown))}")
    name = "AND name = {score_name:String}" if by_name else ""
    # The hours of the range: part of the sort key, the same for every row of a score's key, so
    # the condition never splits a key before FINAL chooses its row.
    near = ""
    if time_range is not None:
        near = (
            f" AND toStartOfHour(start_time) >= toStartOfHour({time_range[0]})"
            f" AND toStartOfHour(start_time) < {time_range[1]}"
        )
    return f"""
    (SELECT * FROM
       (SELECT name AS sc_name, value, label, {", ".join(ATTRIBUTED_COLUMNS)}
          FROM {{db:Identifier}}.scored_calls FINAL
         WHERE project = {{project:String}} {name} {near})
     WHERE 1 = 1 {span_where})
    """
