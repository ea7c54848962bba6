"""Thread pool jobs run in their submitter's context while llmtrace is instrumented."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import openai
import wrapt

import llmtrace
import llmtrace.testing
from llmtrace._internal import context as context_values
from llmtrace._internal import semconv as sc
from llmtrace.testing import CapturedSpans

from .fakes import FakeServer
from .openai import openai_payloads as payloads

STDLIB_SUBMIT = ThreadPoolExecutor.__dict__["submit"]


def _user() -> str | None:
    values = context_values.current()
    return values.user_id if values is not None else None


def test_llm_calls_fanned_out_to_a_pool_stay_in_the_trace(capture_spans: CapturedSpans) -> None:
    server = FakeServer()
    server.json("/chat/completions", payloads.chat())
    client = openai.OpenAI(api_key="sk-test", http_client=server.sync_client(), max_retries=0)

    def ask(question: str) -> str | None:
        reply = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": question}]
        )
        return reply.choices[0].message.content

    @llmtrace.trace
    def answer_all(questions: list[str]) -> list[str | None]:
        with ThreadPoolExecutor(3) as pool:
            return list(pool.map(ask, questions))

    with llmtrace.context(user_id="u1", session_id="s1"):
        assert answer_all(["a", "b", "c", "d"]) == ["Hello there"] * 4
    spans = capture_spans.spans()
    (root,) = [s for s in spans if s.name.endswith("answer_all")]
    calls = [s for s in spans if s.name == "chat gpt-4o"]
    assert len(calls) == 4 and len(server.requests) == 4
    for call in calls:
        assert call.context.trace_id == root.context.trace_id
        assert call.parent is not None and call.parent.span_id == root.context.span_id
        assert call.attributes[sc.USER_ID] == "u1" and call.attributes[sc.SESSION_ID] == "s1"
        assert call.attributes["gen_ai.usage.input_tokens"] == 1000


def test_each_job_has_its_own_copy(capture_spans: CapturedSpans) -> None:
    """A job's own context blocks are its own: not another job's, not the submitter's."""
    barrier = threading.Barrier(2)

    def job(name: str) -> str | None:
        with llmtrace.context(user_id=name):
            barrier.wait(5)  # both jobs inside their blocks at once
            seen = _user()
        assert _user() == "caller"
        return seen

    with llmtrace.context(user_id="caller"), ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(job, "a"), pool.submit(job, name="b")]
        assert [f.result() for f in futures] == ["a", "b"]
        assert _user() == "caller"


def test_asyncio_executor_jobs_keep_the_context(capture_spans: CapturedSpans) -> None:
    async def main() -> list[str | None]:
        loop = asyncio.get_running_loop()
        with llmtrace.context(user_id="u-async"), ThreadPoolExecutor(1) as pool:
            return [
                await loop.run_in_executor(pool, _user),
                await loop.run_in_executor(None, _user),  # the loop's default pool
                await asyncio.to_thread(_user),
            ]

    assert asyncio.run(main()) == ["u-async"] * 3


def test_wrap_context_still_binds_the_context_it_was_made_in(capture_spans: CapturedSpans) -> None:
    with llmtrace.context(user_id="at-wrap"):
        wrapped = llmtrace.wrap_context(_user)
    with llmtrace.context(user_id="at-submit"), ThreadPoolExecutor(1) as pool:
        assert pool.submit(wrapped).result() == "at-wrap"
        assert pool.submit(_user).result() == "at-submit"


def test_uninstrument_puts_the_standard_submit_back() -> None:
    with llmtrace.testing.capture():
        assert ThreadPoolExecutor.__dict__["submit"] is not STDLIB_SUBMIT
        llmtrace.instrument(exporter=llmtrace.testing.InMemorySpanExporter())  # again: wrapped once
        assert ThreadPoolExecutor.__dict__["submit"].__wrapped__ is STDLIB_SUBMIT
    assert ThreadPoolExecutor.__dict__["submit"] is STDLIB_SUBMIT
    with llmtrace.context(user_id="u"), ThreadPoolExecutor(1) as pool:
        assert pool.submit(_user).result() is None  # threads start empty again


def test_a_foreign_wrapper_on_ours_stays_and_ours_goes_quiet() -> None:
    """Another library may wrap ``submit`` after us; uninstrument must not unwrap it."""
    calls: list[object] = []  # what went through the foreign wrapper

    def foreign(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
        calls.append(args[0])
        return wrapped(*args, **kwargs)

    try:
        with llmtrace.testing.capture():
            wrapt.wrap_function_wrapper(ThreadPoolExecutor, "submit", foreign)
            with llmtrace.context(user_id="u"), ThreadPoolExecutor(1) as pool:
                assert pool.submit(_user).result() == "u"
        stacked = ThreadPoolExecutor.__dict__["submit"]
        assert isinstance(stacked, wrapt.FunctionWrapper) and stacked is not STDLIB_SUBMIT
        with llmtrace.context(user_id="u"), ThreadPoolExecutor(1) as pool:
            assert pool.submit(_user).result() is None  # ours is inert under the foreign one
        with llmtrace.testing.capture():  # and comes back without a second layer
            with llmtrace.context(user_id="v"), ThreadPoolExecutor(1) as pool:
                assert pool.submit(_user).result() == "v"
            assert ThreadPoolExecutor.__dict__["submit"] is stacked
        assert calls.count(_user) == 3  # (OTel's resource detection submits jobs too)
    finally:
        ThreadPoolExecutor.submit = STDLIB_SUBMIT  # type: ignore[method-assign]
