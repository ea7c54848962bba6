"""What attributing scores at write time (migration 0110) costs a writer, on a ui_pages store.

After each span block the store asks which of the block's traces have scores and attributes
those again (:func:`llmtrace.store.attribution.calls_written`); after scores, it attributes them
(:func:`~llmtrace.store.attribution.scores_written`). Measured on a store built by
``benchmarks/ui_pages.py`` (scores on 1 call in 20), process CPU per call (median of
``--repeats``), for the writer's 32k-span block (16k LLM calls):

* the check alone (which traces with calls in the block's minutes have scores);
* the block's calls on the newest stored traces (1 in 20 scored: the check and the attribution);
* 100 scores on stored traces.

    nice python benchmarks/attribution_writes.py --store DIR --spans 10000000

The store's rows are written again as they are (same attribution, same version): the
answers do not change.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from llmtrace.store import attribution, open_store

BLOCK_CALLS = 16_384  # a 32k-span writer block of ui_pages' traces: a service span and a call each


def _cpu_ms(fn: Callable[[], None], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        c0 = time.process_time()
        fn()
        times.append((time.process_time() - c0) * 1000)
    return statistics.median(times)


def main(path: str, spans: int, repeats: int = 5) -> dict[str, Any]:
    store = open_store(f"chdb://{path}", f"bench_ui_{spans}")
    store.migrate()
    calls = store.client.query(
        "SELECT project, trace_id, start_time FROM {db:Identifier}.llm_calls"
        " ORDER BY start_time DESC LIMIT {n:UInt32}",
        parameters={"db": store.database, "n": BLOCK_CALLS},
    ).result_rows
    block = [(p, t) for p, _, t in calls]
    minutes = sorted({t.replace(second=0, microsecond=0) for _, t in block})
    scores = [
        {"project": p, "trace_id": t, "span_id": "", "name": "quality", "value": 0.5, "label": "",
         "source": "bench", "comment": "", "timestamp": datetime.now(UTC)}
        for p, t, _ in calls[:100]
    ]  # fmt: skip
    per_span = 1000 / (2 * len(calls))
    check = _cpu_ms(lambda: attribution._scored_traces(store, "default", minutes) and None, repeats)
    stored = _cpu_ms(lambda: attribution.calls_written(store, block), repeats)
    scored = _cpu_ms(lambda: attribution.scores_written(store, scores), repeats)
    return {
        "spans": spans,
        "block_calls": len(calls),
        "check_cpu_ms": round(check, 1),
        "check_us_per_span": round(check * per_span, 2),
        "block_stored_traces_cpu_ms": round(stored, 1),
        "block_stored_traces_us_per_span": round(stored * per_span, 2),
        "scores_100_cpu_ms": round(scored, 1),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="a store directory made by benchmarks/ui_pages.py")
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(main(args.store, args.spans, args.repeats), indent=2))
