"""Time series of LLM-call metrics per group, from the hourly rollup or from each call.

Buckets cover whole intervals aligned to the Unix epoch (UTC): ``since`` is rounded down and
``until`` up to the interval, so a bucket means the same whichever table answered. Intervals of an
hour or more read ``spans_hourly`` (a few rows per hour and key); shorter ones read each call
(``llm_calls``, the LLM and embedding spans, as in the rollup) with the same t-digest quantiles.
Each series also has its totals over all its buckets, from the same scan (``GROUPING SETS``):
the window's own quantiles, which no average of the buckets' quantiles gives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from llmtrace.store.queries._segment import SEGMENT_COLUMNS

# Allowed intervals, seconds.
INTERVALS: Mapping[str, int] = {
    "1m": 60,
    "5m": 300,
    "10m": 600,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "3h": 10800,
    "6h": 21600,
    "12h": 43200,
    "1d": 86400,
}
# API group/filter name -> column, present in both `spans` and `spans_hourly`.
GROUP_COLUMNS: Mapping[str, str] = SEGMENT_COLUMNS
MAX_BUCKETS = 5000
MAX_POINTS = 200_000  # buckets x series
_QUANTILES = "quantilesTDigest(0.5, 0.9, 0.95, 0.99)"  # the rollup's levels: p50, p90, p95, p99


class TooManyPoints(ValueError):
    """The request would produce an unreasonable number of points; the message says how to narrow it."""


@dataclass(frozen=True, slots=True)
class MetricsQuery:
    interval: str
    since: datetime
    until: datetime
    group_by: Sequence[str] = ()
    equals: Mapping[str, str] = field(default_factory=dict)
    totals: bool = True  # each series' totals too (merging every state twice: a chart need not)

    @property
    def step(self) -> int:
        return INTERVALS[self.interval]

    def bounds(self) -> tuple[int, int]:
        """[start, end) in epoch seconds, widened to whole intervals."""
        step = self.step
        start = math.floor(self.since.timestamp() / step) * step
        end = math.ceil(self.until.timestamp() / step) * step
        return start, max(end, start + step)


def check_size(query: MetricsQuery) -> int:
    """Number of buckets; raise :class:`TooManyPoints` when a series would be absurdly long."""
    start, end = query.bounds()
    buckets = (end - start) // query.step
    if buckets > MAX_BUCKETS:
        raise TooManyPoints(
            f"{buckets} buckets of {query.interval} between since and until; the limit is {MAX_BUCKETS}: "
            "use a larger interval or a shorter range"
        )
    return buckets


def metrics_series(store: Any, project: str, query: MetricsQuery) -> dict[str, Any]:
    """``{"interval", "series": [{"group": {...}, "points": [...], "totals": {...}}]}`` with
    empty buckets filled."""
    buckets = check_size(query)
    rows = _bucket_rows(store, project, query)
    start, _ = query.bounds()
    series: dict[tuple[str, ...], dict[int, dict[str, Any]]] = {}
    totals: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[f"g_{g}"] for g in query.group_by)
        if row["is_total"]:
            totals[key] = row
        else:
            series.setdefault(key, {})[row["bucket"]] = row
    if not query.group_by:
        series.setdefault((), {})
    if len(series) * buckets > MAX_POINTS:
        raise TooManyPoints(
            f"{len(series)} series x {buckets} buckets is over the {MAX_POINTS} point limit: "
            "group by fewer columns, filter, or use a larger interval"
        )
    ordered = sorted(series.items(), key=lambda kv: (-sum(r["n_calls"] for r in kv[1].values()), kv[0]))
    return {
        "interval": query.interval,
        "series": [
            {
                "group": dict(zip(query.group_by, key, strict=True)),
                "points": [
                    _point(start + i * query.step, by_bucket.get(start + i * query.step))
                    for i in range(buckets)
                ],
                **({"totals": _measures(totals.get(key))} if query.totals else {}),
            }
            for key, by_bucket in ordered
        ],
    }


def _bucket_rows(store: Any, project: str, query: MetricsQuery) -> list[dict[str, Any]]:
    start, end = query.bounds()
    params: dict[str, Any] = {
        "db": store.database,
        "project": project,
        "step": query.step,
        "start": datetime.fromtimestamp(start, UTC).replace(tzinfo=None),
        "end": datetime.fromtimestamp(end, UTC).replace(tzinfo=None),
    }
    rollup = query.step % 3600 == 0
    time_column = "hour" if rollup else "start_time"
    time_type = "DateTime" if rollup else "DateTime64(6)"
    conditions = [
        "project = {project:String}",
        f"{time_column} >= {{start:{time_type}}}",
        f"{time_column} < {{end:{time_type}}}",
    ]
    for name, value in sorted(query.equals.items()):
        conditions.append(f"{GROUP_COLUMNS[name]} = {{f_{name}:String}}")
        params[f"f_{name}"] = value
    groups = [f"{GROUP_COLUMNS[g]} AS g_{g}" for g in query.group_by]
    if rollup:
        measures = [
            "countMerge(calls) AS n_calls",
            "sumMerge(errors) AS n_errors",
            "sumMerge(in_tokens) AS n_input_tokens",
            "sumMerge(out_tokens) AS n_output_tokens",
            "sumMerge(cost) AS total_cost",
            f"{_QUANTILES.replace('TDigest', 'TDigestMerge')}(latency_q) AS lat_q",
            f"{_QUANTILES.replace('TDigest', 'TDigestMerge')}(ttft_q) AS first_token_q",
        ]
        table = "spans_hourly"
    else:
        measures = [
            "count() AS n_calls",
            "countIf(status = 'error') AS n_errors",
            "sum(toUInt64(input_tokens)) AS n_input_tokens",
            "sum(toUInt64(output_tokens)) AS n_output_tokens",
            "sum(ifNull(cost_usd, 0)) AS total_cost",
            f"{_QUANTILES}(duration_ms) AS lat_q",
            f"{_QUANTILES}(ttft_ms) AS first_token_q",
        ]
        table = "llm_calls"
    select = [
        f"intDiv(toUnixTimestamp({time_column}), {{step:UInt32}}) * {{step:UInt32}} AS bucket",
        "grouping(bucket) AS is_total",  # 1 on a series' totals row (standard GROUPING, ClickHouse 22.12+)
        *groups,
        *measures,
    ]
    group_keys = "".join(f", g_{g}" for g in query.group_by)
    grouping = (
        f"GROUPING SETS ((bucket{group_keys}), ({group_keys[2:]}))" if query.totals else f"bucket{group_keys}"
    )
    sql = (
        f"SELECT {', '.join(select)} FROM {{db:Identifier}}.{table}"
        f" WHERE {' AND '.join(conditions)} GROUP BY {grouping}"
    )
    result = store.client.query(sql, parameters=params)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def _point(bucket: int, row: Mapping[str, Any] | None) -> dict[str, Any]:
    t = datetime.fromtimestamp(bucket, UTC).isoformat().replace("+00:00", "Z")
    return {"t": t, **_measures(row)}


def _measures(row: Mapping[str, Any] | None) -> dict[str, Any]:
    if row is None or not row["n_calls"]:
        return {
            "calls": 0,
            "errors": 0,
            "error_rate": None,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_usd": 0.0,
            "latency_p50_ms": None,
            "latency_p95_ms": None,
            "latency_p99_ms": None,
            "ttft_p50_ms": None,
            "ttft_p95_ms": None,
        }
    calls = int(row["n_calls"])
    lat, ttft = row["lat_q"], row["first_token_q"]
    return {
        "calls": calls,
        "errors": int(row["n_errors"]),
        "error_rate": int(row["n_errors"]) / calls,
        "input_tokens": int(row["n_input_tokens"]),
        "output_tokens": int(row["n_output_tokens"]),
        "cost_usd": float(row["total_cost"]),
        "latency_p50_ms": _finite(lat, 0),
        "latency_p95_ms": _finite(lat, 2),
        "latency_p99_ms": _finite(lat, 3),
        "ttft_p50_ms": _finite(ttft, 0),
        "ttft_p95_ms": _finite(ttft, 2),
    }


def _finite(values: Sequence[float | None] | None, index: int) -> float | None:
    """A quantile, or None where there was nothing to measure (ClickHouse returns nan)."""
    raw = values[index] if values and len(values) > index else None
    if raw is None:
        return None
    value = float(raw)
    return None if math.isnan(value) else value
