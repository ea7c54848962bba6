"""Endpoint export: OTLP/HTTP protobuf and JSON scores to a real local HTTP server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import llmtrace
from llmtrace._internal import semconv as sc

from .fake_server import FakeServer, fake_server, free_port


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with fake_server() as s:
        yield s


@pytest.fixture(autouse=True)
def _teardown() -> Iterator[None]:
    yield
    llmtrace.shutdown(timeout_s=2.0)


def _decode(body: bytes) -> list[dict[str, object]]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    out = []
    for rs in request.resource_spans:
        resource = {a.key: a.value.string_value for a in rs.resource.attributes}
        for ss in rs.scope_spans:
            for span in ss.spans:
                out.append(
                    {
                        "name": span.name,
                        "scope": ss.scope.name,
                        "service": resource.get(sc.SERVICE_NAME),
                        "attributes": {a.key: a.value for a in span.attributes},
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                    }
                )
    return out


def test_spans_and_scores_reach_the_server_with_bearer_key(server: FakeServer) -> None:
    llmtrace.instrument(endpoint=server.url, api_key="k-123", service_name="svc", project="p1")
    before = datetime.now(UTC)
    with llmtrace.span("work") as s:
        llmtrace.score("helpfulness", 0.8, comment="good", label="pos")
    time.sleep(0.01)
    llmtrace.score("trace-level", 1, trace_id=format(s.get_span_context().trace_id, "032x"))
    after = datetime.now(UTC)
    assert llmtrace.flush(5.0) is True

    (traces,) = server.delivered("/v1/traces")
    assert traces.headers["Authorization"] == "Bearer k-123"
    assert traces.headers["Content-Type"] == "application/x-protobuf"
    (span,) = _decode(traces.body)
    ctx = s.get_span_context()
    assert span["name"] == "work" and span["service"] == "svc" and span["scope"] == "llmtrace"
    assert span["trace_id"] == format(ctx.trace_id, "032x")
    assert span["attributes"][sc.LLMTRACE_PROJECT].string_value == "p1"

    (scores,) = server.delivered("/api/v1/scores")
    assert scores.headers["Authorization"] == "Bearer k-123"
    body = json.loads(scores.body)
    # Each score carries the time of its score() call, not the batch's arrival.
    times = [datetime.fromisoformat(item.pop("timestamp")) for item in body["scores"]]
    assert before <= times[0] < times[1] <= after
    assert (times[1] - times[0]).total_seconds() >= 0.01
    assert body == {
        "scores": [
            {
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
                "name": "helpfulness",
                "value": 0.8,
                "source": "sdk",
                "label": "pos",
                "comment": "good",
            },
            {"trace_id": format(ctx.trace_id, "032x"), "name": "trace-level", "value": 1.0, "source": "sdk"},
        ]
    }
    stats = llmtrace.stats()
    assert (stats.exported, stats.failed, stats.scores_exported, stats.dropped) == (1, 0, 2, 0)


def test_503_with_retry_after_is_retried_after_the_delay(server: FakeServer) -> None:
    server.script = [(503, {"Retry-After": "1"}), (429, {"Retry-After": "0"})]
    llmtrace.instrument(endpoint=server.url)
    with llmtrace.span("once"):
        pass
    started = time.monotonic()
    assert llmtrace.flush(10.0) is True
    elapsed = time.monotonic() - started
    assert server.answered == [503, 429, 200]
    assert 1.0 <= elapsed < 4.0  # waited the server's Retry-After, then backoff, then delivered
    assert len(server.delivered("/v1/traces")) == 1
    assert llmtrace.stats().retries == 2 and llmtrace.stats().exported == 1


def test_server_restart_inside_retry_window_loses_nothing() -> None:
    port = free_port()
    llmtrace.instrument(endpoint=f"http://127.0.0.1:{port}", retry_window_s=20)
    for i in range(5):
        with llmtrace.span(f"s{i}"):
            llmtrace.score("q", i)
    assert llmtrace.flush(0.3) is False  # nothing listens yet: not delivered, and flush kept its deadline
    with fake_server(port) as restarted:
        assert llmtrace.flush(10.0) is True
        names = sorted(s["name"] for r in restarted.delivered("/v1/traces") for s in _decode(r.body))
        values = sorted(
            x["value"] for r in restarted.delivered("/api/v1/scores") for x in json.loads(r.body)["scores"]
        )
    assert names == [f"s{i}" for i in range(5)]
    assert values == [0, 1, 2, 3, 4]
    assert (llmtrace.stats().failed, llmtrace.stats().scores_failed) == (0, 0)


def test_uninstrument_still_delivers_what_was_queued(server: FakeServer) -> None:
    llmtrace.instrument(endpoint=server.url)
    with llmtrace.span("last"):
        pass
    llmtrace.uninstrument()
    with llmtrace.span("after"):  # not traced any more
        pass
    deadline = time.monotonic() + 5
    while not server.delivered("/v1/traces") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [s["name"] for r in server.delivered("/v1/traces") for s in _decode(r.body)] == ["last"]


def test_server_down_drops_after_window_and_never_blocks() -> None:
    llmtrace.instrument(endpoint=f"http://127.0.0.1:{free_port()}", retry_window_s=0.8, queue_size=100)
    tracer = llmtrace._internal.config.settings().tracer()
    durations = []
    for _ in range(300):
        span = tracer.start_span("x")
        t0 = time.perf_counter()
        span.end()
        durations.append(time.perf_counter() - t0)
    durations.sort()
    assert durations[len(durations) // 2] < 0.001  # median span end well under a millisecond
    assert durations[-1] < 0.05  # and never waits on the network
    started = time.monotonic()
    assert llmtrace.flush(0.5) is False
    assert time.monotonic() - started < 0.8
    deadline = time.monotonic() + 10
    while llmtrace.stats().failed + llmtrace.stats().dropped < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = llmtrace.stats()
    assert stats.exported == 0
    assert stats.dropped > 0  # queue bound (100) exceeded while the worker was retrying
    assert stats.failed + stats.dropped == 300


def test_permanent_error_is_not_retried(server: FakeServer) -> None:
    server.default = (400, {})
    llmtrace.instrument(endpoint=server.url)
    with llmtrace.span("bad"):
        pass
    assert llmtrace.flush(5.0) is False
    assert server.answered == [400]
    assert llmtrace.stats().failed == 1


def test_a_large_batch_goes_in_requests_under_the_size_cap(server: FakeServer) -> None:
    """A batch of spans with long content (here ~100 KB each) can be far over the server's body
    limit (16 MiB by default, 413 above it): it is sent in parts, each under MAX_REQUEST_BYTES."""
    from llmtrace._internal.backends import MAX_REQUEST_BYTES

    llmtrace.instrument(endpoint=server.url)
    for i in range(100):
        with llmtrace.span(f"long-{i}") as span:
            span.set_attribute("note", "y" * 100_000)
    assert llmtrace.flush(10.0) is True
    bodies = [r.body for r in server.delivered("/v1/traces")]
    assert len(bodies) >= 3 and max(len(b) for b in bodies) <= MAX_REQUEST_BYTES
    assert sorted(s["name"] for b in bodies for s in _decode(b)) == sorted(f"long-{i}" for i in range(100))
    assert llmtrace.stats().exported == 100
