"""Totals of LLM calls over a period and the one before it (the overview's headline numbers).

Hour-aligned periods read the ``spans_hourly`` rollup (a few rows per hour and key); other periods
read each call (``llm_calls``) with the same t-digest quantiles, so a 1-hour window is exact to the
second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from llmtrace.store.queries._segment import segment_where
from llmtrace.store.queries.spans import utc

_TOTAL_KEYS = (
    "calls",
    "errors",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_p50_ms",
    "latency_p95_ms",
)


def period_totals(
    store: Any, project: str, since: datetime, until: datetime, filters: Mapping[str, str | None]
) -> dict[str, dict[str, Any]]:
    """``{"current": {...}, "previous": {...}}``: calls, errors, error_rate, tokens, cost, latency
    p50/p95 in [since, until) and in the equally long period just before it."""
    span = until - since
    prev_since = since - span
    params: dict[str, Any] = {
        "db": store.database,
        "project": project,
        "p0": utc(prev_since),
        "p1": utc(since),
        "p2": utc(until),
    }
    where = segment_where(filters, params)
    hourly = all(t.minute == t.second == t.microsecond == 0 for t in (prev_since, since, until))
    if hourly:
        time_col, time_type, table = "hour", "DateTime", "spans_hourly"
        measures = (
            "countMerge(calls), sumMerge(errors), sumMerge(in_tokens), sumMerge(out_tokens),"
            " sumMerge(cost), quantilesTDigestMerge(0.5, 0.95)(latency_q)"
        )
    else:
        time_col, time_type, table = "start_time", "DateTime64(6)", "llm_calls"
        measures = (
            "count(), countIf(status = 'error'), sum(toUInt64(input_tokens)), sum(toUInt64(output_tokens)),"
            " sum(ifNull(cost_usd, 0)), quantilesTDigest(0.5, 0.95)(duration_ms)"
        )
    sql = (
        f"SELECT {time_col} >= {{p1:{time_type}}} AS is_current, {measures}"
        f" FROM {{db:Identifier}}.{table}"
        f" WHERE project = {{project:String}} AND {time_col} >= {{p0:{time_type}}}"
        f" AND {time_col} < {{p2:{time_type}}}{where} GROUP BY is_current"
    )
    out = {"current": _empty(), "previous": _empty()}
    for is_current, calls, errors, tin, tout, cost, lat in store.client.query(
        sql, parameters=params
    ).result_rows:
        calls = int(calls)
        out["current" if is_current else "previous"] = {
            "calls": calls,
            "errors": int(errors),
            "error_rate": int(errors) / calls if calls else None,
            "input_tokens": int(tin),
            "output_tokens": int(tout),
            "tokens": int(tin) + int(tout),
            "cost_usd": float(cost),
            "latency_p50_ms": _finite(lat, 0) if calls else None,
            "latency_p95_ms": _finite(lat, 1) if calls else None,
        }
    return out


def _empty() -> dict[str, Any]:
    return {k: None if k.startswith("latency") else 0 for k in _TOTAL_KEYS} | {
        "error_rate": None,
        "tokens": 0,
    }


def _finite(values: Any, index: int) -> float | None:
    value = float(values[index]) if values is not None and len(values) > index else math.nan
    return None if math.isnan(value) else value
