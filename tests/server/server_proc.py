"""Run ``llmtrace serve`` as a real uvicorn subprocess on its own embedded store (for server tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CLI = "from llmtrace.cli import main; raise SystemExit(main())"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``llmtrace serve --store chdb://<path>`` on 127.0.0.1:<port>; ``start()`` waits for /readyz."""

    def __init__(
        self, store_path: Path, port: int | None = None, *extra: str, env: dict[str, str] | None = None
    ) -> None:
        self.store_path = store_path
        self.env = env or {}
        self.port = port or free_port()
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = store_path.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-c",
            CLI,
            "serve",
            "--store",
            f"chdb://{self.store_path}",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            *self.extra,
        ]

    def start(self, timeout: float = 60) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLMTRACE_")} | self.env
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not become ready: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush — the crash case."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
