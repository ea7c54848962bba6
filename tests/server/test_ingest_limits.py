"""Ingest under stalled and greedy clients (issue 13), with real sockets against ``llmtrace serve``:
stalled uploads hold no ingest slot and are cut off by the body read deadline; one project cannot
take the capacity another needs."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import otlp_build as ob
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from server_proc import ServerProcess

from llmtrace._internal import semconv as sc

KEY_A, KEY_B = "key-of-project-a-0001", "key-of-project-b-0002"
CHAT = {
    sc.GEN_AI_OPERATION_NAME: "chat",
    sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
    sc.GEN_AI_USAGE_INPUT_TOKENS: 9,
}


def post(port: int, body: bytes, key: str | None = None, timeout: float = 30) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/x-protobuf"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        conn.request("POST", "/v1/traces", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def stalled_upload(port: int, path: bytes = b"/v1/traces") -> socket.socket:
    """Headers announcing a 1 MB body, then one byte of it, and nothing more."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        b"Content-Length: 1000000\r\n\r\n\x0a"
    )
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(15)
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


@pytest.fixture
def keyless(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "data", None, "--decode-workers", "0", "--body-read-timeout", "4")
    proc.start()
    yield proc
    proc.stop()


def test_stalled_uploads_hold_no_slot_and_are_cut_off_by_the_deadline(keyless: ServerProcess) -> None:
    stalled = [stalled_upload(keyless.port) for _ in range(80)]  # more than the 4 + 64 ingest slots
    stalled.append(stalled_upload(keyless.port, b"/api/v1/alerts/rules"))  # any route with a body
    try:
        time.sleep(0.5)  # every stalled request has reached the server
        started = time.monotonic()
        status, body = post(keyless.port, ob.request([ob.span(CHAT)]).SerializeToString())
        assert status == 200, body
        assert time.monotonic() - started < 3  # answered while the uploads are still stalled
        answers = [read_until_closed(sock) for sock in stalled]
        waited = time.monotonic() - started
    finally:
        for sock in stalled:
            sock.close()
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers[0]
    assert b"not received within 4 s" in answers[0]
    assert 2 < waited < 14  # the 4 s deadline, not the socket's lifetime


@pytest.fixture
def two_projects(tmp_path: Path) -> Iterator[ServerProcess]:
    env = {"LLMTRACE_INGEST_CONCURRENCY": "1", "LLMTRACE_INGEST_QUEUE": "3"}  # at most 2 per project
    proc = ServerProcess(
        tmp_path / "data",
        None,
        "--decode-workers",
        "0",
        "--api-key",
        f"{KEY_A}:a",
        "--api-key",
        f"{KEY_B}:b",
        env=env,
    )
    proc.start()
    yield proc
    proc.stop()


def test_one_project_cannot_take_the_capacity_another_needs(two_projects: ServerProcess) -> None:
    # Bodies that take a while to decode and write, so project A's requests stay in flight.
    big = [
        ob.request([ob.span({**CHAT, "note": "x" * 1500}) for _ in range(3000)]).SerializeToString()
        for _ in range(10)
    ]
    a_results: list[tuple[int, bytes, float]] = []
    lock = threading.Lock()
    refused = threading.Event()

    def send_a(body: bytes) -> None:
        status, answer = post(two_projects.port, body, KEY_A, timeout=120)
        with lock:
            a_results.append((status, answer, time.monotonic()))
        if status == 503:
            refused.set()

    threads = [threading.Thread(target=send_a, args=(body,)) for body in big]
    for thread in threads:
        thread.start()
    assert refused.wait(60), "project A was never refused: its requests did not overlap"
    b_sent = time.monotonic()
    b_status, b_body = post(two_projects.port, ob.request([ob.span(CHAT)]).SerializeToString(), KEY_B)
    for thread in threads:
        thread.join(120)
    assert b_status == 200, b_body
    assert ExportTraceServiceResponse.FromString(b_body).partial_success.rejected_spans == 0
    statuses = [status for status, _, _ in a_results]
    assert statuses.count(200) >= 2 and statuses.count(503) >= 1
    assert any(b"share" in answer for status, answer, _ in a_results if status == 503)
    # B got in while A's admitted requests were still being decoded or written.
    assert max(done for status, _, done in a_results if status == 200) > b_sent
