"""Request bodies over the server's limit: the JSON API refuses them unread, and the SDK sends a
batch too large for one request in parts (a real ``llmtrace serve`` with a 1 MiB limit)."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from server_proc import ServerProcess

import llmtrace

LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("body-limits") / "data", env={"LLMTRACE_MAX_BODY_BYTES": str(LIMIT)}
    ).start()
    yield proc
    proc.stop()


def get(server: ServerProcess, path: str) -> Any:
    with urllib.request.urlopen(server.url + path, timeout=30) as response:
        return json.loads(response.read())


def score(trace_id: str, comment: str) -> dict[str, Any]:
    return {"trace_id": trace_id, "name": "big", "value": 1, "comment": comment}


def post_scores(server: ServerProcess, body: bytes, chunked: bool = False) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        if chunked:  # no Content-Length: the body's size is known only as it arrives
            conn.request(
                "POST",
                "/api/v1/scores",
                body=iter([body[i : i + 65536] for i in range(0, len(body), 65536)]),
                headers={"Content-Type": "application/json"},
                encode_chunked=True,
            )
        else:
            conn.request("POST", "/api/v1/scores", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize("chunked", [False, True])
def test_a_json_body_over_the_limit_is_refused_and_nothing_written(
    server: ServerProcess, chunked: bool
) -> None:
    """A 300 MB scores body (each score valid) took the server from 400 MB to 1.8 GB as it parsed."""
    trace_id = ("a" if chunked else "b") * 32
    body = json.dumps({"scores": [score(trace_id, "x" * 60_000) for _ in range(20)]}).encode()
    assert len(body) > LIMIT
    status, answer = post_scores(server, body, chunked)
    assert status == 413
    assert answer == {"detail": f"request body is over {LIMIT} bytes; send less per request"}
    small = json.dumps({"scores": [score(trace_id, "x" * 60_000) for _ in range(2)]}).encode()
    assert post_scores(server, small, chunked) == (200, {"accepted": 2})
    stored = get(server, f"/api/v1/scores?trace_id={trace_id}")["data"]
    assert len(stored) == 1  # the two of the small body (one name, trace and source: one score)


@pytest.fixture
def sdk(server: ServerProcess) -> Iterator[None]:
    llmtrace.instrument(endpoint=server.url, service_name="big-batches", providers=[])
    yield
    llmtrace.shutdown(timeout_s=10.0)


def test_a_batch_over_the_limit_is_delivered_in_parts(server: ServerProcess, sdk: None) -> None:
    """40 spans of ~100 KB are one 4 MB request: the server's 413 used to drop all of them. Now
    the SDK halves the batch until the server takes it; a span too large alone is the only loss."""
    trace_ids = []
    for i in range(40):
        with llmtrace.span(f"part-{i}") as span:
            span.set_attribute("note", f"{i} " + "y" * 100_000)
            trace_ids.append(format(span.get_span_context().trace_id, "032x"))
            llmtrace.score("long-comment", i, comment="z" * 60_000)  # 40 scores: ~2.4 MB
    with llmtrace.span("too-large-alone") as span:
        span.set_attribute("note", "w" * (2 * LIMIT))
    assert llmtrace.flush(30.0) is False  # not all: the span over the limit alone

    stats = llmtrace.stats()
    assert (stats.exported, stats.failed) == (40, 1)
    assert (stats.scores_exported, stats.scores_failed) == (40, 0)
    names = {row["name"] for row in get(server, "/api/v1/spans?service=big-batches&limit=100")["data"]}
    assert names == {f"part-{i}" for i in range(40)}
    for trace_id in (trace_ids[0], trace_ids[-1]):
        assert len(get(server, f"/api/v1/scores?trace_id={trace_id}")["data"]) == 1


def test_a_body_far_over_the_limit_is_not_read_to_its_end(server: ServerProcess) -> None:
    """The server reads (and drops) at most DRAIN_MAX_BYTES of a refused body, then closes."""
    from llmtrace_server.request_body import DRAIN_MAX_BYTES

    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(
        b"POST /api/v1/scores HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000\r\n\r\n"
    )
    chunk, sent = b"0" * (1 << 20), 0
    try:
        while sent < 400 * (1 << 20):
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:  # reset or broken pipe: the server stopped reading
        pass
    finally:
        sock.close()
    # Drained to the cap and no further (+ what socket buffers hold); the connection may break
    # right at the cap, a whole number of the client's chunks.
    assert DRAIN_MAX_BYTES <= sent < DRAIN_MAX_BYTES + 64 * (1 << 20)
    assert get(server, "/api/v1/scores?limit=1")["data"] is not None  # and it goes on serving
