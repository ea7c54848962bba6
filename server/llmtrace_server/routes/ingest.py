"""``POST /v1/traces``: OTLP/HTTP trace ingest (protobuf or JSON, optionally gzip).

Answers follow the OTLP/HTTP specification, in the encoding of the request:

* 200 with an ``ExportTraceServiceResponse`` once every accepted span is written (see
  :mod:`llmtrace_server.writer` for how concurrent requests share an INSERT); spans that were
  rejected on their own are counted in ``partial_success``;
* 400 for a body that cannot be parsed (nothing written), 413 over the size limit, 415 for an
  unknown Content-Type / Content-Encoding, 401 for a missing or wrong API key, 408 for a body not
  received within the read deadline;
* 503 with ``Retry-After`` when too many batches are in flight (in all, or of this request's
  project: its share of the capacity) or the store cannot take the write (the exporter retries;
  the writer's duplicate filter makes the retry safe).
"""

from __future__ import annotations

import logging
from concurrent.futures.process import BrokenProcessPool

from fastapi import APIRouter, Request, Response
from google.rpc import code_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.concurrency import run_in_threadpool

from llmtrace.store import StoreError
from llmtrace_server.decode_pool import DecodePool
from llmtrace_server.ingest import DecodeFailure, PreparedBatch, decode_batch
from llmtrace_server.ingest_gate import IngestGate, Overloaded
from llmtrace_server.routes._otlp_http import (
    REQUEST_BODY_DOC,
    Received,
    encoded,
    receive,
    status_response,
    unavailable,
)
from llmtrace_server.settings import Settings
from llmtrace_server.writer import SpanWriter

log = logging.getLogger(__name__)
router = APIRouter(tags=["ingest"])


@router.post(
    "/v1/traces",
    summary="Ingest spans (OTLP/HTTP)",
    openapi_extra={"requestBody": REQUEST_BODY_DOC},
    response_class=Response,
    responses={
        200: {"description": "ExportTraceServiceResponse (partial_success when spans were rejected)"},
        400: {"description": "Malformed body; nothing was written"},
        413: {"description": "Body over the size limit"},
        503: {"description": "Overloaded or store unavailable; retry after Retry-After seconds"},
    },
)
async def export_traces(request: Request) -> Response:
    received = await receive(request)
    if isinstance(received, Response):
        return received
    media = received.media
    gate: IngestGate = request.app.state.ingest_gate
    writer: SpanWriter = request.app.state.span_writer
    try:
        async with gate.admit(received.project):
            with writer.incoming():
                async with gate.work():
                    decoded = await _decode(request, received)
            if isinstance(decoded, DecodeFailure):
                return status_response(media, decoded.status, code_pb2.INVALID_ARGUMENT, decoded.message)
            # Outside the work slot: the next request decodes while this one waits for its write.
            await writer.write(decoded.spans, decoded.ipc)
    except Overloaded as exc:
        return unavailable(media, str(exc))
    except StoreError as exc:
        log.error("span insert failed: %s", exc)
        return unavailable(media, f"store unavailable: {exc}")
    except BrokenProcessPool:
        log.error("a decode worker process died; restart the server")
        return unavailable(media, "decode worker unavailable")
    return _success(media, decoded)


async def _decode(request: Request, received: Received) -> PreparedBatch | DecodeFailure:
    """Decode in a worker process when the app has a pool (uses more cores), else in a thread."""
    settings: Settings = request.app.state.settings
    args = (
        received.body,
        received.media,
        received.encoding,
        received.project,
        settings.max_body_bytes,
        request.app.state.span_limits,
    )
    pool: DecodePool | None = request.app.state.decode_pool
    if pool is None:
        return await run_in_threadpool(decode_batch, *args)
    return await pool.decode(*args)


def _success(media: str, prepared: PreparedBatch) -> Response:
    message = ExportTraceServiceResponse()
    if prepared.rejected:
        message.partial_success.rejected_spans = len(prepared.rejected)
        message.partial_success.error_message = prepared.error_message()
    return encoded(media, 200, message)
