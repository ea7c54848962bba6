"""`llmtrace serve` on a port in use fails at once, before it creates or migrates a store."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from server_proc import CLI


def test_a_busy_port_fails_before_the_store_is_created(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        store = tmp_path / "never-created"
        done = subprocess.run(
            [sys.executable, "-c", CLI, "serve", "--store", f"chdb://{store}", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr.startswith(f"llmtrace serve: cannot listen on 127.0.0.1:{port}: ")
    assert "choose another --port" in done.stderr and "Traceback" not in done.stderr
    assert not store.exists()
