"""The analytics CLI against a real `llmtrace serve` (uvicorn) process with its own store."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.server_proc import ServerProcess

LLMTRACE = [sys.executable, "-m", "llmtrace.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    store = f"chdb://{tmp_path_factory.mktemp('cli') / 'data'}"
    env = {**os.environ, "LLMTRACE_EVALUATE_ALERTS": "0"}
    proc = subprocess.Popen(
        [*LLMTRACE, "serve", "--store", store, "--port", str(port), "--log-level", "warning"], env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _otlp_build() -> Any:
    """tests/server's OTLP request builder (a plain module there, put on the path when asked)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "server"))
    import otlp_build

    return otlp_build


def _send(url: str, spans: list[Any], scores: list[dict[str, Any]] | None = None) -> None:
    """POST ``spans`` as OTLP protobuf, then ``scores`` as JSON, to the server at ``url``."""
    bodies = [("/v1/traces", _otlp_build().request(spans).SerializeToString(), "application/x-protobuf")]
    if scores:
        bodies.append(("/api/v1/scores", json.dumps({"scores": scores}).encode(), "application/json"))
    for path, data, kind in bodies:
        request = urllib.request.Request(url + path, data=data, headers={"Content-Type": kind})
        urllib.request.urlopen(request, timeout=30).read()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LLMTRACE, *args], capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent
    )


def test_alerts_cli_round_trip(endpoint: str) -> None:
    created = _cli(
        "alerts",
        "rules",
        "create",
        "--name",
        "spike",
        "--type",
        "cost_spike",
        "--param",
        "ratio=3",
        "--filter",
        "service=chat",
        "--endpoint",
        endpoint,
        "--json",
    )
    assert created.returncode == 0, created.stderr
    rule = json.loads(created.stdout)
    assert rule["params"] == {"ratio": 3} and rule["filters"] == {"service": "chat"}
    listed = _cli("alerts", "rules", "list", "--endpoint", endpoint)
    assert rule["id"] in listed.stdout and "cost_spike" in listed.stdout
    check = _cli("alerts", "check", "--endpoint", endpoint)
    assert check.returncode == 0 and "evaluated 1 rules" in check.stdout
    assert _cli("alerts", "events", "--endpoint", endpoint, "--json").stdout.strip() == "[]"
    assert _cli("alerts", "rules", "delete", rule["id"], "--endpoint", endpoint).returncode == 0
    missing = _cli("alerts", "rules", "delete", rule["id"], "--endpoint", endpoint)
    assert missing.returncode == 1 and "404" in missing.stderr
    refused = _cli(
        "alerts",
        "rules",
        "create",
        "--name",
        "x",
        "--type",
        "cost_spike",
        "--filter",
        "bogus=1",
        "--endpoint",
        endpoint,
    )  # a 422's problems, one line each "where: what", not the API's list printed as Python
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "llmtrace: POST /api/v1/alerts/rules: HTTP 422: filters: unknown filters ['bogus'];"
        " use service, model, prompt, environment"
    )


def test_drift_and_compare_cli_on_empty_store(endpoint: str) -> None:
    drift = _cli("drift", "latency_ms", "--endpoint", endpoint)
    assert drift.returncode == 0, drift.stderr
    assert "insufficient_data" in drift.stdout
    report = _cli("drift", "--endpoint", endpoint)
    assert "verdict: insufficient_data" in report.stdout
    compare = _cli(
        "compare", "--dimension", "prompt_version", "-a", "v1", "-b", "v2", "--endpoint", endpoint, "--json"
    )
    assert compare.returncode == 0, compare.stderr
    assert json.loads(compare.stdout)["verdict"] == "inconclusive"
    interim = _cli(
        "compare",
        "--dimension",
        "prompt_version",
        "-a",
        "v1",
        "-b",
        "v2",
        "--interim",
        "--endpoint",
        endpoint,
    )
    assert interim.returncode == 0, interim.stderr
    assert "interim look" in interim.stdout and "verdict: inconclusive" in interim.stdout
    bad = _cli("compare", "--dimension", "model", "-a", "gpt-4o", "--endpoint", endpoint)
    assert bad.returncode == 1
    assert bad.stderr == "llmtrace: give both -a and -b: the two values of --dimension model to compare\n"
    half = _cli("compare", "--a-since", "3d", "--a-until", "2d", "--endpoint", endpoint)
    assert half.returncode == 1 and "--b-since" in half.stderr and "b_since" not in half.stderr
    nothing = _cli("compare", "--endpoint", endpoint)  # defaults to prompt versions; none stored
    assert nothing.returncode == 1 and "give --dimension with -a and -b" in nothing.stderr
    assert "Traceback" not in bad.stderr + half.stderr + nothing.stderr


