"""Shared fixtures: one embedded chDB store per pytest process, one fresh database per test.

chDB allows one data path per process, so every in-process test shares ``chdb_dsn`` and isolates
itself by database name (the ``store`` fixture). Servers under test run in subprocesses with
their own paths.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmtrace.store import Store, open_store

ENV_TEST_STORE = "LLMTRACE_TEST_CHDB_PATH"  # reuse a fixed directory instead of a temp one


@pytest.fixture(scope="session")
def chdb_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The one embedded store DSN of this pytest process (``chdb:///abs/path``)."""
    path = os.environ.get(ENV_TEST_STORE) or str(tmp_path_factory.mktemp("chdb") / "data")
    return f"chdb://{Path(path).resolve()}"


@pytest.fixture
def store(chdb_dsn: str) -> Iterator[Store]:
    """A migrated store on a fresh database ``t_<hex>`` of the session path; dropped afterwards."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    opened = open_store(chdb_dsn, database)
    opened.migrate()
    try:
        yield opened
    finally:
        opened.client.command(f"DROP DATABASE IF EXISTS {database} SYNC")
        opened.close()


@pytest.fixture
def bare_store(chdb_dsn: str) -> Iterator[Store]:
    """An opened, NOT migrated store on a fresh database ``m_<hex>`` (for migration tests)."""
    database = f"m_{uuid.uuid4().hex[:12]}"
    opened = open_store(chdb_dsn, database)
    try:
        yield opened
    finally:
        opened.client.command(f"DROP DATABASE IF EXISTS {database} SYNC")
        opened.close()
