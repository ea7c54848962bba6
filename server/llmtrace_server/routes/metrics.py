"""``GET /api/v1/metrics``: calls, errors, tokens, cost and latency quantiles per time bucket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status

from llmtrace.store.queries import metrics as q
from llmtrace_server.deps import ProjectDep, SegmentDep, StoreDep
from llmtrace_server.schemas import MetricsPublic, TimeParam

router = APIRouter(prefix="/api/v1", tags=["metrics"])

Interval = Literal["1m", "5m", "10m", "15m", "30m", "1h", "2h", "3h", "6h", "12h", "1d"]
DEFAULT_RANGE = timedelta(hours=24)


@router.get(
    "/metrics",
    summary="Metric time series",
    response_model=MetricsPublic,
    responses={400: {"description": "Too many buckets or series, or since >= until"}},
)
def get_metrics(
    store: StoreDep,
    project: ProjectDep,
    segment: SegmentDep,
    interval: Interval = "1h",
    since: TimeParam = None,
    until: TimeParam = None,
    group_by: Annotated[
        list[str] | None,
        Query(description=f"Repeat or comma-separate; any of {', '.join(q.GROUP_COLUMNS)}", max_length=16),
    ] = None,
) -> MetricsPublic:
    """LLM and embedding calls per ``interval`` bucket in [since, until) (default: the last 24 h).

    Buckets are whole intervals aligned to UTC; buckets without calls are present with zero counts
    and null quantiles.
    """
    until = until or datetime.now(UTC)
    since = since or until - DEFAULT_RANGE
    if since >= until:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "since must be before until")
    groups = list(dict.fromkeys(g.strip() for item in group_by or [] for g in item.split(",") if g.strip()))
    unknown = [g for g in groups if g not in q.GROUP_COLUMNS]
    if unknown:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"cannot group by {unknown[0]!r}; use {', '.join(q.GROUP_COLUMNS)}"
        )
    filters = segment
    query = q.MetricsQuery(
        interval=interval,
        since=since,
        until=until,
        group_by=tuple(groups),
        equals={k: v for k, v in filters.items() if v is not None},
    )
    try:
        return MetricsPublic.model_validate(q.metrics_series(store, project, query))
    except q.TooManyPoints as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
