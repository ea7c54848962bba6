"""Histograms of a reference and a current window, for drift scoring.

Span features come from the fixed log2/4 histograms of the hourly rollup ``drift_hourly`` (plain
key and count arrays, added up in one GROUP BY), so any window costs a few thousand rollup rows; windows are therefore whole hours (a bound inside an hour
includes that hour). Scores come from ``scores FINAL`` joined to their spans, binned on the
reference window's deciles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llmtrace.store import Store
from llmtrace.store.queries._segment import SEGMENT_COLUMNS, scored_spans_sql, segment_where

# feature -> (rollup histogram column, factor from bucket bounds to the feature's unit)
NUMERIC_FEATURES: Mapping[str, tuple[str, float]] = {
    "input_tokens": ("input_tokens_hist", 1.0),
    "output_tokens": ("output_tokens_hist", 1.0),
    "latency_ms": ("latency_hist", 1.0),
    "ttft_ms": ("ttft_hist", 1.0),
    "cost_usd": ("cost_hist", 1e-6),  # the rollup buckets micro-dollars
    "output_chars": ("output_chars_hist", 1.0),
}
FEATURE_ALIASES: Mapping[str, str] = {"output_length": "output_chars"}
MIX_FEATURES: Mapping[str, str] = {
    "finish_reason": "finish_mix",
    "error_type": "error_mix",
    "status": "status_mix",
}
GROUP_FEATURES: tuple[str, ...] = ("model", "provider")
CATEGORICAL_FEATURES: tuple[str, ...] = (*GROUP_FEATURES, *MIX_FEATURES)
SCORE_PREFIX = "score:"


@dataclass(frozen=True, slots=True)
class Windows:
    """[reference_since, reference_until) and [current_since, current_until), UTC."""

    reference_since: datetime
    reference_until: datetime
    current_since: datetime
    current_until: datetime

    def params(self) -> dict[str, Any]:
        return {
            "rs": self.reference_since,
            "re": self.reference_until,
            "cs": self.current_since,
            "ce": self.current_until,
        }


_HOUR_WINDOWS = """
    ((hour >= toStartOfHour({rs:DateTime64(6)}) AND hour < {re:DateTime64(6)})
     OR (hour >= toStartOfHour({cs:DateTime64(6)}) AND hour < {ce:DateTime64(6)}))"""
_IS_CURRENT = "(hour >= toStartOfHour({cs:DateTime64(6)}) AND hour < {ce:DateTime64(6)})"


def rollup_histograms(
    store: Store,
    project: str,
    windows: Windows,
    filters: Mapping[str, str | None],
    features: tuple[str, ...],
) -> dict[str, tuple[dict[Any, int], dict[Any, int]]]:
    """``{feature: (reference counts, current counts)}`` for numeric and categorical span features.

    Numeric keys are rollup bucket numbers; categorical keys are the category values.
    """
    params: dict[str, Any] = {"db": store.database, "project": project, **windows.params()}
    where = segment_where(filters, params)
    out: dict[str, tuple[dict[Any, int], dict[Any, int]]] = {}
    columns = {**{f: col for f, (col, _) in NUMERIC_FEATURES.items()}, **MIX_FEATURES}
    maps = [(f, columns[f]) for f in features if f in columns]
    if maps:
        # Every histogram as (feature index, keys as strings, counts), one row per stored hour
        # and segment, unnested and added up: plain array work, no aggregate states to rebuild.
        hists = ", ".join(
            f"({i}, arrayMap(k -> toString(k), {col}.1), {col}.2)" for i, (_, col) in enumerate(maps)
        )
        rows = store.client.query(
            f"""SELECT is_cur, h.1 AS feature, kc.1 AS k, sum(kc.2) AS n
                  FROM (SELECT {_IS_CURRENT} AS is_cur, arrayJoin([{hists}]) AS h
                          FROM {{db:Identifier}}.drift_hourly
                         WHERE project = {{project:String}} AND {_HOUR_WINDOWS} {where})
                 ARRAY JOIN arrayZip(h.2, h.3) AS kc
                 GROUP BY is_cur, feature, k""",
            parameters=params,
        ).result_rows
        for feature, _ in maps:
            out[feature] = ({}, {})
        for is_cur, i, key, n in rows:
            feature = maps[i][0]
            if n:
                out[feature][1 if is_cur else 0][int(key) if feature in NUMERIC_FEATURES else key] = int(n)
    groups = [f for f in features if f in GROUP_FEATURES]
    if groups:
        rows = store.client.query(
            f"""SELECT {_IS_CURRENT} AS is_cur, model, provider, countMerge(calls) AS n
                  FROM {{db:Identifier}}.spans_hourly
                 WHERE project = {{project:String}} AND {_HOUR_WINDOWS} {where}
                 GROUP BY is_cur, model, provider""",
            parameters=params,
        ).result_rows
        for feature in groups:
            out[feature] = ({}, {})
            col = 1 if feature == "model" else 2
            for row in rows:
                counts = out[feature][1 if row[0] else 0]
                counts[row[col]] = counts.get(row[col], 0) + int(row[3])
    return out


def score_histogram(
    store: Store, project: str, windows: Windows, filters: Mapping[str, str | None], score_name: str
) -> tuple[dict[int, int], dict[int, int], list[float]]:
    """Counts of a score's values in bins cut at the reference window's distinct deciles.

    Returns (reference counts, current counts, bin edges); bin i is [edges[i], edges[i+1]).
    Discrete scores (0/1, 1-5) get one bin per observed level.
    """
    params: dict[str, Any] = {
        "db": store.database,
        "project": project,
        "score_name": score_name,
        **windows.params(),
    }
    seg = segment_where(filters, params)
    span_where = f"""AND ((start_time >= {{rs:DateTime64(6)}} AND start_time < {{re:DateTime64(6)}})
                        OR (start_time >= {{cs:DateTime64(6)}} AND start_time < {{ce:DateTime64(6)}})) {seg}"""
    scored = scored_spans_sql(
        span_where, "start_time", time_range=("{rs:DateTime64(6)}", "{ce:DateTime64(6)}")
    )
    # One read of the scored calls: both windows' values as arrays, the reference's deciles cut
    # from its array (arrayReduce runs the same quantilesExact), then every value binned.
    rows = store.client.query(
        f"""SELECT side AS is_cur, arrayCount(e -> e <= v, edges) AS b,
                   count() AS n, min(v) AS lo, max(v) AS hi, any(edges) AS cut
              FROM (SELECT arraySort(arrayDistinct(arrayReduce(
                               'quantilesExact(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)', ref))) AS edges,
                           arrayJoin(arrayConcat(arrayMap(x -> (0, x), ref), arrayMap(x -> (1, x), cur))) AS sv,
                           sv.1 AS side, sv.2 AS v
                      FROM (SELECT groupArrayIf(value, start_time < {{cs:DateTime64(6)}}) AS ref,
                                   groupArrayIf(value, start_time >= {{cs:DateTime64(6)}}) AS cur
                              FROM {scored}))
             GROUP BY is_cur, b ORDER BY b""",
        parameters=params,
    ).result_rows
    ref: dict[int, int] = {}
    cur: dict[int, int] = {}
    cuts: list[float] = []
    lo = hi = None
    for is_cur, b, n, vmin, vmax, cut in rows:
        (cur if is_cur else ref)[int(b)] = int(n)
        cuts = [float(c) for c in cut]
        lo = vmin if lo is None else min(lo, vmin)
        hi = vmax if hi is None else max(hi, vmax)
    if lo is None or hi is None:
        return ref, cur, []
    # Bucket b holds values in [cuts[b-1], cuts[b]); the outer buckets are closed by the data range.
    edges = [float(lo), *cuts, float(hi)]
    return ref, cur, edges


def score_names(store: Store, project: str, since: datetime, until: datetime) -> list[str]:
    """Score names recorded for spans in [since, until) (by score timestamp, newest data first)."""
    rows = store.client.query(
        """SELECT name, count() AS n FROM {db:Identifier}.scores FINAL
            WHERE project = {project:String} AND timestamp >= {s:DateTime64(6)} AND timestamp < {u:DateTime64(6)}
            GROUP BY name ORDER BY n DESC LIMIT 50""",
        parameters={"db": store.database, "project": project, "s": since, "u": until},
    ).result_rows
    return [r[0] for r in rows]


def top_segments(
    store: Store, project: str, windows: Windows, filters: Mapping[str, str | None], by: str, limit: int
) -> list[str]:
    """The ``limit`` values of segment dimension ``by`` with the most calls in the current window."""
    params: dict[str, Any] = {"db": store.database, "project": project, "lim": limit, **windows.params()}
    where = segment_where(filters, params)
    col = SEGMENT_COLUMNS[by]
    rows = store.client.query(
        f"""SELECT {col} AS seg, countMerge(calls) AS n FROM {{db:Identifier}}.spans_hourly
             WHERE project = {{project:String}} AND {_IS_CURRENT} {where}
             GROUP BY seg ORDER BY n DESC LIMIT {{lim:UInt32}}""",
        parameters=params,
    ).result_rows
    return [r[0] for r in rows]


# Numeric span features -> their per-call `llm_calls` column, for rank correlations between features.
SPAN_VALUE_COLUMNS: Mapping[str, str] = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "latency_ms": "duration_ms",
    "ttft_ms": "ttft_ms",
    "cost_usd": "cost_usd",
    "output_chars": "output_chars",
}
CORRELATION_SAMPLE = 50_000  # calls per segment, a deterministic hash sample of the current window
_PER_MILLION = 1_000_000


def rank_correlations(
    store: Store,
    project: str,
    windows: Windows,
    filters: Mapping[str, str | None],
    lead: str,
    others: tuple[str, ...],
    current_calls: int,
) -> dict[str, tuple[float | None, int]]:
    """Spearman rank correlation of ``lead`` with each of ``others`` over the current window's calls.

    ``{feature: (rho, n)}``: ``n`` calls carry both values; ``rho`` is None when either feature is
    constant among them or fewer than 3 calls do. At most about :data:`CORRELATION_SAMPLE` calls
    are read (``cityHash64(span_id)`` sample, so the answer does not change between runs).
    """
    names = [f for f in others if f in SPAN_VALUE_COLUMNS and f != lead]
    if lead not in SPAN_VALUE_COLUMNS or not names:
        return {}
    keep = (
        _PER_MILLION
        if current_calls <= CORRELATION_SAMPLE
        else _PER_MILLION * CORRELATION_SAMPLE // current_calls
    )
    params: dict[str, Any] = {
        "db": store.database,
        "project": project,
        "keep": max(1, keep),
        **windows.params(),
    }
    where = segment_where(filters, params)
    x = SPAN_VALUE_COLUMNS[lead]
    parts = []
    for i, feature in enumerate(names):
        y = SPAN_VALUE_COLUMNS[feature]
        both = f"isNotNull({x}) AND isNotNull({y})"
        parts.append(
            f"countIf({both}) AS n_{i},"
            f" rankCorrIf(toFloat64(assumeNotNull({x})), toFloat64(assumeNotNull({y})), {both}) AS r_{i},"
            f" uniqExactIf({x}, {both}) > 1 AND uniqExactIf({y}, {both}) > 1 AS v_{i}"
        )
    row = store.client.query(
        f"""SELECT {", ".join(parts)} FROM {{db:Identifier}}.llm_calls
             WHERE project = {{project:String}}
               AND start_time >= toStartOfHour({{cs:DateTime64(6)}}) AND start_time < {{ce:DateTime64(6)}}
               AND cityHash64(span_id) % {_PER_MILLION} < {{keep:UInt32}} {where}""",
        parameters=params,
    ).result_rows[0]
    out: dict[str, tuple[float | None, int]] = {}
    for i, feature in enumerate(names):
        n, rho, varies = int(row[3 * i]), row[3 * i + 1], bool(row[3 * i + 2])
        finite = rho is not None and rho == rho
        out[feature] = (float(rho) if finite and varies and n >= 3 else None, n)
    return out
