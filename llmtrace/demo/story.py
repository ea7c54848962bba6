"""Tell the demo's story against a running llmtrace server, then show what llmtrace found.

:func:`tell` makes the traffic (a backfilled week, then live calls through the real SDK clients,
instrumented with ``llmtrace.instrument``); :func:`show` asks the server's HTTP API for the
metrics, the drift report, the v1 -> v2 regression report and the cost alert, and prints them.
The scenario itself is described in :mod:`llmtrace.demo.scenario`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import llmtrace
from llmtrace.demo import backfill, report, scenario, service
from llmtrace.demo.api import Api, ApiError
from llmtrace.demo.fake_provider import FakeProvider
from llmtrace.demo.webhook import WebhookInbox

ALERT_RULE = {"name": "LLM spend spike", "type": "cost_spike"}
STORE_WAIT_S = 60.0  # for the last spans acknowledged to become queryable


@dataclass(slots=True)
class Told:
    backfilled: backfill.Backfill
    live: service.LiveResult
    seconds: float


class Progress:
    """Step lines, with an in-place counter on terminals (plain lines elsewhere)."""

    def __init__(self, out: TextIO, started: float | None = None) -> None:
        self.out = out
        self.tty = out.isatty()
        self.started = time.monotonic() if started is None else started
        self._last = 0.0

    def step(self, text: str) -> None:
        self.out.write(f"[{time.monotonic() - self.started:5.1f}s] {text}\n")
        self.out.flush()

    def counter(self, label: str) -> Any:
        def update(done: int, total: int) -> None:
            now = time.monotonic()
            if done != total and now - self._last < (0.2 if self.tty else 5.0):
                return
            self._last = now
            text = f"        {label}: {done}/{total}"
            if self.tty:
                self.out.write("\r" + text + ("\n" if done == total else ""))
            else:
                self.out.write(text + "\n")
            self.out.flush()

        return update


def tell(
    server_url: str,
    *,
    seed: int = 7,
    latency_scale: float = 0.1,
    error_rate: float = 0.02,
    out: TextIO = sys.stdout,
    started: float | None = None,
) -> Told:
    """Send a week of history and a burst of live traffic to the server at ``server_url``.

    ``started`` (a ``time.monotonic()`` value) is where the progress lines' clock starts.
    """
    progress = Progress(out, started)
    started = progress.started
    with FakeProvider(seed=seed, latency_scale=latency_scale, error_rate=error_rate) as fake:
        progress.step(
            f"fake OpenAI/Anthropic provider on {fake.url} (answers {1 / max(latency_scale, 1e-9):.0f}x faster than a real one)"
        )
        llmtrace.instrument(
            endpoint=server_url,
            service_name=scenario.SERVICE,
            environment=scenario.ENVIRONMENT,
            queue_size=100_000,  # the backfilled scores arrive in one burst
        )
        now_ns = time.time_ns()
        # Live calls first: their wall-clock overhead (HTTP, SDK, threads on this machine) is
        # added to the history's planned times, so backfilled and live latencies are one measure.
        total = sum(w.live_calls for w in scenario.WORKLOADS)
        progress.step(
            f"live traffic: {total} calls through the real openai and anthropic clients (instrumented)"
        )
        svc = service.Service(fake.openai_base_url, fake.anthropic_base_url)
        try:
            live = service.run(
                svc, seed=seed + 1, progress=progress.counter("calls"), planned=_planned_times(fake)
            )
        finally:
            svc.close()
        errors = ", ".join(f"{n} {k}" for k, n in live.errors.items()) or "none"
        progress.step(f"  done; provider errors seen by the service: {errors}")
        progress.step(
            f"backfilling {scenario.HISTORY_HOURS} hours of history as OTLP spans with past timestamps"
        )
        history = backfill.run(
            fake,
            server_url,
            now_ns=now_ns,
            seed=seed,
            progress=progress.counter("hours"),
            overheads=live.overheads,
        )
        progress.step(
            f"  {sum(history.calls.values())} calls ({', '.join(f'{k} {v}' for k, v in history.calls.items())}), "
            f"{history.errors} provider errors"
        )
        for trace_id, span_id, value, label in history.scores:
            llmtrace.score(
                "quality", value, trace_id=trace_id, span_id=span_id, label=label, source="llm_judge"
            )
        progress.step(f"  {len(history.scores)} LLM-judge scores attached with llmtrace.score")
        delivered = llmtrace.flush(timeout_s=60.0)
        progress.step(
            f"spans and scores delivered to the server: {'all' if delivered else 'NOT all (see llmtrace.stats())'}"
        )
        llmtrace.shutdown()
    sent = sum(live.calls.values()) + sum(history.calls.values())
    since = datetime.fromtimestamp(now_ns / 1e9, UTC) - timedelta(hours=scenario.HISTORY_HOURS + 1)
    waited = time.monotonic()
    stored = wait_stored(Api(server_url), sent, since)
    took_s = time.monotonic() - waited
    late = f" (waited {took_s:.1f} s)" if took_s >= 0.1 else ""
    progress.step(
        f"calls queryable: {stored} of {sent}" + (late if stored == sent else f" after {took_s:.0f} s")
    )
    return Told(history, live, time.monotonic() - started)


def wait_stored(api: Api, expected: int, since: datetime, timeout_s: float = STORE_WAIT_S) -> int:
    """Wait until the server answers for ``expected`` calls since ``since``; returns how many it has.

    A busy server acknowledges spans once they are spooled and inserts them within a second or
    so (:mod:`llmtrace_server.spool`): delivered is not yet queryable, and a report asked for
    at once would see the week without its last hours (a drift report of ``insufficient_data``,
    or of live calls against part of the backfill).
    """
    deadline = time.monotonic() + timeout_s
    params = {
        "interval": "1d",
        "since": since.isoformat(),
        "until": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    }
    stored = 0
    while True:
        try:
            series = api.get("/api/v1/metrics", params).get("series", [])
        except ApiError:
            series = []
        stored = sum(point["calls"] for line in series for point in line["points"])
        if stored >= expected or time.monotonic() >= deadline:
            return stored
        time.sleep(0.2)


def _planned_times(fake: FakeProvider) -> service.Planned:
    """The provider's planned (TTFT, latency) in ms for a live request; None when it fails."""

    def planned(workload: scenario.Workload, body: dict[str, Any]) -> tuple[float, float] | None:
        outcome = fake.outcome(workload.path, body)
        return None if outcome.error_status is not None else (outcome.ttft_ms, outcome.latency_ms)

    return planned


