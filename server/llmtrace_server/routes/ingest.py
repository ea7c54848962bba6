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

import asyncio
import json
import logging
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from fastapi import APIRouter, HTTPException, Request, Response
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from llmtrace.store import StoreError
from llmtrace_server import otlp
from llmtrace_server.auth import project_for
from llmtrace_server.ingest import DecodeFailure, PreparedBatch, decode_batch
from llmtrace_server.ingest_gate import IngestGate, Overloaded
from llmtrace_server.settings import Settings
from llmtrace_server.writer import SpanWriter

log = logging.getLogger(__name__)
router = APIRouter(tags=["ingest"])
RETRY_AFTER_S = 1

_DOC = {
    "description": "OTLP/HTTP ExportTraceServiceRequest (application/x-protobuf or application/json).",
    "content": {
        otlp.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
        otlp.JSON: {"schema": {"type": "object"}},
    },
}


class _BodyTooLarge(Exception):
    pass


@router.post(
    "/v1/traces",
    summary="Ingest spans (OTLP/HTTP)",
    openapi_extra={"requestBody": _DOC},
    response_class=Response,
    responses={
        200: {"description": "ExportTraceServiceResponse (partial_success when spans were rejected)"},
        400: {"description": "Malformed body; nothing was written"},
        413: {"description": "Body over the size limit"},
        503: {"description": "Overloaded or store unavailable; retry after Retry-After seconds"},
    },
)
async def export_traces(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    gate: IngestGate = request.app.state.ingest_gate
    try:
        media = otlp.media_type(request.headers.get("content-type"))
    except otlp.UnsupportedMedia as exc:
        return _status(otlp.JSON, 415, code_pb2.INVALID_ARGUMENT, str(exc))
    try:
        project = project_for(settings, request.headers.get("authorization"))
    except HTTPException as exc:
        return _status(media, exc.status_code, code_pb2.UNAUTHENTICATED, str(exc.detail), exc.headers)
    writer: SpanWriter = request.app.state.span_writer
    try:
        # The body is read before any slot is taken: a stalled upload (cut off by the body read
        # deadline, llmtrace_server.body_deadline) holds no capacity other clients need.
        body = await _read_body(request, settings.max_body_bytes)
        async with gate.admit(project):
            with writer.incoming():
                async with gate.work():
                    decoded = await _decode(request, body, media, project, settings)
            if isinstance(decoded, DecodeFailure):
                return _status(media, decoded.status, code_pb2.INVALID_ARGUMENT, decoded.message)
            # Outside the work slot: the next request decodes while this one waits for its write.
            await writer.write(decoded.spans)
    except Overloaded as exc:
        return _status(media, 503, code_pb2.UNAVAILABLE, str(exc), _retry_after())
    except _BodyTooLarge:
        return _status(media, 413, code_pb2.INVALID_ARGUMENT, f"body is over {settings.max_body_bytes} bytes")
    except StoreError as exc:
        log.error("span insert failed: %s", exc)
        return _status(media, 503, code_pb2.UNAVAILABLE, f"store unavailable: {exc}", _retry_after())
    except ClientDisconnect:  # the exporter gave up mid-body; nothing was written
        return Response(status_code=400)
    except BrokenProcessPool:
        log.error("a decode worker process died; restart the server")
        return _status(media, 503, code_pb2.UNAVAILABLE, "decode worker unavailable", _retry_after())
    return _success(media, decoded)


async def _decode(
    request: Request, body: bytes, media: str, project: str, settings: Settings
) -> PreparedBatch | DecodeFailure:
    """Decode in a worker process when the app has a pool (uses more cores), else in a thread."""
    args = (
        body,
        media,
        request.headers.get("content-encoding"),
        project,
        settings.max_body_bytes,
        request.app.state.span_limits,
    )
    pool: ProcessPoolExecutor | None = request.app.state.decode_pool
    if pool is None:
        return await run_in_threadpool(decode_batch, *args)
    return await asyncio.get_running_loop().run_in_executor(pool, decode_batch, *args)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _success(media: str, prepared: PreparedBatch) -> Response:
    message = ExportTraceServiceResponse()
    if prepared.rejected:
        message.partial_success.rejected_spans = len(prepared.rejected)
        message.partial_success.error_message = prepared.error_message()
    return _encode(media, 200, message)


def _status(
    media: str, http_status: int, code: int, text: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An error as the ``google.rpc.Status`` that OTLP/HTTP prescribes, in the request's encoding."""
    return _encode(media, http_status, status_pb2.Status(code=code, message=text), headers)


def _encode(
    media: str, http_status: int, message: object, headers: Mapping[str, str] | None = None
) -> Response:
    if media == otlp.PROTOBUF:
        content = message.SerializeToString()  # type: ignore[attr-defined]
    else:
        content = json.dumps(json_format.MessageToDict(message)).encode()  # type: ignore[arg-type]
    return Response(content=content, status_code=http_status, media_type=media, headers=headers)


def _retry_after() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_S)}
