"""Webhook delivery: a JSON POST (Slack-compatible ``text`` included), retried with backoff.

Delivery never raises: whatever goes wrong becomes a :class:`Delivery` whose ``error`` is a short
category (``timeout``, ``refused``, ``dns``, ``tls``, ``blocked_address``, ``http_status 503``,
...), never the raw connection text, which would let a rule's author probe the server's network
through the events API. Connections go only where :class:`WebhookPolicy` allows, to the very
address that was checked; redirects are not followed (a 3xx is recorded as its status); connect
and each read time out after :data:`TIMEOUT_S`.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmtrace_server.alerts.webhook_policy import WebhookPolicy, check_webhook_url

TIMEOUT_S = 5.0  # connect, and each read of the answer
MAX_ATTEMPTS = 3
log = logging.getLogger("llmtrace.alerts")


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of one notification: delivered or not, attempts made, the last error's category."""

    delivered: bool
    attempts: int
    error: str


class BlockedAddress(OSError):
    """Every address the webhook's host resolves to is one the policy refuses."""


def post_webhook(
    url: str,
    payload: Mapping[str, Any],
    *,
    policy: WebhookPolicy | None = None,
    attempts: int = MAX_ATTEMPTS,
    backoff_s: float = 0.5,
    timeout_s: float = TIMEOUT_S,
) -> Delivery:
    """POST ``payload`` to ``url``; retry timeouts, connection failures, 5xx and 429 after
    ``backoff_s``, ``2 * backoff_s``, ... (at most :data:`MAX_ATTEMPTS` attempts).

    A 4xx other than 429, a redirect, an invalid URL or a refused address is not retried: it
    would fail again the same way.
    """
    policy = policy or WebhookPolicy()
    attempts = max(1, min(attempts, MAX_ATTEMPTS))
    try:
        check_webhook_url(url)
        body = json.dumps(payload, default=str).encode()
    except ValueError:
        return Delivery(False, 0, "invalid_url")
    opener = _opener(policy, timeout_s)
    error = ""
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "llmtrace-alerts"},
        )
        try:
            with opener.open(request, timeout=timeout_s) as response:
                response.read(65536)  # the answer is not used: never read an unbounded body
            return Delivery(True, attempt, "")
        except Exception as exc:  # delivery never raises into the evaluator
            error, retry = _category(exc)
        if not retry:
            return Delivery(False, attempt, error)
        if attempt < attempts:
            time.sleep(backoff_s * 2 ** (attempt - 1))
    return Delivery(False, attempts, error)


def _category(exc: BaseException) -> tuple[str, bool]:
    """(the recorded error, whether another attempt may succeed) for a failed POST."""
    if isinstance(exc, urllib.error.HTTPError):
        code = exc.code
        return f"http_status {code}", code >= 500 or code == 429
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, BlockedAddress):
        return "blocked_address", False
    if isinstance(reason, socket.gaierror):
        return "dns", False
    if isinstance(reason, TimeoutError | socket.timeout):
        return "timeout", True
    if isinstance(reason, ConnectionRefusedError):
        return "refused", True
    if isinstance(reason, ssl.SSLError | ssl.CertificateError):
        return "tls", False
    if isinstance(reason, ConnectionError | http.client.HTTPException):
        return "connection_error", True
    if isinstance(reason, OSError):
        return "network_error", True
    if isinstance(reason, ValueError):  # e.g. http.client.InvalidURL
        return "invalid_url", False
    log.warning("unexpected webhook delivery error", exc_info=exc)
    return "error", False


def _opener(policy: WebhookPolicy, timeout_s: float) -> urllib.request.OpenerDirector:
    """An opener with no proxies, no redirects and connections only to allowed addresses."""

    def connect(address: tuple[str, int], timeout: Any = timeout_s, source: Any = None) -> socket.socket:
        return _connect_allowed(policy, address[0], address[1], timeout_s)

    class Http(http.client.HTTPConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = connect

    class Https(http.client.HTTPSConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = connect

    class HttpHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(Http, req)

    class HttpsHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(Https, req, context=ssl.create_default_context())

    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), _NoRedirect(), HttpHandler(), HttpsHandler()
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is the answer (recorded as ``http_status 302``): following it could lead anywhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _connect_allowed(policy: WebhookPolicy, host: str, port: int, timeout_s: float) -> socket.socket:
    """A socket connected to the first allowed address of ``host``; :class:`BlockedAddress` if none is."""
    last: OSError | None = None
    blocked = False
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if not policy.allows(host, address):
            blocked = True
            continue
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout_s)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock
    if last is not None:
        raise last
    if blocked:
        raise BlockedAddress(f"every address of {host!r} is refused by the webhook policy")
    raise OSError(f"{host!r} resolved to no address")
