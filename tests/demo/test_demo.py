"""`llmtrace demo --no-serve` end to end, in a subprocess with no way out but 127.0.0.1."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from llmtrace import integrations

DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: any non-loopback HTTP attempt fails loudly
ROOT = Path(__file__).resolve().parents[2]


def _absent_from_the_demo_extra() -> list[str]:
    """The SDK packages ``pip install "llmtrace[demo]"`` does not install and the dev install
    does: the demo runs as if they were missing, as on a newcomer's machine. ``google`` itself
    stays (protobuf, which the server extra installs, lives in it): ``google.genai`` goes."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (demo,) = pyproject["project"]["optional-dependencies"]["demo"]
    extras = Requirement(demo).extras
    return sorted(
        "google.genai" if i.sdk_module == "google.genai" else i.sdk_module.split(".")[0]
        for i in integrations.INTEGRATIONS
        if i.extra not in extras
    )


def _demo(args: list[str], env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """``llmtrace demo --no-serve ARGS`` in a subprocess, without the SDKs the demo extra leaves out
    (an import of a name that is None in ``sys.modules`` fails as one of a missing package)."""
    absent = _absent_from_the_demo_extra()
    command = [
        sys.executable,
        "-c",
        f"import sys; sys.modules.update(dict.fromkeys({absent!r})); from llmtrace.cli import main; sys.exit(main())",
    ]
    return subprocess.run(
        [*command, "demo", "--no-serve", *args], capture_output=True, text=True, timeout=timeout_s, env=env
    )


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    env = {
        **os.environ,
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "ALL_PROXY": DEAD_PROXY,
        "NO_PROXY": "127.0.0.1,localhost",
        "PIP_NO_INDEX": "1",  # nothing may be installed
        "HOME": str(tmp_path_factory.mktemp("home")),  # no ~/.llmtrace of the developer
    }
    for name in ("LLMTRACE_STORE", "LLMTRACE_ENDPOINT", "LLMTRACE_API_KEYS"):
        env.pop(name, None)
    site = Path(sys.prefix) / "lib"
    before = sorted(p.name for p in site.glob("python*/site-packages/*"))
    completed = _demo([], env, timeout_s=180)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert sorted(p.name for p in site.glob("python*/site-packages/*")) == before
    return completed.stdout


def test_demo_prints_progress_before_its_slow_start(demo_output: str) -> None:
    """The first line comes before the provider SDK imports and the server's start-up, and every
    step carries the time since the start."""
    lines = demo_output.splitlines()
    assert lines[0].startswith("[  0.0s] llmtrace demo: takes about 40-80 s on 2 cores")
    assert re.match(r"\[ *\d+\.\ds\] starting the server on http://127\.0\.0\.1:", lines[1])
    assert re.match(r"\[ *\d+\.\ds\] server ready$", lines[2])


def test_demo_delivers_every_span(demo_output: str) -> None:
    assert "spans and scores delivered to the server: all" in demo_output
    assert "not available" not in demo_output
    live = re.search(r"live traffic: (\d+) calls", demo_output)
    assert live and int(live.group(1)) > 500


def test_demo_reports_on_every_call_it_made(demo_output: str) -> None:
    """The reports wait for the last acknowledged spans to be queryable, not only delivered: a busy
    server spools them first, and a report asked for at once missed the week's last hours."""
    stored = re.search(
        r"calls queryable: (\d+) of (\d+)(?: \(waited [\d.]+ s\))?$", demo_output, re.MULTILINE
    )
    assert stored and stored.group(1) == stored.group(2), demo_output[:3000]
    live = re.search(r"live traffic: (\d+) calls", demo_output)
    backfilled = re.search(r"\]\s+(\d+) calls \(summarize", demo_output)
    assert live and backfilled and int(stored.group(2)) == int(live.group(1)) + int(backfilled.group(1))
    metrics = demo_output.split("== Metrics")[1].split("\n==")[0]
    rows = re.findall(r"^\S+\s+\w+\s+\d+\s+([\d,]+)\s", metrics, re.MULTILINE)
    assert sum(int(calls.replace(",", "")) for calls in rows) == int(stored.group(2))  # the whole week


def test_demo_metrics_show_both_prompt_versions(demo_output: str) -> None:
    rows = [
        line for line in demo_output.splitlines() if line.startswith("gpt-4o-mini") and "summarize" in line
    ]
    assert len(rows) == 2
    cost_per_call = [float(line.split("$")[-1]) for line in rows]
    assert cost_per_call[1] > 1.5 * cost_per_call[0]  # v2 costs about twice as much per call


def test_demo_finds_the_planted_drift(demo_output: str) -> None:
    assert re.search(r"prompt=chat\s+input_tokens\s.*\bdrift$", demo_output, re.MULTILINE)


def test_demo_drift_reads_as_one_change_without_a_ttft_artefact(demo_output: str) -> None:
    """Chat inputs got longer; output, cost and latency follow. TTFT does not depend on input and
    is measured alike for backfilled and live calls, so it must not drift (issue 18, item 4)."""
    (chat,) = re.findall(r"^  prompt=chat: (.*)$", demo_output, re.MULTILINE)
    assert chat.startswith("input_tokens drifted (JS ")
    assert "separately" not in chat, chat  # one change, its consequences moving with it
    assert {"output_tokens", "cost_usd", "output_chars"} <= set(re.findall(r"(\w+) \(rho", chat))
    assert not re.search(r"^prompt=chat\s+ttft_ms\s", demo_output, re.MULTILINE)
    (steady,) = re.findall(r"^  no_drift  prompt=chat: (.*)$", demo_output, re.MULTILINE)
    assert "ttft_ms" in steady.split(", ")


def test_demo_regression_verdict_for_v2(demo_output: str) -> None:
    assert "prompt_version 1" in demo_output
    assert "overall verdict: REGRESSED" in demo_output
    assert re.search(r"^cost_per_call_usd\s.*\bregressed$", demo_output, re.MULTILINE)
    assert re.search(r"^score:quality\s.*\bregressed$", demo_output, re.MULTILINE)


def test_demo_fires_the_cost_alert_once_for_the_research_agent(demo_output: str) -> None:
    firing = [line for line in demo_output.splitlines() if line.startswith("[FIRING]")]
    assert len(firing) == 1, firing
    assert "model=claude-opus-4-1" in firing[0] and "prompt=research" in firing[0]
    assert "webhook received: [FIRING]" in demo_output


def test_a_server_that_cannot_start_is_explained_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """The reason comes from the server's log, quoted in the error: the log's directory is removed."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    # The discard port: no ClickHouse answers there.
    completed = _demo(
        ["--store", "http://127.0.0.1:9/db"], {**os.environ, "TMPDIR": str(scratch)}, timeout_s=120
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "the llmtrace server exited with code 1" in completed.stderr
    assert "cannot reach ClickHouse at http://127.0.0.1:9/db" in completed.stderr
    assert list(scratch.iterdir()) == []
