"""Per-cohort summaries for A/B regression reports, aggregated in ClickHouse.

Cohorts are two values of a dimension within one time range, or two time windows. Quantiles and
their order-statistic CIs come from a hash sample of at most ``SAMPLE_CAP`` calls per cohort
(``cityHash64(span_id)``, so the same calls are chosen every time), read from ``call_samples``
(migration 0121), where the sampled calls are a short key range; counts, rates, means and
variances use every call, as exact sums: per hour from ``calls_hourly`` (migration 0120) when the
bounds are whole hours, else per call from ``llm_calls`` (migration 0100). Mann-Whitney U runs in
ClickHouse on the same sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from llmtrace.store import Store
from llmtrace.store.queries._segment import SEGMENT_COLUMNS, scored_spans_sql, segment_where

DIMENSIONS: Mapping[str, str] = {
    k: SEGMENT_COLUMNS[k] for k in ("prompt_version", "model", "provider", "environment")
}
SAMPLE_CAP = 50_000
# A cost as an exact decimal (1e-15 USD steps): sums of it do not depend on the summation order.
_COST_EXACT = "toDecimal256(assumeNotNull(cost_usd), 15)"
_VALUE_EXACT = "toDecimal256(value, 15)"  # score values, likewise
_PERMILLE = 1_000_000  # sampling resolution
# Stratum of a call; '' is reserved for the pooled rows of GROUPING SETS (ClickHouse fills the
# rolled-up key with the type's default).
_STRATUM = "if(model = '', '(none)', toString(model))"


@dataclass(frozen=True, slots=True)
class Cohorts:
    """Either ``dimension`` with values ``a``/``b`` in [since, until), or two windows."""

    since: datetime
    until: datetime
    dimension: str | None = None
    a: str | None = None
    b: str | None = None
    a_window: tuple[datetime, datetime] | None = None
    b_window: tuple[datetime, datetime] | None = None

    def time_range(self) -> tuple[str, str]:
        """SQL bounds of both cohorts' calls, over the parameters :meth:`sql` binds."""
        if self.dimension:
            return "{since:DateTime64(6)}", "{until:DateTime64(6)}"
        return (
            "least({a_s:DateTime64(6)}, {b_s:DateTime64(6)})",
            "greatest({a_u:DateTime64(6)}, {b_u:DateTime64(6)})",
        )

    def sql(self, params: dict[str, Any], time: str = "start_time") -> tuple[str, str]:
        """(WHERE fragment selecting both cohorts' spans, expression that is 1 for cohort B).

        ``time`` is the column the bounds apply to: ``hour`` on the hourly rollup, which answers
        exactly when :meth:`whole_hours`.
        """
        if self.dimension:
            col = DIMENSIONS[self.dimension]
            params.update(c_a=self.a, c_b=self.b, since=self.since, until=self.until)
            where = (
                f" AND {time} >= {{since:DateTime64(6)}} AND {time} < {{until:DateTime64(6)}}"
                f" AND {col} IN ({{c_a:String}}, {{c_b:String}})"
            )
            return where, f"toUInt8({col} = {{c_b:String}})"
        assert self.a_window and self.b_window
        params.update(a_s=self.a_window[0], a_u=self.a_window[1], b_s=self.b_window[0], b_u=self.b_window[1])
        in_b = f"({time} >= {{b_s:DateTime64(6)}} AND {time} < {{b_u:DateTime64(6)}})"
        where = f" AND (({time} >= {{a_s:DateTime64(6)}} AND {time} < {{a_u:DateTime64(6)}}) OR {in_b})"
        return where, f"toUInt8{in_b}"

    def whole_hours(self) -> bool:
        """Every bound falls on a whole hour (as the UI's ranges do)."""
        bounds = [self.since, self.until, *(self.a_window or ()), *(self.b_window or ())]
        return all(t.minute == t.second == t.microsecond == 0 for t in bounds)


