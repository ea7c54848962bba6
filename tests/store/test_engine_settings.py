"""The embedded engine runs with the server settings llmtrace gives it (llmtrace.store.client)."""

from __future__ import annotations

from llmtrace.store import Store
from llmtrace.store.client import EMBEDDED_ENGINE_OPTIONS


def test_the_embedded_engine_options_reach_chdb(store: Store) -> None:
    names = list(EMBEDDED_ENGINE_OPTIONS)
    rows = store.client.query(
        "SELECT name, value FROM system.server_settings WHERE name IN {names:Array(String)}",
        parameters={"names": names},
    ).result_rows
    assert dict(rows) == {name: str(value) for name, value in EMBEDDED_ENGINE_OPTIONS.items()}
