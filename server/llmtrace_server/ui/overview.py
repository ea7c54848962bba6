"""``/``: calls, cost, errors, latency, tokens and quality over a range, with the previous period.

The headline numbers render with the page; the charts and the per-group table come from
``/ui/overview/charts`` (the score chart from ``/ui/overview/quality``) and the alert/drift
banners from ``/ui/banners``, all loaded by htmx after the page, so the page is usable before
the heavier queries finish.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from llmtrace.store.queries import alerts as alert_queries
from llmtrace.store.queries import metrics as metric_queries
from llmtrace.store.queries import overview as q
from llmtrace.store.queries import trends as trend_queries
from llmtrace_server.analytics.verdicts import DRIFT
from llmtrace_server.deps import StoreDep
from llmtrace_server.routes.drift import compute_report, resolve_windows
from llmtrace_server.ui.render import render
from llmtrace_server.ui.session import ProjectPage
from llmtrace_server.ui.timerange import DayRange, TimeRange

router = APIRouter()

GROUPS = ("model", "service", "prompt", "prompt_version")
DRIFT_SEGMENT = "prompt"  # the overview's drift banner judges each of the busiest prompts
MAX_SERIES = 8  # more lines than this on one chart is noise; the table below lists every group
Text = Annotated[str | None, Query(max_length=64)]


def _group(group_by: Text = None) -> str | None:
    if not group_by:
        return None
    if group_by not in GROUPS:
        raise HTTPException(400, f"cannot break down by {group_by!r}; use one of {', '.join(GROUPS)}")
    return group_by


GroupBy = Annotated[str | None, Depends(_group)]


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request,
    store: StoreDep,
    project: ProjectPage,
    tr: DayRange,
    group: GroupBy,
) -> HTMLResponse:
    totals = q.period_totals(store, project, tr.since, tr.until, {})
    query = urlencode({**tr.query(), **({"group_by": group} if group else {})})
    return render(request, "overview.html", tr=tr, totals=totals, group_by=group, groups=GROUPS, query=query)


@router.get("/ui/overview/charts", response_class=HTMLResponse)
def overview_charts(
    request: Request,
    store: StoreDep,
    project: ProjectPage,
    tr: DayRange,
    group: GroupBy,
) -> HTMLResponse:
    series = metric_queries.metrics_series(
        store,
        project,
        metric_queries.MetricsQuery(
            interval=tr.interval,
            since=tr.since,
            until=tr.until,
            group_by=(group,) if group else (),
            totals=bool(group),  # the breakdown table's
        ),
    )["series"]
    charts = _metric_charts(series, group)
    rows = [_breakdown_row(s, group) for s in series] if group else []
    query = urlencode({**tr.query(), **({"group_by": group} if group else {})})
    return render(
        request, "_overview_charts.html", charts=charts, rows=rows, group_by=group, tr=tr, query=query
    )


@router.get("/ui/overview/quality", response_class=HTMLResponse)
def overview_quality(
    request: Request,
    store: StoreDep,
    project: ProjectPage,
    tr: DayRange,
    group: GroupBy,
) -> HTMLResponse:
    """The score chart on its own request: joining scores to spans is the overview's slowest
    query, and the metric charts need not wait for it."""
    quality = _quality_chart(store, project, tr, group)
    return render(request, "_overview_quality.html", charts=[quality] if quality else [])


def _label(group: dict[str, Any], by: str | None) -> str:
    if not by:
        return "all"
    return str(group.get(by) or "(none)")


def _metric_charts(series: list[dict[str, Any]], by: str | None) -> list[dict[str, Any]]:
    if not series:
        return []
    x = [int(datetime.fromisoformat(p["t"].replace("Z", "+00:00")).timestamp()) for p in series[0]["points"]]
    shown = series[:MAX_SERIES]

    def chart(title: str, unit: str, key: str) -> dict[str, Any]:
        return {
            "title": title,
            "unit": unit,
            "x": x,
            "series": [
                {"label": _label(s["group"], by), "values": [_value(p, key) for p in s["points"]]}
                for s in shown
            ],
        }

    charts = [
        chart("Calls", "calls", "calls"),
        chart("Cost", "usd", "cost_usd"),
        chart("Errors", "calls", "errors"),
        chart("Latency p50", "ms", "latency_p50_ms"),
        chart("Latency p95", "ms", "latency_p95_ms"),
        chart("Tokens (input + output)", "tokens", "tokens"),
    ]
    return charts


def _value(point: dict[str, Any], key: str) -> Any:
    return point["input_tokens"] + point["output_tokens"] if key == "tokens" else point[key]


def _quality_chart(store: Any, project: str, tr: TimeRange, by: str | None) -> dict[str, Any] | None:
    """Mean of each score name per bucket (broken down the same way when the trends allow it)."""
    seconds = (tr.until - tr.since).total_seconds()
    interval = next((n for n, s in trend_queries.INTERVALS.items() if seconds / s <= 120), "7d")
    groups = [by] if by in trend_queries.GROUPS else []
    rows = trend_queries.score_trends(
        store,
        project,
        name=None,
        interval=interval,
        since=tr.since,
        until=tr.until,
        group_by=groups,
        filters={},
        pass_threshold=0.5,
    )
    if not rows:
        return None
    step = trend_queries.INTERVALS[interval]
    start = int(tr.since.timestamp()) // step * step
    x = list(range(start, int(tr.until.timestamp()), step))
    index = {t: i for i, t in enumerate(x)}
    lines: dict[str, list[float | None]] = {}
    for r in rows:
        label = r["sname"] + (f" · {r[f'g_{by}'] or '(none)'}" if groups else "")
        values = lines.setdefault(label, [None] * len(x))
        t = int(r["t"].replace(tzinfo=UTC).timestamp())
        if t in index:
            values[index[t]] = float(r["mean"])
    return {
        "title": "Quality (mean score)",
        "unit": "score",
        "x": x,
        "series": [{"label": k, "values": v} for k, v in list(lines.items())[:MAX_SERIES]],
    }


def _breakdown_row(series: dict[str, Any], by: str | None) -> dict[str, Any]:
    """One group's row: the range's totals (the API's), and the highest p95 of the chart's points."""
    totals = series["totals"]
    calls, cost = totals["calls"], totals["cost_usd"]
    p95 = [p["latency_p95_ms"] for p in series["points"] if p["latency_p95_ms"] is not None]
    return {
        "label": _label(series["group"], by),
        "value": series["group"].get(by) if by else None,
        "calls": calls,
        "errors": totals["errors"],
        "error_rate": totals["error_rate"],
        "cost_usd": cost,
        "cost_per_call": cost / calls if calls else None,
        "tokens": totals["input_tokens"] + totals["output_tokens"],
        "latency_p50_ms": totals["latency_p50_ms"],
        "latency_p95_ms": totals["latency_p95_ms"],
        "latency_p95_max_ms": max(p95) if p95 else None,
    }


@router.get("/ui/banners", response_class=HTMLResponse)
def banners(request: Request, store: StoreDep, project: ProjectPage) -> HTMLResponse:
    """Alerts firing now and drift found in the last 24 h (vs the week before), per prompt."""
    firing = []
    for rule in alert_queries.list_rules(store, project):
        for key, state in alert_queries.load_states(store, rule["id"]).items():
            if state["state"] == "firing":
                firing.append({"rule": rule["name"], "key": key, "since": state["since"]})
    report = compute_report(store, project, resolve_windows(None, None, None, None), {}, DRIFT_SEGMENT, 5)
    drifted: dict[str, list[str]] = {}
    if report["verdict"] == DRIFT:
        for finding in report["drifted"]:
            segment = ", ".join(f"{k}={v}" for k, v in finding["segment"].items()) or "all traffic"
            drifted.setdefault(segment, []).append(finding["feature"])
    return render(
        request, "_banners.html", firing=firing, drifted=list(drifted.items()), segment_by=DRIFT_SEGMENT
    )
