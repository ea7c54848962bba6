"""``/readyz`` turns 503 when the store stops answering, while ``/healthz`` (liveness) stays 200.

The store is made unavailable by closing the running app's chDB connection, which ends chDB's
session for the whole process, so this runs in a subprocess of its own (the test process keeps
its shared chDB session for every other test).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import json, sys
from fastapi.testclient import TestClient
from llmtrace_server.app import create_app
from llmtrace_server.settings import Settings

with TestClient(create_app(Settings(store=sys.argv[1], database="readiness"))) as client:
    before = client.get("/readyz")
    client.app.state.store.client.close()  # the store goes away under the running server
    after, alive = client.get("/readyz"), client.get("/healthz")
print(json.dumps({
    "before": [before.status_code, before.json()],
    "after": [after.status_code, after.json()],
    "alive": [alive.status_code, alive.json()],
}))
"""


def test_readyz_is_503_with_the_reason_when_the_store_is_gone(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, f"chdb://{tmp_path / 'data'}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] == [200, {"status": "ok"}]
    status, body = result["after"]
    assert status == 503 and body["status"].startswith("store unavailable: ")
    assert result["alive"] == [200, {"status": "ok"}]
