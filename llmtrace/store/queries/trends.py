"""Score trends: mean, pass count and count per time bucket and group, from ``scores FINAL``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from llmtrace.store import Store
from llmtrace.store.queries._segment import SEGMENT_COLUMNS, scored_spans_sql, segment_where

INTERVALS: Mapping[str, int] = {"1h": 3600, "6h": 21600, "1d": 86400, "7d": 604800}
GROUPS: tuple[str, ...] = ("prompt_version", "model", "service")
MAX_BUCKETS = 2000


def score_trends(
    store: Store,
    project: str,
    *,
    name: str | None,
    interval: str,
    since: datetime,
    until: datetime,
    group_by: Sequence[str],
    filters: Mapping[str, str | None],
    pass_threshold: float,
) -> list[dict[str, Any]]:
    """Rows of (t, name, group values..., n, mean, passes), ordered by group and time.

    Buckets start at multiples of ``interval`` since the Unix epoch (UTC); a score counts at its
    span's start time. Passing follows the regression report's rule (label, else value >= threshold).
    """
    params: dict[str, Any] = {
        "db": store.database,
        "project": project,
        "since": since,
        "until": until,
        "step": INTERVALS[interval],
        "pass_threshold": pass_threshold,
    }
    if name is not None:
        params["score_name"] = name
    where = " AND start_time >= {since:DateTime64(6)} AND start_time < {until:DateTime64(6)}"
    where += segment_where(filters, params)
    cols = ", ".join(SEGMENT_COLUMNS[g] for g in GROUPS)
    scored = scored_spans_sql(
        where,
        f"start_time, {cols}",
        by_name=name is not None,
        time_range=("{since:DateTime64(6)}", "{until:DateTime64(6)}"),
    )
    group_cols = "".join(f", {SEGMENT_COLUMNS[g]} AS g_{g}" for g in group_by)
    group_keys = "".join(f", g_{g}" for g in group_by)
    result = store.client.query(
        f"""SELECT toStartOfInterval(start_time, toIntervalSecond({{step:UInt32}})) AS t, sc_name AS sname {group_cols},
                   count() AS n, avg(value) AS mean,
                   countIf(if(label != '', lower(label) IN ('pass', 'passed', 'true', 'yes', 'correct', 'good', '1'),
                              value >= {{pass_threshold:Float64}})) AS passes
              FROM {scored}
             GROUP BY t, sname {group_keys}
             ORDER BY sname {group_keys}, t""",
        parameters=params,
    )
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
