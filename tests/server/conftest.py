"""Server fixtures: the app on the session's chDB path with a fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from llmtrace.store import open_store
from llmtrace_server.app import create_app
from llmtrace_server.settings import Settings


@pytest.fixture
def make_client(chdb_dsn: str) -> Iterator[Callable[..., TestClient]]:
    """Start the app (TestClient, lifespan run) with extra Settings; every app gets its own database."""
    started: list[tuple[TestClient, str]] = []

    def make(**overrides: object) -> TestClient:
        database = f"srv_{uuid.uuid4().hex[:12]}"
        client = TestClient(create_app(Settings(store=chdb_dsn, database=database, **overrides)))  # type: ignore[arg-type]
        client.__enter__()
        started.append((client, database))
        return client

    yield make
    for client, database in started:
        client.__exit__(None, None, None)
        with open_store(chdb_dsn, database) as store:
            store.client.command(f"DROP DATABASE IF EXISTS {database} SYNC")


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """The app without API keys (project "default")."""
    return make_client()
