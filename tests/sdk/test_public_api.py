"""The public surface: pinned __all__, import cost, and coexistence with an existing OTel setup."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import llmtrace


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_all_is_pinned_and_sorted() -> None:
    assert llmtrace.__all__ == [
        "Stats",
        "context",
        "flush",
        "instrument",
        "redact",
        "score",
        "shutdown",
        "span",
        "stats",
        "trace",
        "uninstrument",
        "wrap_context",
    ]
    assert llmtrace.__all__ == sorted(llmtrace.__all__)
    for name in llmtrace.__all__:
        assert getattr(llmtrace, name) is not None
    assert callable(llmtrace.redact.pii)


def test_import_is_light_and_starts_nothing() -> None:
    result = run_python(
        """
        import json, sys, threading, time
        t = time.perf_counter()
        import llmtrace
        elapsed = time.perf_counter() - t
        print(json.dumps({"modules": sorted(sys.modules), "threads": threading.active_count(), "s": elapsed}))
        """
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    heavy = {
        "openai",
        "anthropic",
        "chdb",
        "clickhouse_connect",
        "fastapi",
        "uvicorn",
        "httpx",
        "genai_prices",
        "requests",
        "pydantic",
        "langchain_core",
        "langgraph",
        "litellm",
        "agents",
        "mistralai",
        "botocore",
        "boto3",
    }
    loaded = {m.split(".")[0] for m in report["modules"]}
    assert loaded & heavy == set()
    assert "google.genai" not in report["modules"]
    assert report["threads"] == 1
    assert report["s"] < 1.0


def test_existing_sdk_provider_gets_our_processor_and_keeps_its_own() -> None:
    result = run_python(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import llmtrace

        theirs, ours = InMemorySpanExporter(), InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(theirs))
        trace.set_tracer_provider(provider)

        llmtrace.instrument(exporter=ours, project="p")
        llmtrace.instrument(exporter=ours, project="p")   # twice is harmless

        with llmtrace.context(user_id="u"):
            with trace.get_tracer("app").start_as_current_span("app-span"):
                with llmtrace.span("ours"):
                    pass
        assert llmtrace.flush(5)
        assert trace.get_tracer_provider() is provider
        assert sorted(s.name for s in theirs.get_finished_spans()) == ["app-span", "ours"]
        got = {s.name: s for s in ours.get_finished_spans()}
        assert sorted(got) == ["app-span", "ours"], sorted(got)
        assert got["app-span"].attributes["user.id"] == "u"
        assert got["ours"].parent.span_id == got["app-span"].context.span_id
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_instrument_twice_yields_one_span_per_call(capture_spans) -> None:
    exporter = capture_spans.exporter
    llmtrace.instrument(exporter=exporter, service_name="test")
    with llmtrace.span("one"):
        pass
    assert capture_spans.names() == ["one"]
