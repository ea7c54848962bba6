"""The writer's memory of written span keys: remembered per block, forgotten oldest block first,
within its window and bound, in a few bytes a key."""

from __future__ import annotations

import random
import time
import tracemalloc

import numpy as np

from llmtrace_server.seen_keys import SeenKeys


def keys(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def test_remembers_the_keys_of_its_blocks_and_no_others() -> None:
    seen = SeenKeys(window_s=60, max_keys=100)
    seen.add(keys(5, -3, 2**62))
    seen.add(keys(7))
    assert seen.contains(keys(7, 5, 6, -3, 2**62, -(2**63), 2**63 - 1)).tolist() == [
        True,
        True,
        False,
        True,
        True,
        False,
        False,
    ]
    assert seen.contains(keys()).tolist() == []
    assert len(seen) == 4


def test_over_the_bound_the_oldest_blocks_are_forgotten_whole() -> None:
    seen = SeenKeys(window_s=60, max_keys=5)
    seen.add(keys(1, 2, 3))
    seen.add(keys(4, 5))
    assert seen.contains(keys(1, 2, 3, 4, 5)).all()
    seen.add(keys(6))  # 6 keys: the first block goes
    assert seen.contains(keys(1, 2, 3, 4, 5, 6)).tolist() == [False, False, False, True, True, True]
    assert len(seen) == 3


def test_blocks_older_than_the_window_are_forgotten() -> None:
    seen = SeenKeys(window_s=0.2, max_keys=100)
    seen.add(keys(1))
    time.sleep(0.3)
    seen.add(keys(2))
    assert seen.contains(keys(1, 2)).tolist() == [False, True]


def test_a_key_written_again_by_a_newer_block_outlives_the_older_block() -> None:
    seen = SeenKeys(window_s=60, max_keys=3)
    seen.add(keys(1, 2))
    seen.add(keys(2))
    seen.add(keys(3))  # 4 keys: the first block goes, its 2 stays with the second
    assert seen.contains(keys(1, 2, 3)).tolist() == [False, True, True]


def test_many_blocks_agree_with_a_plain_model() -> None:
    """Random blocks of random sizes (merged runs, compactions): the same answers as a list of sets."""
    rng = random.Random(7)
    max_keys = 3_000
    seen = SeenKeys(window_s=3600, max_keys=max_keys)
    model: list[set[int]] = []
    sizes: list[int] = []
    for _ in range(400):
        block = [rng.randrange(-5_000, 5_000) for _ in range(rng.choice((0, 1, 10, 100, 700)))]
        seen.add(np.array(block, dtype=np.int64))
        model.append(set(block))
        sizes.append(len(block))
        while sum(sizes) > max_keys:
            model.pop(0)
            sizes.pop(0)
        remembered = set().union(*model)
        probe = np.arange(-5_100, 5_100, dtype=np.int64)
        assert seen.contains(probe).tolist() == [key in remembered for key in range(-5_100, 5_100)]


def test_a_million_keys_at_a_bound_of_200k_take_a_few_megabytes() -> None:
    """~12 bytes a remembered key (at most twice the remembered keys are held), where a Python set
    with the lists that aged it took ~84."""
    rng = np.random.default_rng(1)
    tracemalloc.start()
    try:
        seen = SeenKeys(window_s=3600, max_keys=200_000)
        peak_held = 0
        for _ in range(32):
            seen.add(rng.integers(-(2**63), 2**63 - 1, size=32_768, dtype=np.int64))
            peak_held = max(peak_held, tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert len(seen) <= 200_000
    assert peak_held < 200_000 * 2 * 16 + 65_536 * 16
