"""Seeded synthetic LLM traffic, as `spans` rows (dicts keyed by SPAN_COLUMNS) and score rows.

Times are recent on purpose: the spans TTL (by the machine clock) drops rows older than 90 days.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from llmtrace.store.rows import SPAN_COLUMNS

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class Traffic:
    """Parameters of one slice of traffic; every field can be changed to plant an effect."""

    service: str = "chat"
    models: dict[str, float] = field(default_factory=lambda: {"gpt-4o": 0.5, "claude-sonnet-4": 0.5})
    prompt: str = "answer"
    prompt_version: str = "v1"
    environment: str = "prod"
    latency_mu: float = 6.9  # log ms
    latency_sigma: float = 0.6
    latency_factor: Callable[[str], float] = lambda model: 1.0
    output_tokens_mean: float = 300.0
    input_tokens_mean: float = 1200.0
    error_rate: float = 0.02
    length_rate: float = 0.05
    cost_per_1k_out: float = 0.01
    stream_rate: float = 0.5
    score_mean: Callable[[str], float] = lambda model: 0.8
    pass_threshold: float = 0.5


def spans(
    n: int, start: datetime, end: datetime, traffic: Traffic, seed: int, project: str = "default"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``n`` LLM spans spread uniformly over [start, end), and one ``quality`` score per span."""
    rng = random.Random(seed)
    models = list(traffic.models)
    weights = [traffic.models[m] for m in models]
    span_rows: list[dict[str, Any]] = []
    score_rows: list[dict[str, Any]] = []
    width = (end - start).total_seconds()
    for _ in range(n):
        model = rng.choices(models, weights)[0]
        t0 = start + timedelta(seconds=rng.random() * width)
        latency = math.exp(rng.gauss(traffic.latency_mu, traffic.latency_sigma)) * traffic.latency_factor(
            model
        )
        out_tok = max(1, int(rng.expovariate(1 / traffic.output_tokens_mean)))
        in_tok = max(1, int(rng.lognormvariate(math.log(traffic.input_tokens_mean), 0.5)))
        error = rng.random() < traffic.error_rate
        trace_id = f"{rng.getrandbits(128) | 1:032x}"
        span_id = f"{rng.getrandbits(64) | 1:016x}"
        row = dict.fromkeys(SPAN_COLUMNS, "")
        row.update(
            project=project,
            trace_id=trace_id,
            span_id=span_id,
            name=f"chat {model}",
            kind="llm",
            service_name=traffic.service,
            environment=traffic.environment,
            start_time=t0,
            end_time=t0 + timedelta(milliseconds=latency),
            duration_ms=latency,
            status="error" if error else "ok",
            error_type="RateLimitError" if error else "",
            provider="anthropic" if model.startswith("claude") else "openai",
            operation="chat",
            request_model=model,
            response_model=model,
            input_tokens=in_tok,
            output_tokens=out_tok,
            cached_input_tokens=0,
            cache_write_tokens=0,
            reasoning_tokens=0,
            usage_source="reported",
            cost_usd=out_tok / 1000 * traffic.cost_per_1k_out + in_tok / 1000 * 0.001,
            ttft_ms=latency * rng.uniform(0.1, 0.3) if rng.random() < traffic.stream_rate else None,
            finish_reason="length" if rng.random() < traffic.length_rate else "stop",
            prompt_name=traffic.prompt,
            prompt_version=traffic.prompt_version,
            tags=[],
            output_chars=out_tok * 4,
            attributes={},
        )
        span_rows.append(row)
        value = min(1.0, max(0.0, rng.gauss(traffic.score_mean(model), 0.15)))
        score_rows.append(
            {
                "project": project,
                "trace_id": trace_id,
                "span_id": span_id,
                "name": "quality",
                "value": value,
                "label": "",
                "source": "judge",
                "comment": "",
                "timestamp": t0,
            }
        )
    return span_rows, score_rows


def load(store: Any, rows: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    store.insert_spans(rows[0])
    store.insert_scores(rows[1])


def steady(
    start: datetime,
    end: datetime,
    *,
    every_s: float,
    cost: float,
    service: str = "chat",
    model: str = "gpt-4o",
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One call every ``every_s`` seconds in [start, end), each costing ``cost`` (+-10% jitter)."""
    rng = random.Random(seed)
    rows = []
    t = start
    while t < end:
        row, _ = spans(
            1,
            t,
            t + timedelta(microseconds=1),
            Traffic(service=service, models={model: 1.0}),
            rng.getrandbits(32),
        )
        row[0]["cost_usd"] = cost * rng.uniform(0.9, 1.1)
        rows.append(row[0])
        t += timedelta(seconds=every_s)
    return rows
