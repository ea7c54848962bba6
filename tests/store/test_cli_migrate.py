"""`llmtrace migrate` through the real CLI entry point (in-process on the session store)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmtrace.cli import COMMANDS, build_parser, main
from llmtrace.store import open_store
from llmtrace.store.migrate import load_migrations


@pytest.fixture
def database(chdb_dsn: str) -> Iterator[str]:
    name = f"cli_{uuid.uuid4().hex[:12]}"
    yield name
    with open_store(chdb_dsn, name) as store:
        store.client.command(f"DROP DATABASE IF EXISTS {name} SYNC")


def test_migrate_applies_then_reports_up_to_date(
    chdb_dsn: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [m.name for m in load_migrations()]
    assert main(["migrate", "--store", chdb_dsn, "--database", database, "--span-ttl-days", "14"]) == 0
    out = capsys.readouterr().out
    assert out == (
        f"applied {len(names)} migration(s) to {chdb_dsn} (database {database}): {', '.join(names)}\n"
    )
    assert main(["migrate", "--store", chdb_dsn, "--database", database]) == 0
    assert capsys.readouterr().out == f"{chdb_dsn} (database {database}) is up to date\n"
    with open_store(chdb_dsn, database) as store:
        engine = store.client.command(
            "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = 'spans'",
            parameters={"db": database},
        )
        assert "toIntervalDay(14)" in engine


def test_migrate_print_renders_without_a_store(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--print", "--database", "obs", "--span-ttl-days", "0", "--cluster", "c1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CREATE DATABASE IF NOT EXISTS obs ON CLUSTER c1;\n\n")
    assert "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/spans', '{replica}')" in out
    assert "toIntervalDay(400)" in out and "start_time) + toIntervalDay" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["migrate", "--store", "chdb://relative"], "llmtrace: error: malformed store DSN chdb://relative"),
        (["migrate", "--print", "--database", "no-dash"], "llmtrace: error: invalid database name 'no-dash'"),
        (["migrate", "--print", "--span-ttl-days", "-3"], "llmtrace: error: a TTL must be a whole number"),
    ],
)
def test_errors_are_one_line_on_stderr_with_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message) and captured.err.count("\n") == 1
    assert captured.out == ""


def test_unreachable_server_from_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "llmtrace.cli", "migrate", "--store", "http://u:hunter2@127.0.0.1:9/x"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert (
        result.stderr
        == "llmtrace: error: cannot reach ClickHouse at http://u:***@127.0.0.1:9/x: Connection refused\n"
    )


def test_help_lists_the_existing_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert COMMANDS == (
        "migrate",
        "serve",
        "demo",
        "traces",
        "metrics",
        "scores",
        "drift",
        "compare",
        "alerts",
    )
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("    ") and line.split()]
    assert [name for name in listed if name in COMMANDS] == list(COMMANDS)  # each with its help line


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: llmtrace" in capsys.readouterr().out
