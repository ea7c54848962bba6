"""Other instrumentations' spans, through the real OTLP exporter to a real ``llmtrace serve``.

OpenInference, OpenLLMetry, Logfire and the official instrumentation (event mode) each trace nine
calls of real openai / anthropic clients against fake providers
(:mod:`integrations.dialects.calls`). Every call must be one row, and the same call the same
row whichever instrumentation sent it: asserted field by field against one expectation per call,
where a documented gap of an instrumentation (a value it does not send) is named explicitly.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from integrations.dialects import calls
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.trace.export import SpanExportResult
from server_proc import ServerProcess

KEYS = {
    "openinference": "oi-key-0123456789",
    "openllmetry": "ollm-key-0123456789",
    "logfire": "lf-key-0123456789",
    "official-events": "v2-key-0123456789",
}
PRODUCERS: dict[str, Callable[[], calls.Produced]] = {
    "openinference": calls.openinference_spans,
    "openllmetry": calls.openllmetry_spans,
    "logfire": calls.logfire_spans,
    "official-events": calls.official_event_mode_spans,
}
SYSTEM_MESSAGE = {"role": "system", "parts": [{"type": "text", "content": calls.SYSTEM}]}

OPENAI = {"kind": "llm", "provider": "openai", "operation": "chat", "status": "ok", "error_type": ""}
CHAT = {
    **OPENAI,
    "request_model": "gpt-4o",
    "response_model": "gpt-4o-2024-08-06",
    "model": "gpt-4o",
    "input_tokens": 1000,
    "output_tokens": 200,
    "cached_input_tokens": 800,
    "cache_write_tokens": 0,
    "reasoning_tokens": 50,
    "finish_reason": "stop",
}
EMBEDDING = {
    **OPENAI,
    "kind": "embedding",
    "operation": "embeddings",
    "request_model": "text-embedding-3-small",
    "response_model": "text-embedding-3-small",
    "model": "text-embedding-3-small",
    "input_tokens": 1000,
    "output_tokens": 0,
    "finish_reason": "",
}
RATE_LIMITED = {
    **OPENAI,
    "request_model": "gpt-4o",
    "model": "gpt-4o",
    "response_model": "",
    "status": "error",
    "error_type": "RateLimitError",
    "input_tokens": 0,
    "output_tokens": 0,
    "cost_usd": None,
}
ANTHROPIC = {
    "kind": "llm",
    "provider": "anthropic",
    "operation": "chat",
    "status": "ok",
    "request_model": "claude-sonnet-4-5",
    "response_model": "claude-sonnet-4-5-20250929",
    "model": "claude-sonnet-4-5",
    "input_tokens": 5100,  # Anthropic's input + cache reads + cache writes (the OTel convention)
    "output_tokens": 20,
    "cached_input_tokens": 4000,
    "cache_write_tokens": 1000,
    "finish_reason": "stop",
}
# (expectation, has a system prompt, is a stream), in call order (calls.openai_calls / anthropic_calls).
OPENAI_CALLS = [(CHAT, True, False)] * 2 + [(CHAT, False, True)] * 2
OPENAI_CALLS += [(EMBEDDING, False, False), (RATE_LIMITED, False, False)]
ANTHROPIC_CALLS = [(ANTHROPIC, True, False)] + [(ANTHROPIC, False, True)] * 2
CALLS = {
    "openinference": OPENAI_CALLS + ANTHROPIC_CALLS,
    "openllmetry": OPENAI_CALLS + ANTHROPIC_CALLS,
    "logfire": OPENAI_CALLS + ANTHROPIC_CALLS,
    "official-events": OPENAI_CALLS + [(CHAT, True, False)] * 2 + [(EMBEDDING, False, False)],
}
# What an instrumentation does not send, so its row cannot have it: (call expectation, field) -> value.
GAPS: dict[str, dict[tuple[int, str], Any]] = {
    # The official instrumentation records no cache or reasoning tokens, nor a stream's finish reason.
    "official-events": {
        (id(CHAT), "cached_input_tokens"): 0,
        (id(CHAT), "reasoning_tokens"): 0,
    },
    # Logfire names the requested model as the response model of a failed call.
    "logfire": {(id(RATE_LIMITED), "response_model"): "gpt-4o"},
}
STREAM_GAPS: dict[str, dict[str, Any]] = {
    "openllmetry": {"reasoning_tokens": 0, "output_tokens:anthropic": 33},  # it sums Anthropic's deltas
    "official-events": {"finish_reason": "", "cached_input_tokens": 0, "reasoning_tokens": 0},
}


def get_json(url: str, key: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def produced() -> dict[str, calls.Produced]:
    return {name: make() for name, make in PRODUCERS.items()}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, produced: dict[str, calls.Produced]
) -> Iterator[ServerProcess]:
    keys = [arg for name, key in KEYS.items() for arg in ("--api-key", f"{key}:{name}")]
    proc = ServerProcess(tmp_path_factory.mktemp("dialects") / "data", None, *keys).start()
    try:
        for name, result in produced.items():
            exporter = OTLPSpanExporter(
                endpoint=f"{proc.url}/v1/traces",
                headers={"Authorization": f"Bearer {KEYS[name]}"},
                compression=Compression.Gzip,
            )
            if result.logs:  # event mode: half the events before their spans, half after
                half = len(result.logs) // 2
                assert _export_logs(proc, name, result.logs[:half]) == LogRecordExportResult.SUCCESS
                assert exporter.export(result.spans) == SpanExportResult.SUCCESS
                assert _export_logs(proc, name, result.logs[half:]) == LogRecordExportResult.SUCCESS
            else:
                assert exporter.export(result.spans) == SpanExportResult.SUCCESS
        yield proc
    finally:
        proc.stop()


def _export_logs(proc: ServerProcess, name: str, logs: list[Any]) -> LogRecordExportResult:
    exporter = OTLPLogExporter(
        endpoint=f"{proc.url}/v1/logs",
        headers={"Authorization": f"Bearer {KEYS[name]}"},
        compression=Compression.Gzip,
    )
    return exporter.export(logs)


def _rows(server: ServerProcess, name: str) -> list[dict[str, Any]]:
    rows = get_json(f"{server.url}/api/v1/spans?limit=1000", KEYS[name])["data"]
    return sorted(rows, key=lambda r: (r["start_time"], r["span_id"]))


@pytest.mark.parametrize("name", list(PRODUCERS))
def test_each_call_is_one_row_with_the_same_fields_whoever_traced_it(
    server: ServerProcess, produced: dict[str, calls.Produced], name: str
) -> None:
    rows = _rows(server, name)
    call_rows = [r for r in rows if r["kind"] in ("llm", "embedding")]
    assert len(call_rows) == 9, [(r["name"], r["kind"]) for r in rows]
    assert {r["project"] for r in rows} == {name} and {r["service_name"] for r in rows} == {name}
    for row, (expected, system, stream) in zip(call_rows, CALLS[name], strict=True):
        want = dict(expected)
        for (call, field), value in GAPS.get(name, {}).items():
            if call == id(expected):
                want[field] = value
        if stream:
            for field, value in STREAM_GAPS.get(name, {}).items():
                field, _, provider = field.partition(":")
                if not provider or provider == row["provider"]:
                    want[field] = value
        assert {field: row[field] for field in want} == want, (name, row["name"])
        if expected is RATE_LIMITED:
            continue
        assert row["cost_usd"] > 0, row
        if expected is not EMBEDDING:  # the system prompt is part of what users read and search
            messages = json.loads(row["input"])
            assert (messages[0] == SYSTEM_MESSAGE) is system, messages
            assert messages[-1]["role"] == "user"
            [answer] = json.loads(row["output"])
            text = "Hello" if stream else ("Hi there" if row["provider"] == "anthropic" else "Hello there")
            assert (answer["role"], [p["content"] for p in answer["parts"]]) == ("assistant", [text])
        if stream:  # a stream's row lasts as long as the stream, whichever span carried its usage
            assert row["duration_ms"] >= calls.STREAM_SECONDS * 1000 * 0.8, row
            if (name, row["provider"]) == ("openinference", "openai"):  # the only one marking it
                assert 0 < row["ttft_ms"] < row["duration_ms"]
            else:
                assert row["ttft_ms"] is None


@pytest.mark.parametrize("name", list(PRODUCERS))
def test_metrics_count_nine_calls_for_nine_calls(server: ServerProcess, name: str) -> None:
    metrics = get_json(f"{server.url}/api/v1/metrics?interval=1d&group_by=model", KEYS[name])
    calls_by_model = {s["group"]["model"]: sum(p["calls"] for p in s["points"]) for s in metrics["series"]}
    expected = {"gpt-4o": 5, "text-embedding-3-small": 1, "claude-sonnet-4-5": 3}
    if name == "official-events":
        expected = {"gpt-4o": 7, "text-embedding-3-small": 2}
    assert calls_by_model == expected


def test_logfire_calls_cost_what_logfire_itself_says(
    server: ServerProcess, produced: dict[str, calls.Produced]
) -> None:
    """Logfire prices each call with genai-prices over the whole response (``operation.cost``),
    an independent computation: the row's cost equals it, the Anthropic message's one-hour cache
    writes and web searches included (read from ``gen_ai.usage.raw``)."""
    said = {
        format(span.context.span_id, "016x"): span.attributes["operation.cost"]
        for span in produced["logfire"].spans
        if span.attributes and "operation.cost" in span.attributes
    }
    rows = {r["span_id"]: r for r in _rows(server, "logfire") if r["kind"] in ("llm", "embedding")}
    assert len(said) == 8 and set(said) <= set(rows)  # every call but the failed one
    assert {span_id: rows[span_id]["cost_usd"] for span_id in said} == pytest.approx(said, rel=1e-9)
    # The first Anthropic call is the message (the streams follow); OpenLLMetry sends the same
    # tokens and neither extra, so its row is the call priced without them.
    message = next(r for r in _rows(server, "logfire") if r["provider"] == "anthropic")
    without = next(r for r in _rows(server, "openllmetry") if r["provider"] == "anthropic")
    assert message["cache_write_tokens"] == without["cache_write_tokens"] == 1000
    assert message["cost_usd"] == pytest.approx(without["cost_usd"] + 2 * 0.01 + 600 * 3e-6 * (2 - 1.25))


def test_logfire_streams_are_not_counted_twice_and_keep_their_latency(server: ServerProcess) -> None:
    rows = _rows(server, "logfire")
    request_halves = [r for r in rows if r["kind"] == "span"]
    assert len(request_halves) == 4  # the stream request spans, kept in the tree as plain spans
    assert all(r["input_tokens"] == 0 and r["cost_usd"] is None for r in request_halves)
    streams = [r for r in rows if r["kind"] == "llm" and r["attributes"].get("logfire.span_type") == "log"]
    assert len(streams) == 4
    assert all(r["duration_ms"] >= calls.STREAM_SECONDS * 1000 * 0.8 for r in streams)


def test_event_content_attaches_before_or_after_its_span_and_once_under_retries(
    server: ServerProcess, produced: dict[str, calls.Produced]
) -> None:
    logs = produced["official-events"].logs
    assert len(logs) == 7  # every chat (the embeddings send no event)
    # A retry of everything (e.g. the response was lost) must not duplicate the content.
    assert _export_logs(server, "official-events", logs) == LogRecordExportResult.SUCCESS
    rows = [r for r in _rows(server, "official-events") if r["kind"] == "llm"]
    with_content = [r for r in rows if r["input"]]
    assert len(with_content) == 7
    for row in with_content:
        messages = json.loads(row["input"])
        assert [m["role"] for m in messages] in (["system", "user"], ["user"])
        if row["status"] == "ok":
            [answer] = json.loads(row["output"])
            assert answer["role"] == "assistant" and answer["parts"][0]["content"] in ("Hello", "Hello there")
            assert row["output_chars"] > 0
    trace = get_json(f"{server.url}/api/v1/traces/{with_content[0]['trace_id']}", KEYS["official-events"])
    assert trace["spans"][0]["input"] == with_content[0]["input"]


def _post_event(server: ServerProcess, key: str, trace_id: str, span_id: str) -> dict[str, Any]:
    """One gen_ai.client.inference.operation.details record as OTLP/JSON, for the given span."""
    messages = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "embed me"}]}])
    body = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(time.time_ns()),
                                "traceId": trace_id,
                                "spanId": span_id,
                                "eventName": "gen_ai.client.inference.operation.details",
                                "attributes": [
                                    {"key": "gen_ai.input.messages", "value": {"stringValue": messages}}
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    request = urllib.request.Request(
        f"{server.url}/v1/logs",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_event_content_stays_in_the_senders_project(server: ServerProcess) -> None:
    [embedding] = [r for r in _rows(server, "official-events") if r["kind"] == "embedding"][:1]
    assert embedding["input"] == ""
    # Sent with another project's key: stored there, never shown on this project's span.
    assert _post_event(server, KEYS["openinference"], embedding["trace_id"], embedding["span_id"]) == {}
    assert (
        next(r for r in _rows(server, "official-events") if r["span_id"] == embedding["span_id"])["input"]
        == ""
    )
    # Sent with the span's own project key, it attaches.
    assert _post_event(server, KEYS["official-events"], embedding["trace_id"], embedding["span_id"]) == {}
    row = next(r for r in _rows(server, "official-events") if r["span_id"] == embedding["span_id"])
    assert json.loads(row["input"])[0]["parts"][0]["content"] == "embed me"
