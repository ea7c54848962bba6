"""What the three OTLP/HTTP routes (``/v1/traces``, ``/v1/logs``, ``/v1/metrics``) share.

Each request is checked in the same order before any capacity is taken: its Content-Type (415),
its API key (401), then its body is read in full against the size limit (413; a client that
hangs up mid-body gets 400). The body is read before a slot of the ingest gate is taken, so a
stalled upload (cut off by the body read deadline, :mod:`llmtrace_server.request_body`) holds no
capacity other clients need. Errors are answered as the ``google.rpc.Status`` that OTLP/HTTP
prescribes, in the encoding of the request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import HTTPException, Request, Response
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from starlette.requests import ClientDisconnect

from llmtrace_server import otlp
from llmtrace_server.auth import project_for
from llmtrace_server.request_body import DRAIN_MAX_BYTES
from llmtrace_server.settings import Settings

RETRY_AFTER_S = 1
# The OTLP/HTTP endpoints: they check a body's size themselves (`_read_body`, `otlp.decompress`).
OTLP_PATHS = ("/v1/traces", "/v1/logs", "/v1/metrics")

REQUEST_BODY_DOC = {
    "description": "OTLP/HTTP Export*ServiceRequest (application/x-protobuf or application/json).",
    "content": {
        otlp.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
        otlp.JSON: {"schema": {"type": "object"}},
    },
}


@dataclass(frozen=True, slots=True)
class Received:
    """An OTLP request that passed the checks every signal makes, with its whole body."""

    media: str  # otlp.PROTOBUF or otlp.JSON
    project: str  # of the API key
    body: bytes  # as sent (still compressed if Content-Encoding says so)
    encoding: str | None  # the Content-Encoding header


async def receive(request: Request) -> Received | Response:
    """The checked request, or the error response that ends it (415, 401, 413, 400)."""
    settings: Settings = request.app.state.settings
    try:
        media = otlp.media_type(request.headers.get("content-type"))
    except otlp.UnsupportedMedia as exc:
        return status_response(otlp.JSON, 415, code_pb2.INVALID_ARGUMENT, str(exc))
    try:
        project = project_for(settings, request.headers.get("authorization"))
    except HTTPException as exc:
        return status_response(media, exc.status_code, code_pb2.UNAUTHENTICATED, str(exc.detail), exc.headers)
    try:
        body = await _read_body(request, settings.max_body_bytes)
    except _BodyTooLarge:
        return too_large(media, settings)
    except ClientDisconnect:  # the exporter gave up mid-body; nothing was written
        return Response(status_code=400)
    return Received(media, project, body, request.headers.get("content-encoding"))


class _BodyTooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, or _BodyTooLarge once it is over ``limit``: up to DRAIN_MAX_BYTES of the rest are
    read and dropped first (so the client reads the 413 rather than a reset connection; the body
    read deadline bounds the time)."""
    declared = request.headers.get("content-length")
    chunks: list[bytes] = []
    size = 0
    too_large = declared is not None and declared.isdigit() and int(declared) > limit
    async for chunk in request.stream():
        size += len(chunk)
        too_large = too_large or size > limit
        if not too_large:
            chunks.append(chunk)
        elif size > limit + DRAIN_MAX_BYTES:
            break
    if too_large:
        raise _BodyTooLarge
    return b"".join(chunks)


def too_large(media: str, settings: Settings) -> Response:
    """413 for a body (or what it inflates to) over ``settings.max_body_bytes``."""
    return status_response(
        media, 413, code_pb2.INVALID_ARGUMENT, f"body is over {settings.max_body_bytes} bytes"
    )


def unavailable(media: str, text: str) -> Response:
    """503 with ``Retry-After``: the exporter retries, and the retry is safe."""
    return status_response(media, 503, code_pb2.UNAVAILABLE, text, {"Retry-After": str(RETRY_AFTER_S)})


def status_response(
    media: str, http_status: int, code: int, text: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An error as the ``google.rpc.Status`` that OTLP/HTTP prescribes, in the request's encoding."""
    return encoded(media, http_status, status_pb2.Status(code=code, message=text), headers)


def encoded(
    media: str, http_status: int, message: object, headers: Mapping[str, str] | None = None
) -> Response:
    """``message`` (a protobuf message) as the response body, in the request's encoding."""
    if media == otlp.PROTOBUF:
        content = message.SerializeToString()  # type: ignore[attr-defined]
    else:
        content = json.dumps(json_format.MessageToDict(message)).encode()  # type: ignore[arg-type]
    return Response(content=content, status_code=http_status, media_type=media, headers=headers)
