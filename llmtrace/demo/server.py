"""Run ``llmtrace serve`` as a child process for the demo, and wait until it is ready.

A child process rather than a thread: the server gets a core of its own (ingest and analytics
run in ClickHouse, but the HTTP and OTLP decoding are Python), and the demo process never opens
the embedded store itself, so nothing competes for chDB's one-process-per-path lock.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

_LAUNCH = "import sys; from llmtrace.cli import main; sys.exit(main())"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``llmtrace serve --store DSN --port PORT`` on 127.0.0.1; ``stop()`` ends it gracefully."""

    def __init__(self, store: str, port: int, log_path: Path) -> None:
        self.store = store
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> ServerProcess:
        return self.launch().wait_ready(timeout_s)

    def launch(self) -> ServerProcess:
        """Start the process and return at once (the caller can work while it boots)."""
        command = [sys.executable, "-c", _LAUNCH, "serve", "--store", self.store, "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--log-level", "warning"]
        # The demo's webhook receiver (llmtrace.demo.webhook) listens on loopback, which the
        # server refuses by default: allowed here explicitly, as an operator would.
        command += ["--allow-webhook-host", "127.0.0.1"]
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        log.close()
        return self

    def wait_ready(self, timeout_s: float = 60.0) -> ServerProcess:
        """Wait until ``/readyz`` answers 200; RuntimeError when the process exits or time runs out."""
        assert self._process is not None, "launch() first"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"the llmtrace server exited with code {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"the llmtrace server did not become ready in {timeout_s:.0f} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's output, for an error message: the log file may not outlive it."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no server log: {exc})"
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def wait(self) -> int:
        assert self._process is not None
        return self._process.wait()

    def stop(self, timeout_s: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()  # SIGTERM: uvicorn shuts down gracefully and the store closes
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
