"""Which webhook URLs a rule may name and which addresses a delivery may reach.

A rule's ``webhook_url`` is chosen by whoever holds an API key, but the request is sent by the
server, from inside its network: without a policy a rule could make the server POST to its own
loopback services, a cloud metadata endpoint (``169.254.169.254``) or hosts on the private
network, and read the outcome back through the events API. So:

* the URL is parsed strictly when the rule is created (:func:`check_webhook_url`, a 422 naming
  the problem), never first at delivery;
* every address a host resolves to is checked right before connecting, and the connection goes to
  the address that was checked (no second DNS lookup an attacker could answer differently):
  loopback, private, link-local, multicast, unspecified and reserved addresses are refused unless
  the operator allowed the host (``llmtrace serve --allow-webhook-host HOST``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_CHARS = 2048
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?"
)
_ALLOWED_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")  # RFC 3986, already percent-encoded
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_webhook_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL a delivery can use; ValueError naming the problem.

    Example::

        check_webhook_url("https://hooks.slack.com/services/T0/B0/x")  # returned as is
        check_webhook_url("http://127.0.0.1:abc/")  # ValueError: the port must be a number ...
    """
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"webhook_url is longer than {MAX_URL_CHARS} characters")
    if not _ALLOWED_CHARS.fullmatch(url):
        bad = next(c for c in url if not _ALLOWED_CHARS.fullmatch(c))
        raise ValueError(
            f"webhook_url contains {bad!r}: spaces and other such characters must be percent-encoded"
        )
    if _PERCENT.search(url):
        raise ValueError("webhook_url has a '%' that is not followed by two hex digits")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. "Invalid IPv6 URL" for http://[::1/
        raise ValueError(f"webhook_url cannot be parsed: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("webhook_url must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("webhook_url must not carry credentials (user:password@); put a token in the path")
    host = parts.hostname
    if not host:
        raise ValueError("webhook_url has no host")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("webhook_url's port must be a number from 1 to 65535") from None
    if port == 0:
        raise ValueError("webhook_url's port must be a number from 1 to 65535")
    if _ip(host) is None and not _HOSTNAME.fullmatch(host):
        raise ValueError(f"webhook_url's host {host!r} is neither a host name nor an IP address")
    return url


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """Where deliveries may go: public addresses, plus the hosts the operator allowed by name or IP."""

    allow_hosts: frozenset[str] = frozenset()

    @classmethod
    def allowing(cls, hosts: tuple[str, ...] | list[str]) -> WebhookPolicy:
        return cls(frozenset(h.strip().strip("[]").lower() for h in hosts if h.strip()))

    def allows(self, host: str, address: IPAddress) -> bool:
        """May a delivery to ``host`` connect to ``address`` (one of its resolved addresses)?"""
        if host.lower().rstrip(".") in self.allow_hosts or str(address) in self.allow_hosts:
            return True
        return is_public(address)

    def refusal(self, url: str) -> str | None:
        """Why a rule may not name ``url`` (a literal internal address or localhost), else None.

        Host names are checked again, resolved, at every delivery; this catches the obvious cases
        when the rule is created, where the user can still correct them.
        """
        host = (urlsplit(url).hostname or "").lower()
        address = ipaddress.ip_address("127.0.0.1") if host in ("localhost", "localhost.") else _ip(host)
        if address is None or self.allows(host, address):
            return None
        return (
            f"webhook_url's host {host!r} is a loopback, private, link-local or multicast address; "
            "the server refuses to send webhooks there unless started with --allow-webhook-host "
            f"{host} (LLMTRACE_ALLOW_WEBHOOK_HOSTS)"
        )


def is_public(address: IPAddress) -> bool:
    """False for loopback, private, link-local, multicast, unspecified and reserved addresses."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    )


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
