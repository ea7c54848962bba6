"""Every router the app mounts, one module per resource (add a new resource with one line here)."""

from __future__ import annotations

from fastapi import APIRouter

from llmtrace_server.routes import (
    alerts,
    drift,
    health,
    ingest,
    logs,
    metrics,
    regressions,
    scores,
    sessions,
    spans,
    traces,
    trends,
    users,
)

ROUTERS: list[APIRouter] = [
    health.router,
    ingest.router,
    logs.router,
    spans.router,
    traces.router,
    sessions.router,
    users.router,
    metrics.router,
    scores.router,
    trends.router,
    drift.router,
    regressions.router,
    alerts.router,
]