def model_mix(
    store: Store, project: str, cohorts: Cohorts, filters: Mapping[str, str | None]
) -> dict[int, dict[str, int]]:
    """Calls per model in each cohort: ``{0: {model: n}, 1: {...}}`` (0 = A, 1 = B).

    Counted on the hourly rollup when the cohorts' bounds are whole hours, else on ``llm_calls``.
    """
    params: dict[str, Any] = {"db": store.database, "project": project}
    if cohorts.whole_hours():
        where, is_b = cohorts.sql(params, time="hour")
        table, kinds, calls = "spans_hourly", "", "countMerge(calls)"
    else:
        where, is_b = cohorts.sql(params)
        table, kinds, calls = "llm_calls", "", "count()"
    where += segment_where(filters, params)
    rows = store.client.query(
        f"""SELECT {is_b} AS is_b, model AS m, {calls} AS n FROM {{db:Identifier}}.{table}
             WHERE project = {{project:String}} {kinds} {where} GROUP BY is_b, m""",
        parameters=params,
    ).result_rows
    mix: dict[int, dict[str, int]] = {0: {}, 1: {}}
    for side, m, n in rows:
        mix[int(side)][m] = int(n)
    return mix


def span_summaries(
    store: Store,
    project: str,
    cohorts: Cohorts,
    filters: Mapping[str, str | None],
    keep: Mapping[int, int],
    stratify: bool,
) -> list[dict[str, Any]]:
    """One summary per (cohort, stratum) plus the pooled cohort (stratum '').

    ``lat_s`` / ``ttft_s`` are the sampled latencies / TTFTs, sorted: order statistics (quantiles
    and their CIs) are picked from them in Python, which is cheaper than indexing in SQL.

    ``keep[c]`` is the sample fraction of cohort c in millionths (``_PERMILLE`` keeps all).
    """
    rows = _moments(store, project, cohorts, filters, stratify)
    samples = _samples(store, project, cohorts, filters, keep, stratify)
    for row in rows:
        row["lat_s"], row["ttft_s"] = samples.get((row["is_b"], row["stratum"]), ([], []))
        row["lat_n"], row["ttft_n"] = len(row["lat_s"]), len(row["ttft_s"])
    return rows


# Exact sums of each (cohort, stratum), per call (``llm_calls``) or per hour (``calls_hourly``,
# migration 0120, which holds the same sums per hour and segment). Aliases never reuse a column.
_CALL_SUMS = f"""count() AS s_n, countIf(status = 'error') AS s_errors,
    countIf(isNotNull(cost_usd)) AS s_priced,
    sumIf({_COST_EXACT}, isNotNull(cost_usd)) AS s_cost, sumIf({_COST_EXACT} * {_COST_EXACT}, isNotNull(cost_usd)) AS s_cost2,
    sum(toUInt256(input_tokens)) AS s_in, sum(toUInt256(input_tokens) * input_tokens) AS s_in2,
    sum(toUInt256(output_tokens)) AS s_out, sum(toUInt256(output_tokens) * output_tokens) AS s_out2"""
_HOURLY_SUMS = """sum(calls) AS s_n, sum(errors) AS s_errors, sum(priced) AS s_priced,
    sum(cost_sum) AS s_cost, sum(cost_sumsq) AS s_cost2, sum(in_sum) AS s_in, sum(in_sumsq) AS s_in2,
    sum(out_sum) AS s_out, sum(out_sumsq) AS s_out2"""


