"""A deadline on reading request bodies: a client that stalls mid-upload gets 408 and is dropped.

Without it a connection that sends headers (``Content-Length: 1000000``) and then one byte holds
its request open for as long as the socket stays up; enough of them once starved ingest for
every other client. The deadline counts from the first read of the body, so it bounds only the
upload, never the time the server takes to answer.

Pure ASGI (not ``BaseHTTPMiddleware``): it wraps ``receive``, so every route, FastAPI's JSON
bodies included, is covered without reading the body twice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]


class BodyReadDeadline:
    """ASGI middleware: the whole request body must arrive within ``timeout_s`` seconds."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        body_done = False
        timed_out = False
        started = False

        async def receive_with_deadline() -> Message:
            nonlocal deadline, body_done, timed_out
            if body_done:  # later reads only wait for a disconnect: no deadline
                return await receive()
            if deadline is None:
                deadline = loop.time() + self.timeout_s
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                return {"type": "http.disconnect"}  # the app stops reading, as if the client left
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def send_unless_timed_out(message: Message) -> None:
            nonlocal started
            if timed_out:  # the app's answer to the "disconnect" is replaced by the 408 below
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_with_deadline, send_unless_timed_out)
        except Exception:
            if not timed_out:
                raise
        if timed_out and not started:
            await _send_timeout(send, self.timeout_s)


async def _send_timeout(send: Send, timeout_s: float) -> None:
    body = json.dumps({"detail": f"request body not received within {timeout_s:g} s"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 408,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
