"""DSN parsing and the one-line errors users see (passwords masked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmtrace.store import StoreError, open_store
from llmtrace.store.dsn import default_dsn, mask_dsn, parse_dsn


def test_embedded_path_dsn() -> None:
    parsed = parse_dsn("chdb:///var/lib/llmtrace/data")
    assert (parsed.embedded, parsed.path, parsed.database) == (True, "/var/lib/llmtrace/data", None)
    assert parse_dsn("chdb:///var/lib/llmtrace/data?database=prod").database == "prod"


def test_embedded_memory_dsn() -> None:
    parsed = parse_dsn("chdb://memory/scratch")
    assert (parsed.embedded, parsed.path, parsed.database) == (True, None, "scratch")
    assert parse_dsn("chdb://memory").database is None


@pytest.mark.parametrize(
    ("dsn", "host", "port", "secure", "user", "password", "database"),
    [
        (
            "http://alice:s3cr%40t@ch.example:8123/traces",
            "ch.example",
            8123,
            False,
            "alice",
            "s3cr@t",
            "traces",
        ),
        ("https://ch.example/traces", "ch.example", 8443, True, None, None, "traces"),
        ("http://ch.example", "ch.example", 8123, False, None, None, None),
        ("clickhouse://bob:pw@ch.example:8443/x", "ch.example", 8443, True, "bob", "pw", "x"),
        ("clickhouse://ch.example:8123/x", "ch.example", 8123, False, None, None, "x"),
    ],
)
def test_server_dsn(
    dsn: str, host: str, port: int, secure: bool, user: str | None, password: str | None, database: str | None
) -> None:
    parsed = parse_dsn(dsn)
    assert not parsed.embedded
    assert (parsed.host, parsed.port, parsed.secure) == (host, port, secure)
    assert (parsed.username, parsed.password, parsed.database) == (user, password, database)


@pytest.mark.parametrize(
    ("dsn", "reason"),
    [
        ("postgres://u:hunter2@host/db", "expected chdb:///abs/path"),
        ("chdb://relative/path", "three slashes"),
        ("chdb:/relative", "three slashes"),  # would otherwise write /relative at the root
        ("chdb:relative", "three slashes"),
        ("chdb:///", "must be absolute"),
        ("http://u:hunter2@:8123/db", "no host"),
        ("http://u:hunter2@host:notaport/db", "malformed store DSN"),
        ("http://u:hunter2@host:8123/bad-name", "invalid database name"),
        ("chdb:///tmp/x?database=drop;table", "invalid database name"),
        ("chdb:///tmp/x?database=llmtrace%0A", "invalid database name"),
        ("", "expected chdb:///abs/path"),
    ],
)
def test_malformed_dsn_is_one_line_with_the_password_masked(dsn: str, reason: str) -> None:
    with pytest.raises(StoreError) as info:
        parse_dsn(dsn)
    message = str(info.value)
    assert reason in message
    assert "hunter2" not in message and "\n" not in message
    if "hunter2" in dsn:
        assert "***" in message


def test_mask_dsn() -> None:
    assert mask_dsn("http://u:p%40ss@h:8123/db") == "http://u:***@h:8123/db"
    assert mask_dsn("http://h:8123/db?user=u&password=p") == "http://h:8123/db?user=u&password=***"
    assert mask_dsn("chdb:///data") == "chdb:///data"


def test_unreachable_server_is_one_line_naming_the_dsn(unused_port: int) -> None:
    dsn = f"http://alice:hunter2@127.0.0.1:{unused_port}/llmtrace"
    with pytest.raises(StoreError) as info:
        open_store(dsn)
    message = str(info.value)
    assert message.startswith(
        f"cannot reach ClickHouse at http://alice:***@127.0.0.1:{unused_port}/llmtrace: "
    )
    assert "hunter2" not in message and "\n" not in message


def test_default_dsn_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LLMTRACE_STORE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_dsn() == f"chdb://{tmp_path}/.llmtrace/data"
    assert parse_dsn(default_dsn()).path == str((tmp_path / ".llmtrace" / "data").resolve())
    monkeypatch.setenv("LLMTRACE_STORE", "http://ch:8123/x")
    assert default_dsn() == "http://ch:8123/x"


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