def test_time_flags_take_iso_and_relative_times_and_say_so(endpoint: str) -> None:
    for when in ("yesterday", "24h", "7d", "2026-12-01", "2026-12-01T09:00Z"):
        ok = _cli(
            "drift",
            "input_tokens",
            "--reference-since",
            "30d",
            "--current-since",
            when,
            "--endpoint",
            endpoint,
        )
        assert ok.returncode == 0, (when, ok.stderr)
    bad = _cli("drift", "--current-since", "last tuesday", "--endpoint", endpoint)
    assert bad.returncode == 2
    assert "argument --current-since/" not in bad.stderr
    assert "argument --current-since: invalid time 'last tuesday': use an ISO time" in bad.stderr
    assert "24h, 7d" in _cli("drift", "--help").stdout


def test_cli_mistakes_get_one_line_not_a_traceback(endpoint: str) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Page(BaseHTTPRequestHandler):  # any other web server: 200 and a page
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<!doctype html><html><body>welcome</body></html>")

        def log_message(self, *args: object) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    Thread(target=other.serve_forever, daemon=True).start()
    try:
        cases = [
            (
                ("compare", "--since", "1000000d", "--endpoint", endpoint),
                2,
                "invalid time '1000000d': too far back",
            ),
            (
                ("compare", "--endpoint", "http://[::1"),
                1,
                "invalid --endpoint 'http://[::1': Invalid IPv6 URL",
            ),
            (
                ("alerts", "events", "--endpoint", endpoint + "/nowhere"),
                1,
                "HTTP 404: an HTML page (is --endpoint",
            ),
            (
                ("alerts", "events", "--endpoint", f"http://127.0.0.1:{other.server_port}"),
                1,
                "the reply is not JSON: an HTML page",
            ),
        ]
        for args, code, said in cases:
            out = _cli(*args)
            assert out.returncode == code, (args, out.stderr)
            assert said in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
    finally:
        other.shutdown()


def test_drift_cli_says_what_is_missing(endpoint: str) -> None:
    out = _cli("drift", "input_tokens", "--endpoint", endpoint).stdout
    assert out.startswith("input_tokens: insufficient_data  (n_ref=0, n_cur=0)\n")
    assert (
        "not enough data: the current window has 0 calls, needs 500; the reference window has 0 calls, needs 1000"
        in out
    )
    assert "None" not in out


def test_compare_defaults_to_the_busiest_prompts_two_latest_versions(tmp_path: Path) -> None:
    """Prompt summarize (busiest) has versions 1, 2, 3 introduced in that order; chat has 9 and 10."""
    ob = _otlp_build()
    hour_ns = 3_600_000_000_000
    now_ns = time.time_ns()
    spans = []
    for prompt, versions, per_version in (("summarize", ("1", "2", "3"), 30), ("chat", ("9", "10"), 10)):
        for age, version in enumerate(reversed(versions)):  # the last version is the newest
            for i in range(per_version):
                attrs = {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 100 + i,
                    "gen_ai.usage.output_tokens": 20,
                    "llmtrace.prompt.name": prompt,
                    "llmtrace.prompt.version": version,
                }
                spans.append(ob.span(attrs, start_ns=now_ns - (age * 24 + 1) * hour_ns - i * 1_000_000_000))
    server = ServerProcess(tmp_path / "data").start()
    try:
        _send(server.url, spans)
        out = _cli("compare", "--endpoint", server.url)
        by_prompt = _cli("compare", "--prompt", "chat", "--endpoint", server.url, "--json")
    finally:
        server.stop()
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("prompt summarize: version 2 -> 3 (its two most recent; -a/-b to choose)\n")
    assert "pass --interim" in out.stdout and "interim=true" not in out.stdout
    rows = {
        line.split()[0]: line for line in out.stdout.splitlines() if line.startswith(("error_rate", "input_"))
    }
    assert rows["error_rate"].rstrip().endswith("inconclusive  n >= 1000 each")  # not "~0 more"
    report = json.loads(by_prompt.stdout)  # --json prints only the JSON
    assert report["cohorts"]["a"]["value"] == "9" and report["cohorts"]["b"]["value"] == "10"
    assert report["filters"] == {"prompt": "chat"}


