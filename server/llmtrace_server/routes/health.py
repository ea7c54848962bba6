"""``/healthz`` (the process answers) and ``/readyz`` (the store answers a query)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from llmtrace_server.deps import StoreDep
from llmtrace_server.schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness", response_model=HealthPublic)
async def healthz() -> HealthPublic:
    return HealthPublic(status="ok")


@router.get(
    "/readyz",
    summary="Readiness: the store is reachable",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic}},
)
def readyz(store: StoreDep) -> HealthPublic | JSONResponse:
    try:
        store.client.query("SELECT 1")
    except Exception as exc:  # any failure means "not ready"; the message helps the operator
        return JSONResponse({"status": f"store unavailable: {type(exc).__name__}"}, status_code=503)
    return HealthPublic(status="ok")
