"""The ingest processes allocate Arrow memory from the C library's allocator unless told otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

from llmtrace_server.arrow_pool import POOL_VARIABLE, use_system_pool


@pytest.fixture
def pool() -> Iterator[None]:
    """Restore the process's Arrow pool afterwards (it is global)."""
    before = pa.default_memory_pool()
    try:
        yield
    finally:
        pa.set_memory_pool(before)


def test_the_system_pool_is_used_when_the_environment_names_none(
    pool: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(POOL_VARIABLE, raising=False)
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    use_system_pool()
    assert pa.default_memory_pool().backend_name == "system"
    assert pa.array(["a span's content"]).to_pylist() == ["a span's content"]


def test_a_pool_named_in_the_environment_is_kept(pool: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(POOL_VARIABLE, "mimalloc")
    pa.set_memory_pool(pa.mimalloc_memory_pool())
    use_system_pool()
    assert pa.default_memory_pool().backend_name == "mimalloc"