def _moments(
    store: Store, project: str, cohorts: Cohorts, filters: Mapping[str, str | None], stratify: bool
) -> list[dict[str, Any]]:
    """Counts, error and priced counts, and the exact means and variances of cost and tokens per
    (cohort, stratum) and pooled: from ``calls_hourly`` when the cohorts' bounds are whole hours
    (a few rows per hour), else from every call in ``llm_calls``; the same sums either way."""
    params: dict[str, Any] = {"db": store.database, "project": project}
    if cohorts.whole_hours():
        where, is_b = cohorts.sql(params, time="hour")
        table, sums = "calls_hourly", _HOURLY_SUMS
    else:
        where, is_b = cohorts.sql(params)
        table, sums = "llm_calls", _CALL_SUMS
    where += segment_where(filters, params)
    grouping = "GROUPING SETS ((is_b, stratum), (is_b))" if stratify else "is_b"
    result = store.client.query(
        f"""SELECT {is_b} AS is_b, {_STRATUM if stratify else "''"} AS stratum, {sums}
              FROM {{db:Identifier}}.{table}
             WHERE project = {{project:String}} {where}
             GROUP BY {grouping}""",
        parameters=params,
    )
    rows = []
    for values in result.result_rows:
        r = dict(zip(result.column_names, values, strict=True))
        n, priced = int(r["s_n"]), int(r["s_priced"])
        row: dict[str, Any] = {
            "is_b": r["is_b"],
            "stratum": r["stratum"],
            "n": n,
            "errors": int(r["s_errors"]),
            "priced": priced,
        }
        row["cost_mean"], row["cost_var"] = exact_moments(priced, r["s_cost"], r["s_cost2"])
        row["in_mean"], row["in_var"] = exact_moments(n, r["s_in"], r["s_in2"])
        row["out_mean"], row["out_var"] = exact_moments(n, r["s_out"], r["s_out2"])
        rows.append(row)
    return rows


def _sampled(
    cohorts: Cohorts, filters: Mapping[str, str | None], keep: Mapping[int, int], params: dict[str, Any]
) -> tuple[str, str]:
    """(FROM ... WHERE over the sampled calls of both cohorts, their cohort expression).

    ``call_samples`` (migration 0121) holds every call, sorted by its sample key
    (``cityHash64(span_id) % 1000000``) before time: keeping the keys below ``keep`` reads only
    the 1% buckets that hold them.
    """
    params.update(keep_a=keep[0], keep_b=keep[1], keep_max=max(keep[0], keep[1]))
    where, is_b = cohorts.sql(params)
    where += segment_where(filters, params)
    return (
        f"""{{db:Identifier}}.call_samples
             WHERE project = {{project:String}} AND sample_key < {{keep_max:UInt32}} {where}
               AND sample_key < if({is_b} = 1, {{keep_b:UInt32}}, {{keep_a:UInt32}})""",
        is_b,
    )


def _samples(
    store: Store,
    project: str,
    cohorts: Cohorts,
    filters: Mapping[str, str | None],
    keep: Mapping[int, int],
    stratify: bool,
) -> dict[tuple[int, str], tuple[list[float], list[float]]]:
    """``{(is_b, stratum): (sorted sampled latencies, sorted sampled TTFTs)}``, pooled as stratum ''."""
    params: dict[str, Any] = {"db": store.database, "project": project}
    source, is_b = _sampled(cohorts, filters, keep, params)
    grouping = "GROUPING SETS ((is_b, stratum), (is_b))" if stratify else "is_b"
    rows = store.client.query(
        f"""SELECT is_b, {_STRATUM if stratify else "''"} AS stratum,
                   arraySort(groupArray(duration_ms)) AS lat_s,
                   arraySort(groupArrayIf(assumeNotNull(ttft_ms), isNotNull(ttft_ms))) AS ttft_s
              FROM (SELECT model, duration_ms, ttft_ms, {is_b} AS is_b FROM {source})
             GROUP BY {grouping}""",
        parameters=params,
    ).result_rows
    return {(is_b_, stratum): (list(lat), list(ttft)) for is_b_, stratum, lat, ttft in rows}


def exact_moments(n: int, total: Any, total_sq: Any) -> tuple[float, float]:
    """Mean and sample variance from exact sums (integers or Decimals), NaN where undefined.

    Float sums in ClickHouse run in parallel in an order that varies between runs, so their last
    digits did too (issue 18, item 8); exact sums make a report the same every time it is asked.
    """
    if n == 0:
        return math.nan, math.nan
    s, ss = Fraction(total), Fraction(total_sq)
    mean = float(s / n)
    return mean, (float((n * ss - s * s) / (n * (n - 1))) if n > 1 else math.nan)


