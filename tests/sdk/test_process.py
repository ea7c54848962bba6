"""Process lifecycle: spans are delivered at interpreter exit and from forked children."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .fake_server import FakeServer, fake_server


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with fake_server() as s:
        yield s


def _names(server: FakeServer) -> list[str]:
    names = []
    for r in server.delivered("/v1/traces"):
        req = ExportTraceServiceRequest()
        req.ParseFromString(r.body)
        names += [s.name for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    return sorted(names)


def _run(script: str, server: FakeServer, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "LLMTRACE_ENDPOINT": server.url, "LLMTRACE_EXPORT_INTERVAL_S": "60", **env}
    environ.pop("PYTEST_CURRENT_TEST", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_short_script_loses_nothing_at_exit(server: FakeServer) -> None:
    started = time.monotonic()
    result = _run(
        """
        import llmtrace
        llmtrace.instrument()
        for i in range(3):
            with llmtrace.span(f"exit-{i}"):
                pass
        """,
        server,
    )
    assert result.returncode == 0, result.stderr
    assert _names(server) == ["exit-0", "exit-1", "exit-2"]
    assert time.monotonic() - started < 20


def test_exit_flush_respects_its_deadline_when_server_is_down(server: FakeServer) -> None:
    server.default = (503, {"Retry-After": "30"})
    started = time.monotonic()
    result = _run(
        """
        import llmtrace
        llmtrace.instrument()
        with llmtrace.span("never-delivered"):
            pass
        """,
        server,
        LLMTRACE_EXIT_TIMEOUT_S="1",
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert _names(server) == []
    assert elapsed < 10  # interpreter start + 1 s deadline, not the 30 s Retry-After


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_delivers_its_spans(server: FakeServer) -> None:
    result = _run(
        """
        import os, sys
        import llmtrace
        llmtrace.instrument(service_name="forky")
        with llmtrace.span("parent-before"):
            pass
        pid = os.fork()
        if pid == 0:
            with llmtrace.span("child"):
                pass
            ok = llmtrace.flush(10)
            os._exit(0 if ok and llmtrace.stats().exported == 1 else 3)
        _, status = os.waitpid(pid, 0)
        with llmtrace.span("parent-after"):
            pass
        sys.exit(os.waitstatus_to_exitcode(status))
        """,
        server,
    )
    assert result.returncode == 0, result.stderr
    assert _names(server) == ["child", "parent-after", "parent-before"]


def test_exit_with_a_silent_endpoint_is_bounded_and_counts_agree_with_stats() -> None:
    """An endpoint that accepts connections and never answers (a firewall, a hung proxy): exit
    takes the documented LLMTRACE_EXIT_TIMEOUT_S (5 s), not the 10 s request timeout, and what is
    reported undelivered is exactly what ``llmtrace.stats()`` counts as failed."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("LLMTRACE_")}
        environ.pop("PYTEST_CURRENT_TEST", None)
        script = """
            import atexit, sys
            import llmtrace
            # Registered first, so it runs after llmtrace's exit flush.
            atexit.register(lambda: print("final", llmtrace.stats().failed, llmtrace.stats().dropped))
            llmtrace.instrument(endpoint=sys.argv[1])
            for i in range(700):
                with llmtrace.span(f"s{i}"):
                    pass
            print("started exit", flush=True)
            """
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script), url],
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    final = result.stdout.splitlines()[-1].split()
    assert final == ["final", "700", "0"], result.stdout
    # The batch being sent when exit began may give up on its own at the deadline (its own warning)
    # just before the exit flush counts the rest; then one more line gives the total. Either way the
    # last total printed is what stats() counts.
    totals = re.findall(
        r"in all, (\d+) spans and (\d+) scores were not delivered", result.stderr
    ) or re.findall(
        r"could not deliver (\d+) spans and (\d+) scores within the shutdown deadline of 5\.0s", result.stderr
    )
    assert totals and totals[-1] == ("700", "0"), result.stderr
    assert elapsed < 5.0 + 5.0  # the deadline plus interpreter start-up on a busy machine
