"""The wall-clock overhead of the live calls, drawn again for the backfilled history.

A live call takes longer than the fake provider planned: HTTP, the SDK, the service's threads
sharing the GIL. The backfill adds such an overhead to each planned time so that history and
live calls are one measure (issue 18, item 4). The overhead is not independent of the planned
time: the client's own work overlaps the provider's wait, so a call planned short shows more of
it than one planned long (measured under load: live TTFTs 42.8..98.2 ms between the first and
ninth decile, a plan plus an overhead of any live call 38.5..103.1 ms, the same calls). An
overhead drawn at random widens the history's TTFT against the live calls', which the drift
report then finds. So it is drawn from the live calls planned closest to the backfilled one.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from dataclasses import dataclass

NEIGHBOURS = 16  # live calls to draw from, the closest by planned time (~5% of the chat calls)


@dataclass(frozen=True, slots=True)
class Overhead:
    """One successful live call: the provider's planned times and what the call took beyond them.

    ``ttft_ms`` is None for a call that does not stream.
    """

    planned_ttft_ms: float
    planned_latency_ms: float
    ttft_ms: float | None
    latency_ms: float


class OverheadSampler:
    """Draws one live call's overhead among the ``NEIGHBOURS`` planned closest to a new call.

    Closest by planned TTFT when every sample streamed (TTFT is what a stream's overhead is
    measured on first), else by planned latency.
    """

    def __init__(self, samples: Sequence[Overhead], neighbours: int = NEIGHBOURS) -> None:
        self._by_ttft = bool(samples) and all(s.ttft_ms is not None for s in samples)
        self._samples = sorted(samples, key=self._key)
        self._keys = [self._key(s) for s in self._samples]
        self._neighbours = max(1, min(neighbours, len(self._samples)))

    def _key(self, sample: Overhead) -> float:
        return sample.planned_ttft_ms if self._by_ttft else sample.planned_latency_ms

    def __bool__(self) -> bool:
        return bool(self._samples)

    def draw(self, planned_ttft_ms: float, planned_latency_ms: float, rng: random.Random) -> Overhead:
        """An overhead for a call planned at these times (the samples must not be empty)."""
        key = planned_ttft_ms if self._by_ttft else planned_latency_ms
        at = bisect.bisect_left(self._keys, key)
        low = min(max(at - self._neighbours // 2, 0), len(self._samples) - self._neighbours)
        return rng.choice(self._samples[low : low + self._neighbours])
