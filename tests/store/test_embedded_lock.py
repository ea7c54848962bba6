"""chDB allows one process per data path and one path per process: both cases get a clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmtrace.store import Store, StoreError, open_store

_OPEN_IN_CHILD = """
import sys
from llmtrace.store import StoreError, open_store
try:
    open_store(sys.argv[1])
except StoreError as exc:
    print(exc)
    sys.exit(3)
print("opened")
"""


def test_second_process_on_an_open_store_is_told_what_to_do(
    store: Store, chdb_dsn: str, tmp_path: Path
) -> None:
    # This pytest process holds chdb_dsn's path (the `store` fixture opened it).
    path = chdb_dsn.removeprefix("chdb://")
    child = subprocess.run(
        [sys.executable, "-c", _OPEN_IN_CHILD, chdb_dsn],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert child.returncode == 3, child.stdout + child.stderr
    message = child.stdout.strip()
    assert message == (
        f"embedded store {path} is already open in process {os.getpid()} (chDB allows one process per store): "
        "send spans to the running server instead (OTLP to its /v1/traces, or start one with `llmtrace serve`), "
        "or use another --store path"
    )
    assert "Traceback" not in child.stderr
    assert child.stderr == ""  # chDB's own raw "Cannot lock file" lines are not passed on


_INSTRUMENT_IN_CHILD = """
import sys
import llmtrace
llmtrace.instrument(store=sys.argv[1], service_name="locked")
with llmtrace.span("work"):
    pass
llmtrace.flush(1.0)
"""


def test_instrument_on_a_held_store_prints_only_llmtraces_message(
    store: Store, chdb_dsn: str, tmp_path: Path
) -> None:
    path = chdb_dsn.removeprefix("chdb://")
    child = subprocess.run(
        [sys.executable, "-c", _INSTRUMENT_IN_CHILD, chdb_dsn],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("LLMTRACE_")},
    )
    assert child.returncode == 0, child.stderr
    assert "Cannot lock file" not in child.stderr and "Traceback" not in child.stderr
    lines = [line for line in child.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, child.stderr
    assert f"embedded store {path} is already open in process {os.getpid()}" in lines[0]


def test_a_free_path_opens_in_another_process(tmp_path: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", _OPEN_IN_CHILD, f"chdb://{tmp_path / 'other'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (child.returncode, child.stdout.strip()) == (0, "opened"), child.stderr


def test_second_path_in_the_same_process_is_refused(store: Store, chdb_dsn: str, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    with pytest.raises(StoreError) as info:
        open_store(f"chdb://{other}")
    assert str(info.value) == (
        f"cannot open embedded store {other}: this process already has the embedded store "
        f"{chdb_dsn.removeprefix('chdb://')} open, and chDB allows one store per process; use that store, "
        "or run another process for the other one"
    )


def test_the_same_path_opens_again_in_this_process(store: Store, chdb_dsn: str) -> None:
    with open_store(chdb_dsn, store.database) as again:
        assert again.client.command("SELECT count() FROM spans") == 0


_MEMORY_ROUND_TRIP = """
from spans_factory import make_rows
from llmtrace.store import open_store
with open_store("chdb://memory/scratch") as store:
    store.migrate()
    store.insert_spans(make_rows(10))
    print(store.database, store.client.command("SELECT count() FROM scratch.spans"))
"""


def test_in_memory_store_works_in_its_own_process(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    child = subprocess.run(
        [sys.executable, "-c", _MEMORY_ROUND_TRIP],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert child.stdout.strip() == "scratch 10", child.stderr
