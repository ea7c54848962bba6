"""The backfill's overhead draws keep how a live call's overhead depends on its planned time."""

from __future__ import annotations

import random
import statistics

from llmtrace.demo.overhead import Overhead, OverheadSampler


def _stream(planned_ttft_ms: float, ttft_extra_ms: float) -> Overhead:
    return Overhead(planned_ttft_ms, planned_ttft_ms * 4, ttft_extra_ms, ttft_extra_ms)


def test_a_stream_draws_the_overhead_of_calls_planned_like_it() -> None:
    """Measured TTFT = max(planned, 40 ms) + 2 ms: the client's work overlaps the provider's wait.
    Drawn at random the overhead would give planned + anything in 2..38 ms; drawn from the calls
    planned closest, the history's TTFTs come out as the live calls' did."""
    live = [_stream(p, max(p, 40.0) + 2.0 - p) for p in range(1, 121)]
    sampler = OverheadSampler(live)
    rng = random.Random(1)
    for planned in (3.0, 20.0, 39.5, 60.0, 119.0):
        measured = [planned + (sampler.draw(planned, planned * 4, rng).ttft_ms or 0.0) for _ in range(200)]
        assert abs(statistics.median(measured) - (max(planned, 40.0) + 2.0)) < 9.0, planned
        assert max(measured) - min(measured) <= 16.0  # the 16 closest calls' overheads only


def test_beyond_the_live_calls_it_draws_from_the_edge() -> None:
    sampler = OverheadSampler([_stream(p, 100.0 - p) for p in range(10, 60)])
    rng = random.Random(2)
    low = {sampler.draw(1.0, 4.0, rng).planned_ttft_ms for _ in range(300)}
    high = {sampler.draw(500.0, 2000.0, rng).planned_ttft_ms for _ in range(300)}
    assert low == set(range(10, 26)) and high == set(range(44, 60))


def test_calls_that_do_not_stream_are_matched_by_planned_latency() -> None:
    live = [Overhead(0.0, float(latency), None, latency / 10) for latency in range(100, 1100, 10)]
    sampler = OverheadSampler(live)
    rng = random.Random(3)
    drawn = [sampler.draw(0.0, 800.0, rng) for _ in range(200)]
    assert all(720 <= o.planned_latency_ms <= 880 and o.ttft_ms is None for o in drawn)


def test_fewer_live_calls_than_neighbours_draws_from_all() -> None:
    live = [_stream(p, p) for p in (10.0, 50.0, 90.0)]
    rng = random.Random(4)
    drawn = {OverheadSampler(live).draw(50.0, 200.0, rng).ttft_ms for _ in range(100)}
    assert drawn == {10.0, 50.0, 90.0}
    assert not OverheadSampler([])
