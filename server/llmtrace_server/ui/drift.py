"""``/drift``: the drift report (``compute_report``, as ``GET /api/v1/drift/report``) per segment
and feature, with reference and current histograms side by side, thresholds and verdicts. The page
is its form; the report, analytics over a week of traffic, loads after it as a fragment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from llmtrace_server.deps import StoreDep
from llmtrace_server.routes.drift import compute_report, resolve_windows
from llmtrace_server.ui.render import render
from llmtrace_server.ui.session import ProjectPage

router = APIRouter()

SEGMENT_BY = ("prompt", "model", "service", "provider", "prompt_version", "environment")
CURRENT = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}


@dataclass(frozen=True, slots=True)
class DriftView:
    """The report's choices, validated (a 400 names the allowed values)."""

    segment_by: str
    current: str
    top: int

    def query(self) -> str:
        return urlencode({"segment_by": self.segment_by, "current": self.current, "top": self.top})


def _view(
    segment_by: Annotated[str, Query(max_length=32)] = "prompt",
    current: Annotated[str, Query(max_length=8)] = "24h",
    top: Annotated[int, Query(ge=1, le=20)] = 5,
) -> DriftView:
    if segment_by and segment_by not in SEGMENT_BY:
        raise HTTPException(400, f"segment by one of {', '.join(SEGMENT_BY)}")
    if current not in CURRENT:
        raise HTTPException(400, f"the current window is one of {', '.join(CURRENT)}")
    return DriftView(segment_by, current, top)


View = Annotated[DriftView, Depends(_view)]


@router.get("/drift", response_class=HTMLResponse)
def drift_page(request: Request, project: ProjectPage, view: View) -> HTMLResponse:
    """The form at once; the report (``/ui/drift/report``) loads after it."""
    return render(
        request,
        "drift.html",
        segment_by=view.segment_by,
        current=view.current,
        top=view.top,
        query=view.query(),
        segment_options=SEGMENT_BY,
        current_options=CURRENT,
    )


@router.get("/ui/drift/report", response_class=HTMLResponse)
def drift_report(request: Request, store: StoreDep, project: ProjectPage, view: View) -> HTMLResponse:
    """Current window: the last ``current``; reference: the 7 days before it (the API's default)."""
    now = datetime.now(UTC)
    windows = resolve_windows(now - CURRENT[view.current], now, None, None)
    report = compute_report(store, project, windows, {}, view.segment_by or None, view.top)
    for segment in report["segments"]:
        segment["features"].sort(key=lambda f: (f["verdict"] != "drift", f["verdict"] == "insufficient_data"))
        for feature in segment["features"]:
            feature["hist"] = histogram(feature)
    return render(request, "_drift_report.html", report=report, segment_by=view.segment_by, top=view.top)


def histogram(feature: dict[str, Any]) -> dict[str, Any]:
    """Bar heights (percent of the tallest share) of both windows, over the same bins."""
    cells = feature.get("bins") or feature.get("categories") or []
    ref = [c.get("reference_share") or 0.0 for c in cells]
    cur = [c.get("current_share") or 0.0 for c in cells]
    top = max([*ref, *cur, 1e-12])
    if feature["kind"] == "numeric":
        labels = [f"{c['low']:.4g}–{c['high']:.4g}" for c in cells]
    else:
        labels = [str(c["value"]) for c in cells]
    return {
        "labels": labels,
        "reference": [100 * v / top for v in ref],
        "current": [100 * v / top for v in cur],
        "ref_share": ref,
        "cur_share": cur,
    }
