"""Traces, sessions and users built through the real row mapping, with their expected summaries.

The expectations are computed here in Python from the span rows, independently of the store's
materialized views, so a test compares the store's answer with what the spans say.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from spans_factory import BASE_NS, NOW_NS

from llmtrace._internal import semconv as sc
from llmtrace.store.rows import SpanRecord, span_to_row

HOUR_NS = 3600 * 1_000_000_000
MODELS = ("gpt-4o-mini", "claude-sonnet-4-20250514", "acme-private-1")


def _llm(rng: random.Random, model: str, user: str, session: str, prompt: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai" if model.startswith("gpt") else "anthropic",
        sc.GEN_AI_REQUEST_MODEL: model,
        sc.GEN_AI_USAGE_INPUT_TOKENS: rng.randrange(1, 4000),
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: rng.randrange(0, 800),
        sc.LLMTRACE_PROMPT_NAME: prompt,
        sc.LLMTRACE_PROMPT_VERSION: rng.choice(["v1", "v2"]),
        sc.GEN_AI_INPUT_MESSAGES: f"question about {rng.choice(['zebras', 'otters', 'quokkas'])}",
    }
    if user:
        attrs[sc.USER_ID] = user
    if session:
        attrs[sc.SESSION_ID] = session
    return attrs


def make_traces(n_traces: int, *, seed: int = 11, hours: int = 60) -> list[dict[str, Any]]:
    """Span rows of ``n_traces`` traces over ``hours`` before NOW: chats, and agent traces whose
    spans run across an hour boundary; users with several sessions; a few spans without either."""
    rng = random.Random(seed)
    rows = []
    span_seq = 0
    for t in range(n_traces):
        trace_id = f"{rng.getrandbits(128) | 1:032x}"
        start = BASE_NS + 20 * HOUR_NS - rng.randrange(hours * 3600) * 1_000_000_000
        user = f"user-{rng.randrange(8)}" if t % 7 else ""
        session = f"{user or 'anon'}-s{rng.randrange(3)}" if t % 5 else ""
        service = rng.choice(["api", "worker"])
        model = rng.choice(MODELS)
        records = []
        if t % 4 == 0:  # agent trace: root, two chats, a tool; it crosses the next hour boundary
            start = (start // HOUR_NS + 1) * HOUR_NS - 90 * 1_000_000_000
            root_id = f"{span_seq + 1:016x}"
            records.append(("invoke_agent planner", root_id, "", start, start + 200 * 1_000_000_000, {}))
            for k in range(3):
                s = start + (k + 1) * 50 * 1_000_000_000
                attrs = (
                    {sc.LLMTRACE_SPAN_KIND: sc.KIND_TOOL}
                    if k == 2
                    else _llm(rng, rng.choice(MODELS), user, session, "plan")
                )
                records.append((f"step {k}", f"{span_seq + 2 + k:016x}", root_id, s, s + 10**9, attrs))
            span_seq += 4
        else:
            span_seq += 1
            records.append(
                (
                    f"chat {model}",
                    f"{span_seq:016x}",
                    "",
                    start,
                    start + rng.randrange(1, 5) * 10**9,
                    _llm(rng, model, user, session, "answer"),
                )
            )
        error_at = rng.randrange(len(records)) if rng.random() < 0.15 else -1
        for i, (name, span_id, parent, s, e, attrs) in enumerate(records):
            record = SpanRecord(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent,
                name=name,
                start_ns=s,
                end_ns=e,
                status_code="error" if i == error_at else "ok",
                attributes=attrs,
                resource={sc.SERVICE_NAME: service, sc.DEPLOYMENT_ENVIRONMENT: "prod"},
            )
            rows.append(span_to_row(record, project="p1", now_ns=NOW_NS))
    return rows


def _time(row: dict[str, Any], column: str) -> datetime:
    value: datetime = row[column]
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def expected_traces(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per trace (list_traces fields), newest first."""
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_trace[row["trace_id"]].append(row)
    out = []
    for trace_id, spans in by_trace.items():
        root = min(spans, key=lambda r: (r["parent_span_id"] != "", _time(r, "start_time")))
        models = sorted({r["request_model"] for r in spans if r["request_model"]})
        errors = sum(r["status"] == "error" for r in spans)
        start = min(_time(r, "start_time") for r in spans)
        end = max(_time(r, "end_time") for r in spans)
        out.append(
            {
                "trace_id": trace_id,
                "start_time": start,
                "end_time": end,
                "duration_ms": (end - start).total_seconds() * 1000,
                "root_name": root["name"],
                "service_name": root["service_name"],
                "environment": root["environment"],
                "spans": len(spans),
                "llm_calls": sum(r["kind"] in ("llm", "embedding") for r in spans),
                "errors": errors,
                "input_tokens": sum(r["input_tokens"] for r in spans),
                "output_tokens": sum(r["output_tokens"] for r in spans),
                "cost_usd": sum(r["cost_usd"] or 0.0 for r in spans),
                "status": "error" if errors else "ok",
                "user_id": max(r["user_id"] for r in spans),
                "session_id": max(r["session_id"] for r in spans),
                "model": models[0] if models else "",
                "models": models,
                "prompt_name": min((r["prompt_name"] for r in spans if r["prompt_name"]), default=""),
                "prompt_names": sorted({r["prompt_name"] for r in spans if r["prompt_name"]}),
            }
        )
    return sorted(out, key=lambda t: (t["start_time"], t["trace_id"]), reverse=True)


def expected_groups(rows: list[dict[str, Any]], column: str) -> list[dict[str, Any]]:
    """Per ``column`` value (session_id or user_id, '' left out): totals, most recently active first."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row[column]:
            groups[row[column]].append(row)
    out = []
    for key, spans in groups.items():
        out.append(
            {
                column: key,
                "first_seen": min(_time(r, "start_time") for r in spans),
                "last_seen": max(_time(r, "end_time") for r in spans),
                "traces": len({r["trace_id"] for r in spans}),
                "sessions": len({r["session_id"] for r in spans if r["session_id"]}),
                "spans": len(spans),
                "llm_calls": sum(r["kind"] in ("llm", "embedding") for r in spans),
                "errors": sum(r["status"] == "error" for r in spans),
                "input_tokens": sum(r["input_tokens"] for r in spans),
                "output_tokens": sum(r["output_tokens"] for r in spans),
                "cost_usd": sum(r["cost_usd"] or 0.0 for r in spans),
                "user_id": max(r["user_id"] for r in spans),
            }
        )
    return sorted(out, key=lambda g: (g["last_seen"], g[column]), reverse=True)
