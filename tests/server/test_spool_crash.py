"""A real server killed (SIGKILL) after answering requests whose spans were only spooled: the
next start writes them, each once."""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path
from typing import Any

import otlp_build as ob
from server_proc import ServerProcess
from test_uvicorn import get_json

SPANS_PER_BODY = 200


def post(port: int, body: bytes) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def llm_calls(url: str) -> Any:
    return sum(p["calls"] for p in get_json(f"{url}/api/v1/metrics?interval=1d")["series"][0]["points"])


def test_spans_acknowledged_from_the_spool_survive_a_kill_9_exactly_once(tmp_path: Path) -> None:
    # The longest spool delay, one request decoding at a time: later requests are answered from
    # the spool while the first one's block is open, and stay unwritten for seconds.
    env = {"LLMTRACE_INGEST_SPOOL_DELAY_SECONDS": "4", "LLMTRACE_INGEST_CONCURRENCY": "1"}
    proc = ServerProcess(tmp_path / "data", None, env=env).start()
    spool = tmp_path / "data-ingest-spool" / "llmtrace"
    try:
        bodies = [
            ob.request(
                [ob.span({"gen_ai.request.model": "m"}) for _ in range(SPANS_PER_BODY)]
            ).SerializeToString()
            for _ in range(8)
        ]
        statuses: list[int] = []
        lock = threading.Lock()

        def send(body: bytes) -> None:
            status = post(proc.port, body)
            with lock:
                statuses.append(status)

        threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert statuses == [200] * 8  # every span acknowledged ...
        left = list(spool.glob("*.arrows"))
        proc.kill()  # ... and some of them only spooled when the server dies
        assert left, "no request was answered from the spool: the test did not test it"
        proc.start()
        assert llm_calls(proc.url) == 8 * SPANS_PER_BODY  # written at start, before /readyz
        assert list(spool.glob("*.arrows")) == []
        time.sleep(1)
        assert llm_calls(proc.url) == 8 * SPANS_PER_BODY  # and none twice
    finally:
        proc.stop()
