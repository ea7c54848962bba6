"""A local webhook receiver, so the demo can show the notification an alert actually sent."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookInbox:
    """Collects JSON POSTs on ``http://127.0.0.1:<port>/hook``; ``wait(n)`` blocks until n arrived."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self._cond = threading.Condition()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = json.loads(body or b"null")
                except ValueError:
                    payload = body.decode(errors="replace")
                with inbox._cond:
                    inbox.received.append(payload)
                    inbox._cond.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def wait(self, count: int, timeout_s: float) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self.received) < count and time.monotonic() < deadline:
                self._cond.wait(max(deadline - time.monotonic(), 0.0))
            return list(self.received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
