"""Bounds on reading request bodies: in time (408) for every route, in size (413) for the JSON API.

Without a deadline a connection that sends headers (``Content-Length: 1000000``) and then one
byte holds its request open for as long as the socket stays up; enough of them once starved
ingest for every other client. The deadline counts from the first read of the body, so it bounds
only the upload, never the time the server takes to answer.

Without a size cap the JSON API read any body whole before validating it: one ``POST
/api/v1/scores`` of 300 MB (5,000 scores with long comments, each valid) took the server from 400
MB to 1.8 GB while it parsed, so a few at once would have stopped it for every project. The OTLP
endpoints (``exempt``) cap their bodies themselves, answering in OTLP's own error shape and
capping what a gzip body inflates to.

Pure ASGI (not ``BaseHTTPMiddleware``): it wraps ``receive``, so every route, FastAPI's JSON
bodies included, is covered without reading the body twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

# The most of a refused body read (and dropped) so its client reads the 413; beyond it the
# connection is closed unread, as a body far over any limit is not a client's honest mistake.
DRAIN_MAX_BYTES = 64 * 1024 * 1024

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


class RequestBodyLimits:
    """ASGI middleware: the whole body within ``timeout_s`` seconds, and (outside the ``exempt``
    path prefixes) at most ``max_bytes`` bytes."""

    def __init__(self, app: ASGIApp, timeout_s: float, max_bytes: int, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.exempt = exempt

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = None if scope["path"].startswith(self.exempt) else self.max_bytes
        too_large = f"request body is over {max_bytes} bytes; send less per request"
        loop = asyncio.get_running_loop()
        if max_bytes is not None and _declared_length(scope) > max_bytes:
            await drain(receive, loop.time() + self.timeout_s)
            await _refuse(send, 413, too_large)
            return
        deadline: float | None = None
        body_done = False
        received = 0
        refused: tuple[int, str] | None = None
        started = False

        async def bounded_receive() -> Message:
            nonlocal deadline, body_done, received, refused
            if body_done:  # later reads only wait for a disconnect: no deadline
                return await receive()
            if deadline is None:
                deadline = loop.time() + self.timeout_s
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                refused = (408, f"request body not received within {self.timeout_s:g} s")
                return {"type": "http.disconnect"}  # the app stops reading, as if the client left
            if message["type"] == "http.request" and max_bytes is not None:
                received += len(message.get("body", b""))
                if received > max_bytes:  # a body sent without (or under) its Content-Length
                    if message.get("more_body", False):
                        await drain(receive, deadline)
                    refused = (413, too_large)
                    return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def send_unless_refused(message: Message) -> None:
            nonlocal started
            if refused:  # the app's answer to the "disconnect" is replaced by the refusal below
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, send_unless_refused)
        except Exception:
            if not refused:
                raise
        if refused and not started:
            await _refuse(send, *refused)


async def drain(receive: Receive, deadline: float) -> None:
    """Read and drop the rest of a body that will be refused: until ``deadline``, and at most
    :data:`DRAIN_MAX_BYTES`.

    Answering before the body is read makes the server close a socket with data unread, which
    resets the connection: a client still uploading (urllib, the OTLP exporters) sees "connection
    reset" and retries instead of reading the 413 and sending less.
    """
    dropped = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout_at(deadline):
            while dropped <= DRAIN_MAX_BYTES:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return
                dropped += len(message.get("body", b""))


def _declared_length(scope: MutableMapping[str, Any]) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the server (h11) refuses a malformed Content-Length before this
    return 0


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # what is left of the body is not read
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
