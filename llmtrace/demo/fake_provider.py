"""A local fake LLM provider speaking enough of the OpenAI and Anthropic HTTP APIs for their SDKs.

Point the real clients at it::

    with FakeProvider(seed=7) as fake:
        openai.OpenAI(base_url=fake.openai_base_url, api_key="demo")
        anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="demo")

Served: ``POST /v1/chat/completions`` (plain and ``stream: true`` with
``stream_options.include_usage``), ``POST /v1/embeddings``, ``POST /v1/responses`` (plain and
streamed) and ``POST /v1/messages`` (plain and streamed, with prompt-cache usage). Answers take a
realistic (scaled) time, bill about one token per four prompt characters, and fail now and then
with the providers' own 429/500/529 error bodies. It binds 127.0.0.1 only and uses the standard
library's threading HTTP server: one thread per connection, so concurrent clients overlap their
waits like they would against a real provider.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from llmtrace.demo import _anthropic_api, _openai_api
from llmtrace.demo._wire import Reply
from llmtrace.demo.behaviour import Behaviour, Outcome

MAX_BODY_BYTES = 32 * 1024 * 1024


class FakeProvider:
    """The fake provider's server; start it with ``start()`` or a ``with`` block.

    ``seed`` makes every answer reproducible (the same request body gets the same answer);
    ``latency_scale`` multiplies realistic latencies (0 answers at once); ``error_rate`` is the
    share of calls that fail.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        latency_scale: float = 1.0,
        error_rate: float = 0.01,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.behaviour = Behaviour(seed, latency_scale=latency_scale, error_rate=error_rate)
        self.requests: Counter[tuple[str, int]] = Counter()  # (path, status) -> count
        self._lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.provider = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    def start(self) -> FakeProvider:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="llmtrace-fake-provider", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def outcome(self, path: str, request: dict[str, Any]) -> Outcome:
        """What the provider would do with ``request`` at ``path``, without HTTP or waiting.

        The story's backfilled history uses this, so last week's calls behave exactly like the
        calls the real SDK clients make now.
        """
        sub = path.removeprefix("/v1")
        key = self._key(path, request)
        result = _anthropic_api.outcome(sub, request, key, self.behaviour) or _openai_api.outcome(
            sub, request, key, self.behaviour
        )
        if result is None:
            raise ValueError(f"the fake provider does not serve {path}")
        return result

    @staticmethod
    def _key(path: str, request: dict[str, Any]) -> bytes:
        # Streaming or not, the same question gets the same answer.
        canonical = {k: v for k, v in request.items() if k not in ("stream", "stream_options")}
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(path.encode() + b"\0" + text.encode(), digest_size=16).digest()

    def answer(self, path: str, body: bytes) -> Reply:
        """The reply to a POST of ``body`` to ``path``; used by the HTTP handler."""
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return _invalid(path, "The request body is not valid JSON.")
        if not isinstance(request, dict) or not request.get("model"):
            return _invalid(path, "A JSON object with a 'model' field is required.")
        key = self._key(path, request)
        sub = path.removeprefix("/v1")
        reply = _anthropic_api.handle(sub, request, key, self.behaviour)
        if reply is None:
            reply = _openai_api.handle(sub, request, key, self.behaviour)
        if reply is None:
            return Reply(
                status=404,
                body={"error": {"message": f"Unknown endpoint {path}", "type": "invalid_request_error"}},
            )
        return reply

    def _count(self, path: str, status: int) -> None:
        with self._lock:
            self.requests[(path, status)] += 1


def _invalid(path: str, message: str) -> Reply:
    if path.endswith("/messages"):
        return Reply(
            status=400, body={"type": "error", "error": {"type": "invalid_request_error", "message": message}}
        )
    return Reply(
        status=400,
        body={"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}},
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    provider: FakeProvider


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: the SDKs pool connections

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send_json(
                Reply(
                    status=413,
                    body={"error": {"message": "Request too large", "type": "invalid_request_error"}},
                )
            )
            return
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        reply = self.server.provider.answer(path, body)
        self.server.provider._count(path, reply.status)
        if reply.events is None:
            time.sleep(reply.delay_s)
            self._send_json(reply)
        else:
            self._send_stream(reply)

    def do_GET(self) -> None:
        self._send_json(
            Reply(
                status=404,
                body={
                    "error": {"message": "Only POST endpoints are served", "type": "invalid_request_error"}
                },
            )
        )

    def _common_headers(self, reply: Reply) -> None:
        self.send_header(
            "x-request-id", "req_" + hashlib.blake2b(repr(id(reply)).encode(), digest_size=8).hexdigest()
        )
        for name, value in reply.headers.items():
            self.send_header(name, value)

    def _send_json(self, reply: Reply) -> None:
        data = json.dumps(reply.body, separators=(",", ":")).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self._common_headers(reply)
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self._common_headers(reply)
        self.end_headers()
        try:
            for sleep_s, event in reply.events or ():
                if sleep_s > 0:
                    time.sleep(sleep_s)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client abandoned the stream; that is its right

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a demo prints its own progress, not an access log."""
