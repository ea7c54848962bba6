"""``GET /api/v1/scores/trends``: how quality moves over time, per prompt version, model or service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status

from llmtrace.store.queries import trends as q
from llmtrace_server.analytics.public import ScoreTrendsPublic
from llmtrace_server.analytics.twosample import wilson_interval
from llmtrace_server.deps import ProjectDep, SegmentDep, StoreDep
from llmtrace_server.routes.drift import aware as _aware

router = APIRouter(prefix="/api/v1", tags=["scores"])

DEFAULT_RANGE = timedelta(days=7)


@router.get(
    "/scores/trends",
    summary="Score mean, pass rate and count per interval",
    response_model=ScoreTrendsPublic,
    response_model_exclude_unset=True,
)
def get_score_trends(
    store: StoreDep,
    project: ProjectDep,
    segment: SegmentDep,
    name: Annotated[
        str | None, Query(max_length=300, description="score name; all names when omitted")
    ] = None,
    interval: Literal["1h", "6h", "1d", "7d"] = "1d",
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: Annotated[list[Literal["prompt_version", "model", "service"]] | None, Query()] = None,
    pass_threshold: float = 0.5,
) -> dict[str, Any]:
    """One series per score name and group; each point has ``count``, ``mean``, ``pass_rate`` and
    a 95% Wilson interval for the pass rate (wide intervals mean few scores, not a real move), and
    so have the series' ``totals`` over the whole window."""
    try:
        until = _aware(until) if until else datetime.now(UTC)
        since = _aware(since) if since else until - DEFAULT_RANGE
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    if since >= until:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "since must be before until")
    if (until - since).total_seconds() / q.INTERVALS[interval] > q.MAX_BUCKETS:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "too many buckets: use a larger interval")
    groups = list(dict.fromkeys(group_by or []))
    filters = segment
    rows = q.score_trends(
        store,
        project,
        name=name,
        interval=interval,
        since=since,
        until=until,
        group_by=groups,
        filters=filters,
        pass_threshold=pass_threshold,
    )
    series: dict[tuple[Any, ...], dict[str, Any]] = {}
    window: dict[tuple[Any, ...], list[float]] = {}  # key -> [count, sum of values, passes]
    for r in rows:
        key = (r["sname"], *(r[f"g_{g}"] for g in groups))
        s = series.setdefault(
            key, {"name": r["sname"], "group": {g: r[f"g_{g}"] for g in groups}, "points": []}
        )
        s["points"].append({"t": r["t"].isoformat(), **_quality(r["n"], r["mean"], r["passes"])})
        sums = window.setdefault(key, [0, 0.0, 0])
        sums[0] += r["n"]
        sums[1] += r["mean"] * r["n"]
        sums[2] += r["passes"]
    for key, (n, total, passes) in window.items():
        series[key]["totals"] = _quality(int(n), total / n, int(passes))
    return {
        "interval": interval,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "series": list(series.values()),
    }


def _quality(n: int, mean: float, passes: int) -> dict[str, Any]:
    lo, hi = wilson_interval(passes, n)
    return {"count": n, "mean": mean, "pass_rate": passes / n, "pass_rate_ci_95": [lo, hi]}
