"""llmtrace.context: merged values on every span, across awaits, asyncio tasks and threads."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import trace as trace_api

import llmtrace
from llmtrace._internal import semconv as sc
from llmtrace.testing import CapturedSpans


def _context_attributes(span) -> dict[str, object]:
    keep = (sc.USER_ID, sc.SESSION_ID, sc.LLMTRACE_PROMPT_NAME, sc.LLMTRACE_PROMPT_VERSION, sc.LLMTRACE_TAGS)
    return {
        k: v for k, v in span.attributes.items() if k in keep or k.startswith(sc.LLMTRACE_METADATA_PREFIX)
    }


def test_nested_contexts_merge_and_restore(capture_spans: CapturedSpans) -> None:
    with llmtrace.context(
        user_id="u1",
        session_id="s1",
        prompt="summarize",
        prompt_version=7,
        tags=["beta"],
        metadata={"tenant": "acme", "tier": 1},
    ):
        with (
            llmtrace.context(user_id="u2", tags=["beta", "eu"], metadata={"tier": 2, "flag": True}),
            llmtrace.span("inner"),
        ):
            pass
        with llmtrace.span("outer"):
            pass
    with llmtrace.span("outside"):
        pass
    spans = {s.name: s for s in capture_spans.spans()}
    assert _context_attributes(spans["inner"]) == {
        sc.USER_ID: "u2",
        sc.SESSION_ID: "s1",
        sc.LLMTRACE_PROMPT_NAME: "summarize",
        sc.LLMTRACE_PROMPT_VERSION: "7",
        sc.LLMTRACE_TAGS: ("beta", "eu"),
        "llmtrace.metadata.tenant": "acme",
        "llmtrace.metadata.tier": 2,
        "llmtrace.metadata.flag": True,
    }
    assert _context_attributes(spans["outer"]) == {
        sc.USER_ID: "u1",
        sc.SESSION_ID: "s1",
        sc.LLMTRACE_PROMPT_NAME: "summarize",
        sc.LLMTRACE_PROMPT_VERSION: "7",
        sc.LLMTRACE_TAGS: ("beta",),
        "llmtrace.metadata.tenant": "acme",
        "llmtrace.metadata.tier": 1,
    }
    assert _context_attributes(spans["outside"]) == {}


def test_context_reaches_spans_of_any_tracer_on_the_provider(capture_spans: CapturedSpans) -> None:
    """Provider integrations and third-party instrumentations get the values without doing anything."""
    other = trace_api.get_tracer("some.other.instrumentation")
    with llmtrace.context(user_id="u9", metadata={"obj": object}), other.start_as_current_span("foreign"):
        pass
    span = capture_spans.span("foreign")
    assert span.attributes[sc.USER_ID] == "u9"
    assert span.attributes["llmtrace.metadata.obj"] == "<class 'object'>"


def test_project_and_environment_on_every_span() -> None:
    with llmtrace.testing.capture(project="shop", environment="staging") as captured:
        with trace_api.get_tracer("x").start_as_current_span("foreign"):
            pass
        (span,) = captured.spans()
    assert span.attributes[sc.LLMTRACE_PROJECT] == "shop"
    assert span.attributes[sc.DEPLOYMENT_ENVIRONMENT] == "staging"
    assert span.resource.attributes[sc.DEPLOYMENT_ENVIRONMENT] == "staging"
    assert span.resource.attributes[sc.LLMTRACE_PROJECT] == "shop"


def test_context_follows_awaits_and_tasks(capture_spans: CapturedSpans) -> None:
    @llmtrace.trace
    async def work(tag: str) -> str:
        await asyncio.sleep(0.001)
        return tag

    async def main() -> None:
        async with llmtrace.context(session_id="sess"):
            with llmtrace.span("parent"):
                # Tasks copy the context at creation, values set later in a task stay in it.
                async def child(i: int) -> str:
                    async with llmtrace.context(user_id=f"u{i}"):
                        await asyncio.sleep(0.001)
                        return await work(str(i))

                await asyncio.gather(*(asyncio.create_task(child(i)) for i in range(3)))

    asyncio.run(main())
    spans = capture_spans.spans()
    parent = next(s for s in spans if s.name == "parent")
    works = [s for s in spans if s.name.endswith("work")]
    assert sorted(s.attributes[sc.USER_ID] for s in works) == ["u0", "u1", "u2"]
    for s in works:
        assert s.attributes[sc.SESSION_ID] == "sess"
        assert s.attributes[sc.LLMTRACE_INPUT] == json.dumps({"tag": s.attributes[sc.USER_ID][1:]})
        assert s.parent is not None and s.parent.span_id == parent.context.span_id


def test_plain_threads_need_wrap_context(capture_spans: CapturedSpans) -> None:
    """Thread pools carry the context (tests/integrations/test_thread_pools.py); a ``Thread`` does not."""

    @llmtrace.trace
    def job(i: int) -> int:
        return i

    with llmtrace.context(user_id="u1"), llmtrace.span("fan-out") as root:
        threads = [threading.Thread(target=llmtrace.wrap_context(job), args=(i,)) for i in range(3)]
        threads.append(threading.Thread(target=job, args=(99,)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    spans = capture_spans.spans()
    jobs = {s.attributes[sc.LLMTRACE_OUTPUT]: s for s in spans if s.name.endswith("job")}
    root_id = root.get_span_context().span_id
    for i in range(3):
        s = jobs[str(i)]
        assert s.attributes[sc.USER_ID] == "u1"
        assert s.parent is not None and s.parent.span_id == root_id
    # Without the helper the thread starts empty: a new root trace, no user.
    assert jobs["99"].parent is None and sc.USER_ID not in jobs["99"].attributes


def test_wrap_context_runs_concurrently_with_one_wrapper() -> None:
    barrier = threading.Barrier(2)
    with llmtrace.context(user_id="u"):
        fn = llmtrace.wrap_context(lambda: (barrier.wait(5), llmtrace._internal.context.current().user_id)[1])
    with ThreadPoolExecutor(2) as pool:
        assert [f.result() for f in [pool.submit(fn), pool.submit(fn)]] == ["u", "u"]


def test_context_decorator_and_bad_arguments(capture_spans: CapturedSpans) -> None:
    @llmtrace.context(user_id="dec")
    def handler() -> None:
        with llmtrace.span("h"):
            pass

    handler()
    assert capture_spans.span("h").attributes[sc.USER_ID] == "dec"
    with pytest.raises(ValueError, match="tags"):
        llmtrace.context(tags="beta")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="metadata"):
        llmtrace.context(metadata=["x"])  # type: ignore[arg-type]
