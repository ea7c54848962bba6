"""Every ```python block in README.md and docs/*.md runs as written.

The convention, for anyone adding docs:

* A ```python block is a complete program: imports, definitions, and a call that does something.
  Each block runs on its own, as ``python example.py`` in a fresh subprocess and an empty working
  directory; blocks do not share state. Use ```bash / ```console for shell commands and ```text
  for output, so they are not executed.
* A block whose first line is a comment naming a test file (``# test_bot.py ...``) is run with
  ``python -m pytest`` instead.
* The environment is a user's after following the quickstart: ``llmtrace serve`` is running
  (``LLMTRACE_ENDPOINT`` points at it, a real server on a fresh embedded store), and the
  ``openai``/``anthropic`` clients reach the demo's fake provider through their usual variables
  (``OPENAI_BASE_URL``/``OPENAI_API_KEY``, ``ANTHROPIC_BASE_URL``/``ANTHROPIC_API_KEY``), so
  ``openai.OpenAI()`` works unchanged. Nothing else is reachable.
* A block must exit with status 0 within ``EXAMPLE_TIMEOUT_S``, and print no traceback.

The README's instrumentation example is also checked end to end: its score must come out under
the prompt version of the LLM call it scored (issue 18, item 1).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmtrace.demo.fake_provider import FakeProvider
from tests.server.server_proc import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLE_TIMEOUT_S = 60
_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_PYTEST_FILE = re.compile(r"^#\s*(test_\w+\.py)\b")


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """(line number, source) of every ```python block of ``path``."""
    text = path.read_text()
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _FENCE.finditer(text)]


EXAMPLES = [
    pytest.param(path, code, id=f"{path.relative_to(ROOT)}:{line}")
    for path in DOC_FILES
    for line, code in python_blocks(path)
]


@pytest.fixture(scope="module")
def fake_provider() -> Iterator[FakeProvider]:
    with FakeProvider(seed=18, latency_scale=0.0, error_rate=0.0) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("docs-server") / "data").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def example_env(fake_provider: FakeProvider, server: ServerProcess) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRACE_", "OPENAI_", "ANTHROPIC_"))}
    return env | {
        "LLMTRACE_ENDPOINT": server.url,
        "OPENAI_BASE_URL": fake_provider.openai_base_url,
        "OPENAI_API_KEY": "sk-docs-example",
        "ANTHROPIC_BASE_URL": fake_provider.anthropic_base_url,
        "ANTHROPIC_API_KEY": "sk-ant-docs-example",
        "PYTHONPATH": str(ROOT),
    }


def run_example(code: str, env: dict[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    match = _PYTEST_FILE.match(code)
    script = workdir / (match.group(1) if match else "example.py")
    script.write_text(code)
    command = (
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", script.name]
        if match
        else [
            sys.executable,
            script.name,
        ]
    )
    return subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=EXAMPLE_TIMEOUT_S
    )


def test_the_docs_have_python_examples() -> None:
    names = {p.name for p in DOC_FILES}
    assert {"README.md", "quickstart.md", "configuration.md"} <= names
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize(("path", "code"), EXAMPLES)
def test_python_example_runs_as_written(
    path: Path, code: str, example_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_example(code, example_env, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{path.name} example failed:\n{code}\n--- output ---\n{output}"
    assert "Traceback" not in output, output


def test_readme_score_counts_for_the_scored_calls_prompt_version(
    example_env: dict[str, str], tmp_path: Path
) -> None:
    """The README's pattern: a score sent inside ``@llmtrace.trace`` after an LLM call made under
    ``llmtrace.context(prompt=..., prompt_version="7")`` counts for prompt version 7."""
    code = next(c for _, c in python_blocks(ROOT / "README.md") if "llmtrace.score(" in c)
    server = ServerProcess(tmp_path / "data").start()  # its own store: only this example's data
    try:
        result = run_example(code, example_env | {"LLMTRACE_ENDPOINT": server.url}, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        url = f"{server.url}/api/v1/scores/trends?name=helpfulness&group_by=prompt_version&interval=1d"
        body: dict[str, Any] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not body.get("series"):
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
            time.sleep(0.1)
    finally:
        server.stop()
    series = body["series"]
    assert [(s["name"], s["group"]) for s in series] == [("helpfulness", {"prompt_version": "7"})]
    assert series[0]["points"][0]["count"] == 1
    assert series[0]["points"][0]["mean"] == pytest.approx(0.8)
