"""Direct-store export throughput, and SDK memory while the backend is down.

1. Throughput: N spans made through the SDK with ``llmtrace.instrument(store=...)`` (span
   creation, row mapping, batching, chDB inserts, until ``flush`` returns) against the baseline
   of inserting the very same rows with ``store.insert_spans`` in batches of 512.
2. Memory: N traced calls while the llmtrace server is unreachable (every delivery fails and is
   retried) against the same workload with llmtrace never imported into it: the SDK's extra
   memory must be bounded by its queue (default 2048 spans), not grow with N.

    python benchmarks/export.py [--spans 20000]
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import time
import tracemalloc
from typing import Any

import llmtrace
from llmtrace._internal import semconv as sc
from llmtrace.store import open_store
from llmtrace.store.rows import SpanRecord, span_to_row

ATTRIBUTES = {
    sc.GEN_AI_OPERATION_NAME: "chat",
    sc.GEN_AI_PROVIDER_NAME: "openai",
    sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
    sc.GEN_AI_USAGE_INPUT_TOKENS: 812,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 164,
    sc.LLMTRACE_PROMPT_NAME: "summarize",
    sc.LLMTRACE_PROMPT_VERSION: "2",
}
TEXT = "The customer asked about their invoice and we confirmed the refund. " * 12


def _workload(n: int, traced: bool) -> None:
    for i in range(n):
        if traced:
            with llmtrace.span("chat gpt-4o-mini", **ATTRIBUTES) as span:
                span.set_attribute(sc.GEN_AI_INPUT_MESSAGES, TEXT)
                span.set_attribute(sc.USER_ID, f"user-{i % 400}")
        else:
            attributes = {**ATTRIBUTES, sc.GEN_AI_INPUT_MESSAGES: TEXT, sc.USER_ID: f"user-{i % 400}"}
            del attributes


def throughput(n: int, dsn: str) -> dict[str, Any]:
    llmtrace.instrument(store=dsn, database="bench_sdk", service_name="bench", queue_size=n + 1)
    _workload(200, traced=True)  # warm-up: schema creation, first insert
    llmtrace.flush(60)
    started = time.perf_counter()
    _workload(n, traced=True)
    delivered = llmtrace.flush(300)
    sdk_s = time.perf_counter() - started
    llmtrace.shutdown()

    now = time.time_ns()
    rows = [
        span_to_row(
            SpanRecord(
                trace_id=f"{i + 1:032x}",
                span_id=f"{i + 1:016x}",
                name="chat gpt-4o-mini",
                start_ns=now - 1_000_000,
                end_ns=now,
                attributes={**ATTRIBUTES, sc.GEN_AI_INPUT_MESSAGES: TEXT, sc.USER_ID: f"user-{i % 400}"},
                resource={sc.SERVICE_NAME: "bench"},
            )
        )
        for i in range(n)
    ]
    store = open_store(dsn, "bench_raw")
    store.migrate()
    started = time.perf_counter()
    for i in range(0, n, 512):
        store.insert_spans(rows[i : i + 512])
    raw_s = time.perf_counter() - started
    store.close()
    return {
        "spans": n,
        "delivered_all": delivered,
        "sdk_spans_per_s": round(n / sdk_s),
        "baseline_insert_spans_per_s": round(n / raw_s),
        "ratio_to_baseline": round((n / sdk_s) / (n / raw_s), 3),
    }


def _sdk_peak(n: int, endpoint: str) -> tuple[int, int]:
    llmtrace.instrument(endpoint=endpoint, service_name="bench", retry_window_s=600)
    tracemalloc.start()
    _workload(n, traced=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    dropped = llmtrace.stats().dropped
    llmtrace.shutdown(timeout_s=0.5)
    return peak, dropped


def memory(n: int) -> dict[str, Any]:
    """Peak traced memory of N and 2N calls with the backend down: bounded means no growth with N."""
    tracemalloc.start()
    _workload(n, traced=False)
    baseline_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    with socket.socket() as sock:  # a port nobody listens on: the backend is down
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    peak_n, dropped_n = _sdk_peak(n, endpoint)
    peak_2n, dropped_2n = _sdk_peak(2 * n, endpoint)
    return {
        "spans": n,
        "baseline_no_llmtrace_peak_kib": round(baseline_peak / 1024),
        "sdk_backend_down_peak_kib": round(peak_n / 1024),
        "sdk_backend_down_peak_kib_at_2x_spans": round(peak_2n / 1024),
        "dropped": dropped_n,
        "dropped_at_2x_spans": dropped_2n,
        "growth_ratio_2x_spans": round(peak_2n / max(peak_n, 1), 2),
    }


def main(spans: int = 20_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="llmtrace-bench-") as tmp:
        return {"export": throughput(spans, f"chdb://{tmp}/data"), "memory_backend_down": memory(spans)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000)
    print(json.dumps(main(parser.parse_args().spans), indent=2))