def test_metrics_cli_prints_the_windows_totals_per_group(tmp_path: Path) -> None:
    """Two hours of gpt-4o calls (100..600 ms) and one of gpt-4o-mini: per-model totals, the
    window's own p95, the buckets with --series, the JSON with --json."""
    ob = _otlp_build()
    hour_ns = 3_600_000_000_000
    start_ns = (time.time_ns() // hour_ns - 3) * hour_ns  # three whole hours ago
    spans = []
    for i in range(6):
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 10,
        }
        at = start_ns + (0 if i < 4 else hour_ns) + i * 1_000_000_000
        spans.append(ob.span(attrs, start_ns=at, duration_ms=100.0 * (i + 1), error=i == 1))
    mini = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 7,
    }
    spans.append(ob.span(mini, start_ns=start_ns + 5_000_000_000, duration_ms=50.0))
    server = ServerProcess(tmp_path / "data").start()
    try:
        _send(server.url, spans)
        window = ("--since", "4h", "--endpoint", server.url)
        for _ in range(100):  # acknowledged once spooled: wait until the calls are queryable
            counted = json.loads(_cli("metrics", *window, "--json").stdout)["series"][0]["totals"]["calls"]
            if counted == 7:
                break
            time.sleep(0.1)
        out = _cli("metrics", "--group-by", "model", *window)
        series = _cli("metrics", "--group-by", "model", "--series", *window)
        raw = json.loads(_cli("metrics", "--group-by", "model", "--json", *window).stdout)
        wrong = _cli("metrics", "--group-by", "user_id", *window)
    finally:
        server.stop()
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "whole 1h buckets" in lines[0]
    assert lines[1].split()[:4] == ["model", "calls", "errors", "error"]
    rows = {line.split()[0]: line.split() for line in lines[3:]}
    # model, calls, errors, error %, cost $, p50 ms, p95 ms, ...
    assert rows["gpt-4o"][1:4] == ["6", "1", "16.67"]
    assert 570 <= int(rows["gpt-4o"][6]) <= 600  # the window's p95, not the buckets' p95s averaged
    assert rows["gpt-4o-mini"][1:3] == ["1", "0"]
    bucket_rows = [line for line in series.stdout.splitlines() if line.startswith("gpt-4o ")]
    calls = [row.split()[2] for row in bucket_rows[1:]]  # after the totals row, one row per bucket
    assert calls[:3] == ["0", "4", "2"] and set(calls[3:]) == {"0"} and len(calls) == 5  # 4h in whole hours
    totals = {tuple(s["group"].values()): s["totals"] for s in raw["series"]}
    assert totals[("gpt-4o",)]["calls"] == 6 and totals[("gpt-4o-mini",)]["input_tokens"] == 7
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert wrong.stderr.strip() == (
        "llmtrace: GET /api/v1/metrics: HTTP 400: cannot group by 'user_id'; "
        "use service, model, provider, prompt, prompt_version, environment"
    )


