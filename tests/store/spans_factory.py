"""Deterministic span rows for store tests, built through the real row mapping."""

from __future__ import annotations

import random
import time
from typing import Any

from llmtrace._internal import semconv as sc
from llmtrace.store.rows import SpanRecord, span_to_row

_HOUR_NS = 3600 * 1_000_000_000
# Recent on purpose: the spans TTL (90 days, by the machine clock) silently drops older rows.
BASE_NS = (time.time_ns() // _HOUR_NS - 4) * _HOUR_NS
NOW_NS = BASE_NS + 24 * _HOUR_NS


def make_rows(n: int, *, seed: int = 7, hours: int = 3) -> list[dict[str, Any]]:
    """``n`` varied spans: two priced models, one unpriced model (cost NULL), errors, streams, tool spans."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        start = BASE_NS + rng.randrange(hours * 3600 * 1_000_000) * 1000 + rng.randrange(1000)
        duration_ns = int(rng.lognormvariate(6.5, 0.6) * 1_000_000)
        model = rng.choice(["gpt-4o-mini", "claude-sonnet-4-20250514", "acme-private-1"])
        provider = {"gpt-4o-mini": "openai", "claude-sonnet-4-20250514": "anthropic"}.get(model, "acme")
        attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: "chat",
            sc.GEN_AI_PROVIDER_NAME: provider,
            sc.GEN_AI_REQUEST_MODEL: model,
            sc.GEN_AI_USAGE_INPUT_TOKENS: rng.randrange(1, 4000),
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: rng.randrange(0, 800),
            sc.GEN_AI_RESPONSE_FINISH_REASONS: [rng.choice(["stop", "stop", "length"])],
            sc.LLMTRACE_PROMPT_NAME: rng.choice(["summarize", "classify"]),
            sc.LLMTRACE_PROMPT_VERSION: rng.choice(["v1", "v2"]),
            sc.LLMTRACE_TAGS: ["test", f"shard-{i % 3}"],
            sc.LLMTRACE_OUTPUT_CHARS: rng.randrange(0, 5000),
            "app.request_id": f"req-{i}",
        }
        if rng.random() < 0.5:
            attrs[sc.LLMTRACE_TTFT_MS] = rng.uniform(20, duration_ns / 1e6)
        if i % 10 == 9:
            attrs[sc.LLMTRACE_SPAN_KIND] = sc.KIND_TOOL  # not an LLM call: left out of the rollups
        record = SpanRecord(
            trace_id=f"{rng.getrandbits(128) | 1:032x}",
            span_id=f"{rng.getrandbits(64) | 1:016x}",
            name=f"chat {model}",
            start_ns=start,
            end_ns=start + duration_ns,
            status_code="error" if rng.random() < 0.1 else "ok",
            attributes=attrs,
            resource={sc.SERVICE_NAME: rng.choice(["api", "worker"])},
        )
        rows.append(span_to_row(record, project="p1", now_ns=NOW_NS))
    return rows