def show(server_url: str, out: TextIO = sys.stdout) -> dict[str, Any]:
    """Print what the server found; returns the raw responses (for tests and scripts)."""
    api = Api(server_url)
    now = datetime.now(UTC)
    found: dict[str, Any] = {}

    def section(title: str) -> None:
        out.write(f"\n== {title} ==\n")

    def emit(lines: list[str]) -> None:
        out.write("\n".join(lines) + "\n")
        out.flush()

    section("Metrics, last 7 days, per model and prompt version  (GET /api/v1/metrics)")
    found["metrics"] = _try(
        out,
        lambda: api.get(
            "/api/v1/metrics",
            {
                "interval": "1d",
                "since": (now - timedelta(days=7)).isoformat(),
                "until": now.isoformat(),
                "group_by": "model,prompt,prompt_version",
            },
        ),
    )
    if found["metrics"] is not None:
        emit(report.metrics_table(found["metrics"]))

    section("Drift, last 24 h vs the 7 days before, top prompts  (GET /api/v1/drift/report)")
    found["drift"] = _try(out, lambda: api.get("/api/v1/drift/report", {"segment_by": "prompt", "top": 4}))
    if found["drift"] is not None:
        emit(report.drift_report(found["drift"]))

    section("Regression: prompt summarize v1 -> v2  (GET /api/v1/regressions)")
    found["regressions"] = _try(
        out,
        lambda: api.get(
            "/api/v1/regressions",
            {"dimension": "prompt_version", "a": "1", "b": "2", "prompt": scenario.SUMMARIZE},
        ),
    )
    if found["regressions"] is not None:
        emit(report.regression_report(found["regressions"]))

    section(
        "Cost alert  (POST /api/v1/alerts/rules, POST /api/v1/alerts/evaluate, GET /api/v1/alerts/events)"
    )
    found["alerts"] = _alerts(api, out, emit)
    return found


def _alerts(api: Api, out: TextIO, emit: Any) -> list[Any] | None:
    inbox = WebhookInbox()
    try:
        rule = _try(out, lambda: api.post("/api/v1/alerts/rules", {**ALERT_RULE, "webhook_url": inbox.url}))
        if rule is None:
            return None
        out.write(f"rule {rule.get('name')!r} (type cost_spike, every parameter at its default)\n")
        # The default rule fires after 2 consecutive breaching evaluations (flapping control):
        # the server runs them on a schedule; the demo runs two now.
        for n in (1, 2):
            result = _try(out, lambda: api.post("/api/v1/alerts/evaluate"))
            if result is None:
                return None
            out.write(f"evaluation {n}: {_evaluation_summary(result)}\n")
        events = _try(out, lambda: api.get("/api/v1/alerts/events"))
        if events is None:
            return None
        items = events.get("data", events) if isinstance(events, dict) else events
        emit(report.alert_events(items))
        received = inbox.wait(1, timeout_s=5.0) if any(e.get("state") == "firing" for e in items) else []
        for payload in received[:1]:
            text = payload.get("text") if isinstance(payload, dict) else payload
            out.write(f"webhook received: {text}\n")
        return list(items)
    finally:
        inbox.close()


def _evaluation_summary(result: Any) -> str:
    if isinstance(result, dict):
        parts = [f"{k}={v}" for k, v in result.items() if isinstance(v, int | float | str)]
        return ", ".join(parts) or "done"
    return str(result)[:200]


def _try(out: TextIO, call: Any) -> Any:
    try:
        return call()
    except ApiError as exc:
        out.write(f"(not available: {exc})\n")
        return None