def test_scores_cli_prints_quality_per_prompt_version(tmp_path: Path) -> None:
    """Version 1's 20 calls all scored 0.8, version 2's half 0.8 and half 0.2."""
    ob = _otlp_build()
    now_ns = time.time_ns()
    spans, scores = [], []
    for version in ("1", "2"):
        for i in range(20):
            attrs = {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "llmtrace.prompt.name": "summarize",
                "llmtrace.prompt.version": version,
            }
            span = ob.span(attrs, start_ns=now_ns - (i + 1) * 60_000_000_000)
            spans.append(span)
            value = 0.2 if version == "2" and i % 2 else 0.8
            scores.append(
                {
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "name": "quality",
                    "value": value,
                }
            )
    server = ServerProcess(tmp_path / "data").start()
    try:
        _send(server.url, spans, scores)
        args = ("quality", "--group-by", "prompt_version", "--since", "2d", "--endpoint", server.url)
        for _ in range(100):  # acknowledged once spooled: wait until every score counts
            raw = json.loads(_cli("scores", *args, "--json").stdout)
            if sum(s["totals"]["count"] for s in raw["series"]) == 40:
                break
            time.sleep(0.1)
        out = _cli("scores", *args)
        wrong = _cli("scores", "--group-by", "user_id", "--endpoint", server.url)
    finally:
        server.stop()
    assert out.returncode == 0, out.stderr
    rows = {line.split()[1]: line.split() for line in out.stdout.splitlines() if line.startswith("quality ")}
    assert rows["1"][2:5] == ["20", "0.8", "1"]  # n, mean, pass rate
    assert rows["2"][2:5] == ["20", "0.5", "0.5"]
    totals = {s["group"]["prompt_version"]: s["totals"] for s in raw["series"]}
    lo, hi = totals["2"]["pass_rate_ci_95"]
    assert " ".join(rows["2"][5:]) == f"[{lo:.3f}, {hi:.3f}]" and lo < 0.5 < hi
    assert wrong.returncode == 2  # argparse's: the flag and what it takes
    assert wrong.stderr.strip().endswith(
        "argument --group-by: cannot group by 'user_id'; use prompt_version, model, service"
    )


def test_traces_cli_lists_searches_pages_and_shows_a_tree(tmp_path: Path) -> None:
    ob = _otlp_build()
    now_ns = time.time_ns()
    root = ob.span({"llmtrace.span.kind": "agent"}, name="answer_ticket", start_ns=now_ns - 5_000_000_000)
    trace_id = root.trace_id.hex()
    messages = '[{"role": "user", "parts": [{"type": "text", "content": "where is my refund?"}]}]'
    call = ob.span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 30,
            "gen_ai.input.messages": messages,
            "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "tool_call", "name": "lookup", "arguments": {"id": 7}}]}]',
        },
        trace_id=trace_id,
        parent_span_id=root.span_id.hex(),
        start_ns=now_ns - 4_900_000_000,
    )
    other = ob.span(
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"},
        start_ns=now_ns - 1_000_000_000,
        error=True,
    )
    server = ServerProcess(tmp_path / "data").start()
    try:
        _send(server.url, [root, call, other])
        at = ("--endpoint", server.url)
        for _ in range(100):  # acknowledged once spooled: wait until both traces are listed
            if len(json.loads(_cli("traces", "--json", *at).stdout)["data"]) == 2:
                break
            time.sleep(0.1)
        first = _cli("traces", "--limit", "1", *at)
        cursor = first.stdout.split("more: --cursor ")[1].strip()
        second = _cli("traces", "--limit", "1", "--cursor", cursor, *at)
        found = _cli("traces", "-q", "refund", *at)
        errors = _cli("traces", "--status", "error", *at)
        tree = _cli("traces", trace_id, "--content", *at)
        failed = _cli("traces", other.trace_id.hex(), *at)
        missing = _cli("traces", "0" * 32, *at)
        not_an_id = _cli("traces", "../alerts/rules", *at)
    finally:
        server.stop()
    assert first.returncode == 0, first.stderr
    assert other.trace_id.hex() in first.stdout and trace_id not in first.stdout  # newest first
    assert trace_id in second.stdout and "more:" not in second.stdout
    assert trace_id in found.stdout and other.trace_id.hex() not in found.stdout
    assert other.trace_id.hex() in errors.stdout and trace_id not in errors.stdout
    lines = tree.stdout.splitlines()
    assert lines[0] == f"trace {trace_id}: 2 spans"
    assert lines[1].startswith("answer_ticket  [agent, 250 ms, ok")
    child = next(line for line in lines if line.startswith("└─ "))
    assert child.startswith("└─ chat gpt-4o-mini  [llm, 250 ms, ok, gpt-4o-mini, 120->30 tokens, $")
    assert "     input: user: where is my refund?" in lines
    assert '     output: assistant: lookup({"id": 7})' in lines
    # An errored span: its error type (the server's "_OTHER" when the span names none) and message.
    assert failed.stdout.splitlines()[1] == "chat gpt-4o-mini  [llm, 250 ms, error, _OTHER, gpt-4o]"
    assert missing.returncode == 1 and f"trace {'0' * 32} not found" in missing.stderr
    assert (
        not_an_id.returncode == 2
        and "'../alerts/rules' is not a trace id (32 hex digits)" in not_an_id.stderr
    )
