"""Backfilled history: a week of calls, exported as OTLP spans with their historical timestamps.

Real SDK calls can only happen *now*, and statistics need a past to compare with. So the week
before the demo is generated: each call's request body comes from :mod:`llmtrace.demo.scenario`,
its usage, latency and errors from the fake provider's behaviour model (the same code that
answers the live SDK calls) plus the wall-clock overhead the live calls showed on this machine
(so both are one measure), and it is recorded as an OpenTelemetry span with explicit
start/end times and the attributes llmtrace's own integrations set. The spans travel to the
server through the standard OTLP/HTTP exporter, like any other instrumentation's, and carry the
tag ``backfilled`` so nobody mistakes them for live calls.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmtrace._internal import semconv as sc
from llmtrace._internal.pricing import default_price_book
from llmtrace.demo import scenario
from llmtrace.demo.behaviour import Outcome
from llmtrace.demo.fake_provider import FakeProvider
from llmtrace.demo.overhead import Overhead, OverheadSampler

NS_PER_HOUR = 3600 * 1_000_000_000
CONTENT_CHARS = 2000  # captured prompt/answer text per backfilled span (the live calls keep more)
BACKFILLED_TAG = "backfilled"

_ERROR_TYPES = {
    ("openai", 429): "RateLimitError",
    ("anthropic", 429): "RateLimitError",
    ("anthropic", 529): "OverloadedError",
}


@dataclass(slots=True)
class Backfill:
    """What was generated: span counts per prompt and the scores to attach."""

    calls: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    # (trace_id, span_id, value, label) of each judged summary
    scores: list[tuple[str, str, float, str]] = field(default_factory=list)


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def run(
    provider: FakeProvider,
    endpoint: str,
    *,
    now_ns: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    overheads: Mapping[str, Sequence[Overhead]] | None = None,
) -> Backfill:
    """Generate ``HISTORY_HOURS`` of traffic ending at ``now_ns`` and export it to ``endpoint``.

    ``overheads`` (per prompt, from the live calls: wall-clock TTFT and latency beyond the
    provider's planned times) are added to the planned times, one live call's drawn per
    backfilled call among those planned closest to it (:mod:`llmtrace.demo.overhead`): the live
    calls' TTFT is measured on the wall clock by the SDK, so history measured any other way would
    drift from it by construction (issue 18, item 4).
    """
    resource = Resource.create(
        {
            sc.SERVICE_NAME: scenario.SERVICE,
            sc.DEPLOYMENT_ENVIRONMENT: scenario.ENVIRONMENT,
            "telemetry.sdk.name": "llmtrace-demo-backfill",
        }
    )
    tracer_provider = TracerProvider(resource=resource)  # private: never the global provider
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=30)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(
            exporter, max_queue_size=200_000, max_export_batch_size=2048, schedule_delay_millis=500
        )
    )
    tracer = tracer_provider.get_tracer(sc.INSTRUMENTATION_SCOPE)
    rng = random.Random(seed)
    result = Backfill()
    hour0 = now_ns - scenario.HISTORY_HOURS * NS_PER_HOUR
    samplers = {prompt: OverheadSampler(samples) for prompt, samples in (overheads or {}).items()}
    for hour in range(scenario.HISTORY_HOURS):
        slot_ns = hour0 + hour * NS_PER_HOUR
        hour_of_day = (slot_ns // NS_PER_HOUR) % 24
        for workload in scenario.WORKLOADS:
            for _ in range(poisson(rng, workload.per_hour * scenario.diurnal(hour_of_day))):
                start_ns = slot_ns + int(rng.random() * NS_PER_HOUR)
                hours_ago = (now_ns - start_ns) / NS_PER_HOUR
                sampler = samplers.get(workload.prompt)
                _call(tracer, provider, workload, rng, start_ns, hours_ago, result, sampler)
        if progress is not None:
            progress(hour + 1, scenario.HISTORY_HOURS)
    tracer_provider.force_flush(timeout_millis=120_000)
    tracer_provider.shutdown()
    return result


def _call(
    tracer: trace_api.Tracer,
    provider: FakeProvider,
    workload: scenario.Workload,
    rng: random.Random,
    start_ns: int,
    hours_ago: float,
    result: Backfill,
    overheads: OverheadSampler | None = None,
) -> None:
    body = scenario.request(workload, rng, hours_ago)
    outcome = provider.outcome(workload.path, body)
    if overheads and outcome.error_status is None:
        # Its own generator, so the story's draws (and the planted effects) stay as they were.
        extra = overheads.draw(outcome.ttft_ms, outcome.latency_ms, random.Random(start_ns))
        ttft = outcome.ttft_ms + max(extra.ttft_ms or 0.0, 0.0)
        outcome = replace(outcome, ttft_ms=ttft, latency_ms=max(outcome.latency_ms + extra.latency_ms, ttft))
    version = scenario.prompt_version(workload.prompt, hours_ago)
    context_attrs: dict[str, Any] = {
        sc.LLMTRACE_PROMPT_NAME: workload.prompt,
        sc.LLMTRACE_PROMPT_VERSION: version,
        sc.USER_ID: f"user-{rng.randrange(400)}",
        sc.SESSION_ID: f"session-{rng.randrange(10**9):09d}",
        sc.LLMTRACE_TAGS: [BACKFILLED_TAG],
    }
    end_ns = start_ns + int(outcome.latency_ms * 1e6)
    result.calls[workload.prompt] = result.calls.get(workload.prompt, 0) + 1
    if workload.prompt != scenario.SUMMARIZE:
        _llm_span(tracer, workload, body, outcome, start_ns, end_ns, context_attrs, None)
        result.errors += outcome.error_status is not None
        return
    # Summaries run inside a traced handler, and an LLM judge scores the handler's result.
    handler = tracer.start_span(
        "summarize_ticket",
        start_time=start_ns - 200_000,
        attributes={**context_attrs, sc.LLMTRACE_SPAN_KIND: sc.KIND_SPAN},
    )
    parent = trace_api.set_span_in_context(handler)
    _llm_span(tracer, workload, body, outcome, start_ns, end_ns, context_attrs, parent)
    if outcome.error_status is not None:
        result.errors += 1
        handler.set_status(Status(StatusCode.ERROR, "the provider call failed"))
    else:
        value = scenario.quality(rng, version)
        ids = handler.get_span_context()
        label = "pass" if value >= scenario.PASS_THRESHOLD else "fail"
        result.scores.append((f"{ids.trace_id:032x}", f"{ids.span_id:016x}", value, label))
    handler.end(end_time=end_ns + 300_000)


def _llm_span(
    tracer: trace_api.Tracer,
    workload: scenario.Workload,
    body: dict[str, Any],
    outcome: Outcome,
    start_ns: int,
    end_ns: int,
    context_attrs: dict[str, Any],
    parent: Any,
) -> None:
    embedding = workload.path.endswith("/embeddings")
    operation = sc.OP_EMBEDDINGS if embedding else sc.OP_CHAT
    attrs: dict[str, Any] = {
        **context_attrs,
        sc.GEN_AI_OPERATION_NAME: operation,
        sc.GEN_AI_PROVIDER_NAME: workload.provider,
        sc.LLMTRACE_SPAN_KIND: sc.KIND_EMBEDDING if embedding else sc.KIND_LLM,
        sc.GEN_AI_REQUEST_MODEL: workload.model,
        sc.SERVER_ADDRESS: "api.openai.com" if workload.provider == "openai" else "api.anthropic.com",
        sc.SERVER_PORT: 443,
        sc.GEN_AI_INPUT_MESSAGES: _input_messages(body),
    }
    if not embedding:
        attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = body.get("max_tokens", 0)
        attrs[sc.GEN_AI_REQUEST_STREAM] = workload.stream
    span = tracer.start_span(
        f"{operation} {workload.model}",
        context=parent,
        kind=SpanKind.CLIENT,
        start_time=start_ns,
        attributes=attrs,
    )
    if outcome.error_status is not None:
        error_type = _ERROR_TYPES.get((workload.provider, outcome.error_status), "InternalServerError")
        span.set_attributes({sc.ERROR_TYPE: error_type, sc.HTTP_RESPONSE_STATUS_CODE: outcome.error_status})
        span.set_status(
            Status(StatusCode.ERROR, f"Error code: {outcome.error_status} - {outcome.error_kind}")
        )
        span.end(end_time=start_ns + int(outcome.ttft_ms * 2.5e5))
        return
    finish = {"stop": "end_turn", "length": "max_tokens"} if workload.provider == "anthropic" else {}
    done: dict[str, Any] = {
        sc.GEN_AI_RESPONSE_MODEL: workload.model,
        sc.GEN_AI_USAGE_INPUT_TOKENS: outcome.input_tokens,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: outcome.output_tokens,
        sc.LLMTRACE_USAGE_SOURCE: sc.USAGE_REPORTED,
        sc.LLMTRACE_OUTPUT_CHARS: len(outcome.text),
    }
    if not embedding:
        done[sc.GEN_AI_RESPONSE_FINISH_REASONS] = [finish.get(outcome.finish_reason, outcome.finish_reason)]
        done[sc.GEN_AI_OUTPUT_MESSAGES] = json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": outcome.text[:CONTENT_CHARS]}]}]
        )
    if outcome.cached_tokens:
        done[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = outcome.cached_tokens
    if outcome.cache_write_tokens:
        done[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = outcome.cache_write_tokens
    if workload.stream:
        done[sc.LLMTRACE_TTFT_MS] = outcome.ttft_ms
        done[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = outcome.ttft_ms * 0.3 / 1000.0
    cost = default_price_book.cost_usd(
        provider=workload.provider,
        model=workload.model,
        input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens,
        cached_input_tokens=outcome.cached_tokens,
        cache_write_tokens=outcome.cache_write_tokens,
    )
    if cost is not None:
        done[sc.LLMTRACE_COST_USD] = cost
    span.set_attributes(done)
    span.end(end_time=end_ns)


def _input_messages(body: dict[str, Any]) -> str:
    """The request's messages in the OTel GenAI parts format, text cut to ``CONTENT_CHARS``."""
    if "input" in body:
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        messages = [
            {"role": "user", "parts": [{"type": "text", "content": t[:CONTENT_CHARS]}]} for t in texts
        ]
    else:
        messages = [
            {"role": m["role"], "parts": [{"type": "text", "content": str(m["content"])[:CONTENT_CHARS]}]}
            for m in body.get("messages", [])
        ]
    return json.dumps(messages)
