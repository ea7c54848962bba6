"""A tiny JSON client for the llmtrace server's HTTP API (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any


class ApiError(RuntimeError):
    """The server answered with an error status (the message carries its body)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Api:
    """``GET``/``POST``/``DELETE`` JSON against ``base_url`` (e.g. ``http://127.0.0.1:7878``)."""

    def __init__(self, base_url: str, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        query = (
            "?" + urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
            if params
            else ""
        )
        return self._send("GET", path + query, None)

    def post(self, path: str, body: Any = None) -> Any:
        return self._send("POST", path, body)

    def _send(self, method: str, path: str, body: Any) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, exc.read().decode(errors="replace")[:500]) from None
        return json.loads(raw) if raw else None