def mann_whitney(
    store: Store,
    project: str,
    cohorts: Cohorts,
    filters: Mapping[str, str | None],
    keep: Mapping[int, int],
    *,
    latency: bool = True,
    ttft: bool = True,
) -> dict[str, float | None]:
    """Two-sided Mann-Whitney U p-values of latency and TTFT, A vs B, on the sampled calls.

    ClickHouse raises on an empty sample, so the caller says which tests have data in both cohorts.
    """
    tests = []
    if latency:
        tests.append("mannWhitneyUTest('two-sided')(duration_ms, is_b).2 AS p_latency")
    if ttft:
        tests.append(
            "mannWhitneyUTestIf('two-sided')(ifNull(ttft_ms, 0), is_b, isNotNull(ttft_ms)).2 AS p_ttft"
        )
    if not tests:
        return {"latency": None, "ttft": None}
    params: dict[str, Any] = {"db": store.database, "project": project}
    source, is_b = _sampled(cohorts, filters, keep, params)
    result = store.client.query(
        f"""SELECT {", ".join(tests)}
              FROM (SELECT duration_ms, ttft_ms, {is_b} AS is_b FROM {source})""",
        parameters=params,
    )
    row = dict(zip(result.column_names, result.result_rows[0], strict=True))
    return {"latency": _finite(row.get("p_latency")), "ttft": _finite(row.get("p_ttft"))}


def score_summaries(
    store: Store,
    project: str,
    cohorts: Cohorts,
    filters: Mapping[str, str | None],
    stratify: bool,
    pass_threshold: float,
) -> dict[str, list[dict[str, Any]]]:
    """Per score name: summaries per (cohort, stratum) of value mean/variance and pass counts.

    A score passes when its label says so (pass/passed/true/yes/correct/good/1), or, without a
    label, when its value is at least ``pass_threshold``.
    """
    params: dict[str, Any] = {"db": store.database, "project": project, "pass_threshold": pass_threshold}
    where, is_b = cohorts.sql(params)
    where += segment_where(filters, params)
    cols = (
        f"start_time, model, {', '.join(sorted({c for c in ('prompt_version', 'provider', 'environment')}))}"
    )
    scored = scored_spans_sql(where, cols, by_name=False, time_range=cohorts.time_range())
    grouping = "GROUPING SETS ((sname, is_b, stratum), (sname, is_b))" if stratify else "sname, is_b"
    stratum = _STRATUM if stratify else "''"
    result = store.client.query(
        f"""SELECT sname, is_b, {stratum} AS stratum, count() AS n,
                   sum({_VALUE_EXACT}) AS v_sum, sum({_VALUE_EXACT} * {_VALUE_EXACT}) AS v_sumsq,
                   min(value) AS lo, max(value) AS hi,
                   countIf(if(label != '', lower(label) IN ('pass', 'passed', 'true', 'yes', 'correct', 'good', '1'),
                              value >= {{pass_threshold:Float64}})) AS passes
              FROM (SELECT *, sc_name AS sname, {is_b} AS is_b FROM {scored})
             GROUP BY {grouping} ORDER BY sname""",
        parameters=params,
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for row in result.result_rows:
        item = dict(zip(result.column_names, row, strict=True))
        item["mean"], item["var"] = exact_moments(item["n"], item.pop("v_sum"), item.pop("v_sumsq"))
        out.setdefault(item["sname"], []).append(item)
    return out


def sample_keep(n: int) -> int:
    """Millionths of a cohort to keep so that about ``SAMPLE_CAP`` calls remain."""
    return _PERMILLE if n <= SAMPLE_CAP else max(1, math.ceil(_PERMILLE * SAMPLE_CAP / n))


def _finite(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
