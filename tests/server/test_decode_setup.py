"""How the server sets up decoding: default worker count and garbage-collector tuning."""

from __future__ import annotations

import gc
import os

import pytest

from llmtrace_server.gc_tuning import GEN0_THRESHOLD, tune_gc
from llmtrace_server.settings import MAX_DEFAULT_DECODE_WORKERS, Settings, default_decode_workers


def test_default_decode_workers_are_one_per_two_cpus_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMTRACE_DECODE_WORKERS", raising=False)
    cpus = len(os.sched_getaffinity(0))
    expected = min(max(cpus // 2, 1), MAX_DEFAULT_DECODE_WORKERS) if cpus >= 2 else 0
    assert default_decode_workers() == expected
    assert Settings().decode_workers == expected
    assert Settings(decode_workers=0).decode_workers == 0  # threads of the server process


def test_tune_gc_collects_young_objects_less_often_and_freezes_start_up_objects() -> None:
    tune_gc()
    assert gc.get_threshold()[0] >= GEN0_THRESHOLD
    assert gc.get_freeze_count() > 0
    assert gc.isenabled()  # cycles are still collected
