"""``POST /v1/logs`` and ``POST /v1/metrics``: the other two OTLP/HTTP signals.

Logs: GenAI events (prompts and completions that an instrumentation sends as log records, e.g.
opentelemetry-instrumentation-openai-v2 with ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=
EVENT_ONLY``) are stored for the span they name and shown as its input and output, whether they
arrive before or after it. Other log records are answered as rejected in ``partial_success``.

Metrics: llmtrace computes its metrics from spans. A metrics body is decoded and answered 200
with every data point rejected in ``partial_success`` and the reason, so an exporter configured
for all three signals neither retries nor fails, and its log says why nothing was kept.

Both take the same Content-Types, gzip, API keys, body limit and ingest concurrency as
``/v1/traces`` (:mod:`llmtrace_server.routes.ingest`), and answer errors the same way.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from google.rpc import code_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from starlette.concurrency import run_in_threadpool

from llmtrace.store import Store, StoreError
from llmtrace_server import otlp, otlp_logs
from llmtrace_server.ingest import SpanLimits
from llmtrace_server.ingest_gate import IngestGate, Overloaded
from llmtrace_server.routes._otlp_http import (
    REQUEST_BODY_DOC,
    Received,
    encoded,
    receive,
    status_response,
    too_large,
    unavailable,
)
from llmtrace_server.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["ingest"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed body; nothing was written"},
    413: {"description": "Body over the size limit"},
    503: {"description": "Overloaded or store unavailable; retry after Retry-After seconds"},
}


@router.post(
    "/v1/logs",
    summary="Ingest GenAI events (OTLP/HTTP logs)",
    openapi_extra={"requestBody": REQUEST_BODY_DOC},
    response_class=Response,
    responses={200: {"description": "ExportLogsServiceResponse (non-GenAI records rejected)"}, **_ERRORS},
)
async def export_logs(request: Request) -> Response:
    return await _export(request, "logs")


@router.post(
    "/v1/metrics",
    summary="OTLP/HTTP metrics: accepted and not stored",
    openapi_extra={"requestBody": REQUEST_BODY_DOC},
    response_class=Response,
    responses={200: {"description": "ExportMetricsServiceResponse rejecting every data point"}, **_ERRORS},
)
async def export_metrics(request: Request) -> Response:
    return await _export(request, "metrics")


async def _export(request: Request, signal: str) -> Response:
    received = await receive(request)
    if isinstance(received, Response):
        return received
    settings: Settings = request.app.state.settings
    gate: IngestGate = request.app.state.ingest_gate
    media = received.media
    try:
        async with gate.admit(received.project), gate.work():
            if signal == "metrics":
                points = await run_in_threadpool(_metric_points, received, settings)
                return _metrics_answer(media, points)
            prepared = await run_in_threadpool(
                _prepare_logs, received, settings, request.app.state.span_limits
            )
            store: Store = request.app.state.store
            await run_in_threadpool(
                store.insert_span_content, prepared.rows, dedup_token=prepared.dedup_token()
            )
    except otlp.UnsupportedMedia as exc:
        return status_response(media, 415, code_pb2.INVALID_ARGUMENT, str(exc))
    except otlp.BodyTooLarge:
        return too_large(media, settings)
    except otlp.MalformedBody as exc:
        return status_response(media, 400, code_pb2.INVALID_ARGUMENT, str(exc))
    except Overloaded:
        return unavailable(media, "ingest is overloaded; retry later")
    except StoreError as exc:
        log.error("span content insert failed: %s", exc)
        return unavailable(media, f"store unavailable: {exc}")
    message = ExportLogsServiceResponse()
    if prepared.rejected:
        message.partial_success.rejected_log_records = prepared.rejected
        message.partial_success.error_message = prepared.error_message()
    return encoded(media, 200, message)


def _prepare_logs(received: Received, settings: Settings, limits: SpanLimits) -> otlp_logs.PreparedLogs:
    body = otlp.decompress(received.body, received.encoding, settings.max_body_bytes)
    return otlp_logs.prepare_logs(body, received.media, received.project, limits)


def _metric_points(received: Received, settings: Settings) -> int:
    body = otlp.decompress(received.body, received.encoding, settings.max_body_bytes)
    return otlp_logs.metric_data_points(body, received.media)


def _metrics_answer(media: str, points: int) -> Response:
    message = ExportMetricsServiceResponse()
    if points:
        message.partial_success.rejected_data_points = points
        message.partial_success.error_message = otlp_logs.metrics_response_text(points)
    return encoded(media, 200, message)
