"""Every prompt with its versions: traffic, cost per call, latency, errors and mean scores.

Traffic, cost and latency come from the ``spans_hourly`` rollup (hour-aligned [since, until));
scores (:func:`version_scores`) from ``scores FINAL`` joined to their spans (:func:`scored_spans_sql`),
so a version's quality is judged on the calls it served.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from llmtrace.store.queries._segment import scored_spans_sql
from llmtrace.store.queries.spans import utc

MAX_VERSIONS = 500


def prompt_versions(store: Any, project: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """One row per (prompt, version, model) with calls in the window, busiest prompt first.

    Rows: prompt, version, model, calls, errors, error_rate, cost_usd, cost_per_call (over priced
    calls), latency_p50_ms, latency_p95_ms, first_seen, last_seen. Their quality is
    :func:`version_scores`, a separate read (it joins scores to their calls).
    """
    params = {
        "db": store.database,
        "project": project,
        "since": utc(since),
        "until": utc(until),
        "cap": MAX_VERSIONS,
    }
    result = store.client.query(
        """SELECT prompt_name, prompt_version, model, countMerge(calls) AS n, sumMerge(errors) AS e,
                  sumMerge(cost) AS c, sumMerge(priced_calls) AS priced,
                  quantilesTDigestMerge(0.5, 0.95)(latency_q) AS lat, min(hour) AS first, max(hour) AS last
             FROM {db:Identifier}.spans_hourly
            WHERE project = {project:String} AND prompt_name != ''
              AND hour >= toStartOfHour({since:DateTime64(6)}) AND hour < {until:DateTime64(6)}
            GROUP BY prompt_name, prompt_version, model
            ORDER BY sum(n) OVER (PARTITION BY prompt_name) DESC, prompt_name, prompt_version DESC, n DESC
            LIMIT {cap:UInt32}""",
        parameters=params,
    )
    rows = []
    for prompt, version, model, n, e, c, priced, lat, first, last in result.result_rows:
        n, e = int(n), int(e)
        rows.append(
            {
                "prompt": prompt,
                "version": version,
                "model": model,
                "calls": n,
                "errors": e,
                "error_rate": e / n if n else None,
                "cost_usd": float(c),
                "cost_per_call": float(c) / int(priced) if priced else None,
                "latency_p50_ms": _finite(lat, 0),
                "latency_p95_ms": _finite(lat, 1),
                "first_seen": first,
                "last_seen": last,
            }
        )
    return rows


def version_scores(
    store: Any, project: str, since: datetime, until: datetime
) -> dict[tuple[str, str], dict[str, tuple[float, int]]]:
    """Mean and count of each score per (prompt, version): scores often sit on the span that
    wraps the LLM call (no model of its own), so they are not split by model."""
    params = {"db": store.database, "project": project, "since": utc(since), "until": utc(until)}
    where = " AND start_time >= {since:DateTime64(6)} AND start_time < {until:DateTime64(6)}"
    scored = scored_spans_sql(
        where,
        "start_time, prompt_name, prompt_version",
        by_name=False,
        time_range=("{since:DateTime64(6)}", "{until:DateTime64(6)}"),
    )
    result = store.client.query(
        f"""SELECT prompt_name, prompt_version, sc_name, avg(value), count()
              FROM {scored} WHERE prompt_name != ''
             GROUP BY prompt_name, prompt_version, sc_name""",
        parameters=params,
    )
    out: dict[tuple[str, str], dict[str, tuple[float, int]]] = {}
    for prompt, version, name, mean, n in result.result_rows:
        out.setdefault((prompt, version), {})[name] = (float(mean), int(n))
    return out


def _finite(values: Any, index: int) -> float | None:
    value = float(values[index]) if values is not None and len(values) > index else math.nan
    return None if math.isnan(value) else value
