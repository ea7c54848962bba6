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

LLM_KINDS = "kind IN ('llm', 'embedding')"


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


def scored_spans_sql(span_where: str, span_columns: str, *, by_name: bool = True) -> str:
    """A subquery of ``scores FINAL`` rows (``name = {score_name:String}``) with span columns.

    A span-level score joins its span; a trace-level score (``span_id = ''``) joins the trace's
    first LLM span, so trace scores still fall into a prompt version or model cohort. The score
    counts at its span's start time. ``span_where`` filters spans (time window, segment) and may
    use the bound parameters of the caller; ``span_columns`` lists the span columns to carry
    (comma-separated, each also present in the trace-level projection). With ``by_name=False``
    every score name is returned, as column ``sc_name``.
    """
    cols = [c.strip() for c in span_columns.split(",")]
    # Aliases never reuse a spans column name inside the aggregating subquery (alias shadowing).
    first = "".join(f"argMin({c}, start_time) AS t_{c}, " for c in cols if c != "start_time")
    span_out = ", ".join(f"sp.{c} AS {c}" for c in cols)
    trace_out = ", ".join(f"sp.t_{c} AS {c}" for c in cols)
    name = "AND name = {score_name:String}" if by_name else ""
    # Only traces that have such a score: without this, a window with few scores still joins
    # (and, for trace-level scores, groups) every span in it.
    scored_traces = f"AND trace_id IN (SELECT trace_id FROM {{db:Identifier}}.scores WHERE project = {{project:String}} {name})"
    return f"""
    (SELECT sc.name AS sc_name, sc.value AS value, sc.label AS label, {span_out}
       FROM (SELECT name, trace_id, span_id, value, label FROM {{db:Identifier}}.scores FINAL
              WHERE project = {{project:String}} {name} AND span_id != '') AS sc
      INNER JOIN (SELECT trace_id, span_id, {span_columns} FROM {{db:Identifier}}.spans
                   WHERE project = {{project:String}} {scored_traces} {span_where}) AS sp
         ON sc.trace_id = sp.trace_id AND sc.span_id = sp.span_id
     UNION ALL
     SELECT sc.name AS sc_name, sc.value AS value, sc.label AS label, {trace_out}
       FROM (SELECT name, trace_id, value, label FROM {{db:Identifier}}.scores FINAL
              WHERE project = {{project:String}} {name} AND span_id = '') AS sc
      INNER JOIN (SELECT trace_id, {first}min(start_time) AS t_start_time FROM {{db:Identifier}}.spans
                   WHERE project = {{project:String}} AND {LLM_KINDS} {scored_traces} {span_where}
                   GROUP BY trace_id) AS sp
         ON sc.trace_id = sp.trace_id)
    """
