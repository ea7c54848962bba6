"""A real ``llmtrace serve`` (uvicorn subprocess) fed by the real OTLP/HTTP exporter.

Spans come from the official OpenTelemetry OpenAI instrumentation driving a real ``openai`` client
over a fake HTTP transport, and from hand-built OpenLLMetry / OpenInference attribute sets.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import otlp_build as ob
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from server_proc import ServerProcess

KEY = "test-key-0123456789"


def get_json(url: str, key: str | None = None) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def all_spans(base: str, key: str | None = None) -> list[dict[str, Any]]:
    return get_json(f"{base}/api/v1/spans?limit=1000", key)["data"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("uvicorn") / "data", None, "--api-key", f"{KEY}:acme"
    ).start()
    yield proc
    proc.stop()


def exporter(base: str, **kwargs: Any) -> OTLPSpanExporter:
    return OTLPSpanExporter(
        endpoint=f"{base}/v1/traces", headers={"Authorization": f"Bearer {KEY}"}, **kwargs
    )


def openai_spans(n: int) -> list[ReadableSpan]:
    """Spans produced by opentelemetry-instrumentation-openai-v2 around a real openai client."""
    import openai
    from openai.types.chat import ChatCompletion
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    def handler(request: httpx2.Request) -> httpx2.Response:
        completion = ChatCompletion.model_validate(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": "gpt-4o-mini-2024-07-18",
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}
                ],
                "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
            }
        )
        return httpx2.Response(200, json=completion.model_dump(mode="json"))

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(
            api_key="sk-test",
            base_url="http://fake/v1",
            http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        )
        for _ in range(n):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
            )
    finally:
        instrumentor.uninstrument()
    return list(memory.get_finished_spans())


def test_official_openai_instrumentation_through_the_otlp_exporter(server: ServerProcess) -> None:
    produced = openai_spans(3)
    assert len(produced) == 3
    assert exporter(server.url, compression=Compression.Gzip).export(produced) == SpanExportResult.SUCCESS
    ids = {f"{s.context.span_id:016x}" for s in produced}
    rows = [r for r in all_spans(server.url, KEY) if r["span_id"] in ids]
    assert len(rows) == 3
    for row in rows:
        assert row["project"] == "acme" and row["service_name"] == "support-bot"
        assert (row["kind"], row["provider"], row["operation"]) == ("llm", "openai", "chat")
        assert (row["request_model"], row["response_model"], row["model"]) == (
            "gpt-4o-mini",
            "gpt-4o-mini-2024-07-18",
            "gpt-4o-mini",
        )
        assert (row["input_tokens"], row["output_tokens"], row["finish_reason"]) == (11, 3, "stop")
        assert row["cost_usd"] and row["cost_usd"] > 0
        # Attributes without a column of their own are kept in the map (which ones the official
        # instrumentation sets depends on its httpx/httpx2 handling, so compare with its spans).
        produced_extra = {
            k for k in produced[0].attributes or {} if k.startswith(("server.", "gen_ai.openai"))
        }
        assert produced_extra <= set(row["attributes"])


def hand_built(attrs: dict[str, Any], name: str) -> ReadableSpan:
    provider = TracerProvider(resource=Resource.create({"service.name": "dialects"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span(name, attributes=attrs):
        pass
    [span] = memory.get_finished_spans()
    return span


def test_openllmetry_and_openinference_attribute_sets(server: ServerProcess) -> None:
    openllmetry = hand_built(
        {
            "llm.request.type": "chat",
            "gen_ai.system": "Anthropic",
            "gen_ai.request.model": "claude-3-5-haiku-20241022",
            "gen_ai.response.model": "claude-3-5-haiku-20241022",
            "gen_ai.usage.prompt_tokens": 120,
            "gen_ai.usage.completion_tokens": 30,
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "Summarise this",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Short.",
            "traceloop.association.properties.user_id": "u-7",
        },
        "anthropic.chat",
    )
    openinference = hand_built(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.provider": "openai",
            "llm.token_count.prompt": 50,
            "llm.token_count.completion": 5,
            "input.value": "What is 2+2?",
            "output.value": "4",
            "session.id": "sess-1",
        },
        "ChatCompletion",
    )
    assert exporter(server.url).export([openllmetry, openinference]) == SpanExportResult.SUCCESS
    rows = {r["span_id"]: r for r in all_spans(server.url, KEY)}
    a = rows[f"{openllmetry.context.span_id:016x}"]
    assert (a["kind"], a["provider"], a["model"], a["input_tokens"], a["output_tokens"]) == (
        "llm",
        "anthropic",
        "claude-3-5-haiku-20241022",
        120,
        30,
    )
    assert "Summarise this" in a["input"] and "Short." in a["output"] and a["user_id"] == "u-7"
    b = rows[f"{openinference.context.span_id:016x}"]
    assert (b["kind"], b["provider"], b["model"], b["input_tokens"], b["output_tokens"]) == (
        "llm",
        "openai",
        "gpt-4o",
        50,
        5,
    )
    assert (b["input"], b["output"], b["session_id"]) == ("What is 2+2?", "4", "sess-1")
    assert a["cost_usd"] > 0 and b["cost_usd"] > 0


def test_second_server_on_the_same_store_fails_with_one_line(server: ServerProcess) -> None:
    import subprocess

    other = ServerProcess(server.store_path)
    result = subprocess.run(other.command(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "already open" in lines[0], result.stderr


def test_kill_9_and_restart_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data", None, "--api-key", f"{KEY}:acme").start()
    try:
        first = [
            hand_built({"gen_ai.request.model": "gpt-4o-mini", "seq": i}, f"first-{i}") for i in range(20)
        ]
        second = [
            hand_built({"gen_ai.request.model": "gpt-4o-mini", "seq": i}, f"second-{i}") for i in range(20)
        ]
        assert exporter(proc.url).export(first) == SpanExportResult.SUCCESS  # acknowledged
        proc.kill()
        # The exporter now meets a dead server and retries with backoff while it comes back.
        results: list[SpanExportResult] = []
        sender = threading.Thread(
            target=lambda: results.append(exporter(proc.url, timeout=60).export(second))
        )
        sender.start()
        proc.start()
        sender.join(90)
        assert results == [SpanExportResult.SUCCESS]
        # A retry of an acknowledged batch (its response lost in the crash) must not duplicate it.
        assert exporter(proc.url).export(first) == SpanExportResult.SUCCESS
        rows = all_spans(proc.url, KEY)
        names = sorted(r["name"] for r in rows)
        assert names == sorted([f"first-{i}" for i in range(20)] + [f"second-{i}" for i in range(20)])
        calls = get_json(f"{proc.url}/api/v1/metrics?interval=1h", KEY)["series"][0]["points"]
        assert sum(p["calls"] for p in calls) == 40
    finally:
        proc.stop()


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_decode_workers_exit_when_the_server_is_killed(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data", None, "--decode-workers", "2").start()
    try:
        spans = [hand_built({"gen_ai.request.model": "gpt-4o-mini"}, f"s-{i}") for i in range(4)]
        assert exporter(proc.url).export(spans) == SpanExportResult.SUCCESS  # starts a worker
        assert proc.proc is not None
        workers = _children(proc.proc.pid)
        assert workers
        proc.kill()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
            time.sleep(0.1)
        assert not [w for w in workers if Path(f"/proc/{w}").exists()], "orphaned decode workers"
    finally:
        proc.stop()


def test_overload_answers_503_with_retry_after_and_loses_nothing(tmp_path: Path) -> None:
    env = {"LLMTRACE_INGEST_CONCURRENCY": "1", "LLMTRACE_INGEST_QUEUE": "0"}
    proc = ServerProcess(tmp_path / "data", None, env=env).start()
    try:
        bodies = [
            ob.request([ob.span({"gen_ai.request.model": "m"}) for _ in range(200)]).SerializeToString()
            for _ in range(12)
        ]
        statuses: list[int] = []
        retry_after: list[str | None] = []
        lock = threading.Lock()

        def send(body: bytes) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=60)
            while True:
                conn.request(
                    "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"}
                )
                response = conn.getresponse()
                response.read()
                with lock:
                    statuses.append(response.status)
                    if response.status == 503:
                        retry_after.append(response.getheader("Retry-After"))
                if response.status != 503:
                    break
                time.sleep(0.05)  # shorter than Retry-After: keep the pressure on
            conn.close()

        threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert statuses.count(200) == 12 and set(statuses) <= {200, 503}
        assert 503 in statuses and set(retry_after) == {"1"}
        url = f"{proc.url}/api/v1/metrics?interval=1d"
        deadline = time.monotonic() + 10  # requests answered once spooled are written within 1 s
        while (calls := sum(p["calls"] for p in get_json(url)["series"][0]["points"])) < 12 * 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert calls == 12 * 200
    finally:
        proc.stop()


def test_llmtrace_sdk_delivers_spans_and_scores_across_a_server_kill(tmp_path: Path) -> None:
    import llmtrace

    proc = ServerProcess(tmp_path / "data", None, "--api-key", f"{KEY}:acme").start()
    try:
        llmtrace.instrument(service_name="sdk-svc", endpoint=proc.url, api_key=KEY, providers=[])
        try:
            with llmtrace.span("before-crash"):
                llmtrace.score("helpful", 1.0, label="yes")
            assert llmtrace.flush(10)  # delivered and acknowledged
            proc.kill()
            for i in range(5):
                with llmtrace.span(f"during-outage-{i}"):
                    pass
            assert not llmtrace.flush(0.5)  # the server is down: still queued, being retried
            proc.start()
            assert llmtrace.flush(30)
        finally:
            llmtrace.shutdown(5)
        rows = all_spans(proc.url, KEY)
        names = sorted(r["name"] for r in rows)
        assert names == sorted(["before-crash", *(f"during-outage-{i}" for i in range(5))])
        assert {(r["service_name"], r["project"]) for r in rows} == {("sdk-svc", "acme")}
        [score] = get_json(f"{proc.url}/api/v1/scores", KEY)["data"]
        before = next(r for r in rows if r["name"] == "before-crash")
        assert (score["name"], score["label"], score["span_id"]) == ("helpful", "yes", before["span_id"])
    finally:
        proc.stop()
