"""Fake provider endpoints at the HTTP seam: real SDK clients, an httpx2 MockTransport, SDK-typed payloads.

Payloads are built from the installed SDKs' own pydantic types (``model_dump(mode="json")``) so
they are valid for the installed version; streams are real SSE bodies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx2


def sse(events: Iterable[Any], *, done: bool = True, named: bool = False) -> bytes:
    """An SSE body: OpenAI style (``data:`` lines, ``[DONE]``) or Anthropic style (``event:`` names)."""
    out = []
    for event in events:
        data = event if isinstance(event, dict) else event.model_dump(mode="json", exclude_none=True)
        if named:
            out.append(f"event: {data['type']}\ndata: {json.dumps(data)}\n\n")
        else:
            out.append(f"data: {json.dumps(data)}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


@dataclass
class FakeServer:
    """Routes by path to a JSON body, an SSE body, or an error; records every request body."""

    routes: dict[str, Callable[[dict[str, Any]], httpx2.Response]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def json(self, path: str, payload: Any, status: int = 200) -> None:
        body = payload if isinstance(payload, dict) else payload.model_dump(mode="json")
        self.routes[path] = lambda req: httpx2.Response(status, json=body)

    def stream(self, path: str, body: bytes | Callable[[dict[str, Any]], bytes]) -> None:
        def respond(req: dict[str, Any]) -> httpx2.Response:
            content = body(req) if callable(body) else body
            return httpx2.Response(200, content=content, headers={"content-type": "text/event-stream"})

        self.routes[path] = respond

    def error(self, path: str, status: int, payload: dict[str, Any]) -> None:
        self.routes[path] = lambda req: httpx2.Response(status, json=payload)

    def fail_connect(self, path: str) -> None:
        def respond(req: dict[str, Any]) -> httpx2.Response:
            raise httpx2.ConnectError("connection refused")

        self.routes[path] = respond

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content or b"{}")
        self.requests.append(body)
        for suffix, respond in self.routes.items():
            if request.url.path.endswith(suffix):
                return respond(body)
        return httpx2.Response(404, json={"error": {"message": f"no route {request.url.path}"}})

    def sync_client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self.handler))

    def async_client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self.handler))
