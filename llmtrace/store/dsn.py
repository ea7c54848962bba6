"""Parse store DSNs: the embedded chDB engine or a ClickHouse server over HTTP(S).

Accepted forms::

    chdb:///abs/path                  embedded store in a directory (database from --database or "llmtrace")
    chdb:///abs/path?database=name    ... with the database named in the DSN
    chdb://memory/name                embedded, in memory (gone when the process exits)
    http://user:pass@host:8123/name   a ClickHouse server (https:// for TLS)
    clickhouse://user:pass@host/name  alias of http:// (https when the port is 8443 or 443)

Errors name the DSN with its password masked, so they are safe to print and log.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from llmtrace.store.errors import StoreError

ENV_STORE = "LLMTRACE_STORE"
DEFAULT_DATABASE = "llmtrace"
_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
_SERVER_SCHEMES = ("http", "https", "clickhouse")


def default_store_path() -> Path:
    """Where the embedded store lives when nothing else is configured: ``~/.llmtrace/data``."""
    return Path.home() / ".llmtrace" / "data"


def default_dsn() -> str:
    """``$LLMTRACE_STORE`` if set, else the embedded store at :func:`default_store_path`."""
    return os.environ.get(ENV_STORE) or f"chdb://{default_store_path()}"


@dataclass(frozen=True, slots=True)
class StoreDSN:
    """A parsed DSN. ``path`` is set for embedded stores (None = in memory), ``host`` for servers."""

    raw: str
    embedded: bool
    database: str | None  # as named in the DSN; None = not named
    path: str | None = None
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = None
    secure: bool = False

    @property
    def masked(self) -> str:
        """The DSN as given, with any password replaced by ``***``."""
        return mask_dsn(self.raw)


def mask_dsn(dsn: str) -> str:
    """Replace the password in ``scheme://user:password@host`` (and ``?password=``) with ``***``."""
    masked = re.sub(r"(://[^/@:]*:)[^@/]*@", r"\1***@", dsn)
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", masked)


def check_database_name(name: str, dsn: str = "") -> str:
    """Database names become SQL identifiers: allow letters, digits and underscores only."""
    if not _DATABASE_NAME.match(name):
        where = f" (store {mask_dsn(dsn)})" if dsn else ""
        raise StoreError(f"invalid database name {name!r}{where}: use letters, digits and underscores")
    return name


def parse_dsn(dsn: str) -> StoreDSN:
    """Parse ``dsn`` or raise :class:`StoreError` with one line naming it (password masked)."""
    masked = mask_dsn(dsn)
    try:
        parts = urlsplit(dsn.strip())
        port = parts.port
    except ValueError as exc:
        raise StoreError(f"malformed store DSN {masked}: {exc}") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    scheme = parts.scheme.lower()
    if scheme == "chdb":
        return _parse_chdb(dsn, parts.netloc, unquote(parts.path), query)
    if scheme in _SERVER_SCHEMES:
        if not parts.hostname:
            raise StoreError(
                f"malformed store DSN {masked}: no host (expected {scheme}://user:pass@host:8123/db)"
            )
        db = unquote(parts.path.strip("/")) or query.get("database") or None
        if db:
            check_database_name(db, dsn)
        secure = scheme == "https" or (scheme == "clickhouse" and port in (443, 8443))
        return StoreDSN(
            raw=dsn,
            embedded=False,
            database=db,
            host=parts.hostname,
            port=port or (8443 if secure else 8123),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            secure=secure,
        )
    raise StoreError(
        f"malformed store DSN {masked}: expected chdb:///abs/path, chdb://memory/db or http(s)://host:8123/db"
    )


def _parse_chdb(dsn: str, netloc: str, path: str, query: dict[str, str]) -> StoreDSN:
    masked = mask_dsn(dsn)
    db = query.get("database") or None
    if not dsn.strip()[len("chdb:") :].startswith("//"):
        # chdb:/relative parses like chdb:///relative and would write at the filesystem root.
        raise StoreError(
            f"malformed store DSN {masked}: use chdb:///absolute/path (three slashes) or chdb://memory/db"
        )
    if netloc in ("memory", ":memory:"):
        db = path.strip("/") or db
        if db:
            check_database_name(db, dsn)
        return StoreDSN(raw=dsn, embedded=True, database=db, path=None)
    if netloc:
        raise StoreError(
            f"malformed store DSN {masked}: use chdb:///absolute/path (three slashes) or chdb://memory/db"
        )
    if not path.startswith("/") or path == "/":
        raise StoreError(f"malformed store DSN {masked}: the embedded store path must be absolute")
    if db:
        check_database_name(db, dsn)
    return StoreDSN(raw=dsn, embedded=True, database=db, path=os.path.realpath(path))
