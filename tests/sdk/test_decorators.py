"""@llmtrace.trace and llmtrace.span on every kind of callable, against the real SDK pipeline."""

from __future__ import annotations

import asyncio
import inspect
import json

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

import llmtrace
from llmtrace._internal import semconv as sc
from llmtrace.testing import CapturedSpans


def _hex(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.span_id, "016x")


def _parent(span: ReadableSpan) -> str | None:
    return None if span.parent is None else format(span.parent.span_id, "016x")


@llmtrace.trace
def double(x: int) -> int:
    return x * 2


def test_sync_function_records_whole_span(capture_spans: CapturedSpans) -> None:
    assert double(21) == 42
    (span,) = capture_spans.spans()
    assert span.name == "double"
    assert span.kind == trace_api.SpanKind.INTERNAL
    assert span.status.status_code == StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        sc.LLMTRACE_SPAN_KIND: sc.KIND_SPAN,
        sc.CODE_FUNCTION_NAME: "double",
        sc.LLMTRACE_INPUT: '{"x": 21}',
        sc.LLMTRACE_OUTPUT: "42",
    }
    assert span.resource.attributes[sc.SERVICE_NAME] == "test"
    assert span.parent is None


def test_async_function_keeps_coroutine_identity_and_nests(capture_spans: CapturedSpans) -> None:
    @llmtrace.trace(name="outer")
    async def outer(n: int) -> int:
        await asyncio.sleep(0)
        return double(n) + await inner(n)

    @llmtrace.trace
    async def inner(n: int) -> int:
        await asyncio.sleep(0)
        return n

    assert inspect.iscoroutinefunction(outer)
    assert inspect.iscoroutinefunction(inner)
    assert asyncio.run(outer(2)) == 6
    spans = {s.name: s for s in capture_spans.spans()}
    assert set(spans) == {
        "outer",
        "double",
        "inner",
    }
    outer_span = spans["outer"]
    for name, child in spans.items():
        if name != "outer":
            assert _parent(child) == _hex(outer_span)
            assert child.context.trace_id == outer_span.context.trace_id
    assert outer_span.attributes[sc.LLMTRACE_OUTPUT] == "6"


def test_generator_span_covers_iteration_and_body_calls_are_children(capture_spans: CapturedSpans) -> None:
    @llmtrace.trace
    def numbers(n: int):
        for i in range(n):
            yield double(i)
        return "done"

    assert inspect.isgeneratorfunction(numbers)
    with llmtrace.span("consumer") as consumer:
        gen = numbers(3)
        first = next(gen)
        # While suspended in our hands the generator's span is not current.
        assert trace_api.get_current_span() is consumer
        with llmtrace.span("between"):
            pass
        rest = list(gen)
    assert [first, *rest] == [0, 2, 4]
    spans = capture_spans.spans()
    gen_span = next(s for s in spans if s.name.endswith("numbers"))
    doubles = [s for s in spans if s.name == "double"]
    between = next(s for s in spans if s.name == "between")
    consumer_span = next(s for s in spans if s.name == "consumer")
    assert len(doubles) == 3
    assert all(_parent(d) == _hex(gen_span) for d in doubles)
    assert _parent(between) == _hex(consumer_span)
    assert _parent(gen_span) == _hex(consumer_span)
    assert gen_span.attributes[sc.LLMTRACE_OUTPUT] == "[0, 2, 4]"
    # The generator span ends after its last item was produced, not at creation.
    assert gen_span.end_time >= max(d.end_time for d in doubles)


def test_generator_send_throw_and_early_close(capture_spans: CapturedSpans) -> None:
    @llmtrace.trace
    def echo():
        received = []
        try:
            while True:
                value = yield len(received)
                received.append(value)
        except KeyError:
            yield "caught"

    gen = echo()
    assert next(gen) == 0
    assert gen.send("a") == 1
    assert gen.throw(KeyError("k")) == "caught"
    gen.close()
    (span,) = capture_spans.spans()
    assert span.status.status_code == StatusCode.UNSET
    assert span.end_time is not None


def test_async_generator(capture_spans: CapturedSpans) -> None:
    @llmtrace.trace
    async def stream(n: int):
        for i in range(n):
            await asyncio.sleep(0)
            yield double(i)

    assert inspect.isasyncgenfunction(stream)

    async def main() -> list[int]:
        return [x async for x in stream(3)]

    assert asyncio.run(main()) == [0, 2, 4]
    spans = capture_spans.spans()
    agen = next(s for s in spans if s.name.endswith("stream"))
    assert [_parent(s) for s in spans if s.name == "double"] == [_hex(agen)] * 3
    assert agen.attributes[sc.LLMTRACE_OUTPUT] == "[0, 2, 4]"


def test_async_generator_closed_early_ends_span(capture_spans: CapturedSpans) -> None:
    @llmtrace.trace
    async def forever():
        i = 0
        while True:
            yield i
            i += 1

    async def main() -> int:
        agen = forever()
        value = await agen.__anext__()
        await agen.aclose()
        return value

    assert asyncio.run(main()) == 0
    (span,) = capture_spans.spans()
    assert span.attributes[sc.LLMTRACE_OUTPUT] == "[0]"


class Assistant:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @llmtrace.trace
    def reply(self, text: str) -> str:
        return self.prefix + text

    @classmethod
    @llmtrace.trace
    def make(cls, prefix: str) -> Assistant:
        return cls(prefix)

    @staticmethod
    @llmtrace.trace
    def shout(text: str) -> str:
        return text.upper()


def test_methods_drop_self_and_cls_from_captured_arguments(capture_spans: CapturedSpans) -> None:
    bot = Assistant.make("> ")
    assert bot.reply("hi") == "> hi"
    assert Assistant.shout("hey") == "HEY"
    spans = {s.name: s for s in capture_spans.spans()}
    assert json.loads(spans["Assistant.reply"].attributes[sc.LLMTRACE_INPUT]) == {"text": "hi"}
    assert json.loads(spans["Assistant.make"].attributes[sc.LLMTRACE_INPUT]) == {"prefix": "> "}
    assert json.loads(spans["Assistant.shout"].attributes[sc.LLMTRACE_INPUT]) == {"text": "hey"}
    assert "Assistant object at" in spans["Assistant.make"].attributes[sc.LLMTRACE_OUTPUT]


class Boom(Exception):
    pass


def test_exceptions_are_recorded_and_reraised_unchanged(capture_spans: CapturedSpans) -> None:
    original = Boom("bad input")

    @llmtrace.trace
    def fails() -> None:
        raise original

    @llmtrace.trace
    async def afails() -> None:
        raise original

    @llmtrace.trace
    def gfails():
        yield 1
        raise original

    with pytest.raises(Boom) as info:
        fails()
    assert info.value is original
    with pytest.raises(Boom) as info:
        asyncio.run(afails())
    assert info.value is original
    with pytest.raises(Boom) as info:
        list(gfails())
    assert info.value is original
    spans = capture_spans.spans()
    assert len(spans) == 3
    for span in spans:
        assert span.status.status_code == StatusCode.ERROR
        assert span.status.description == "Boom: bad input"
        assert span.attributes[sc.ERROR_TYPE] == "Boom"
        (event,) = span.events
        assert event.name == "exception"
        assert event.attributes["exception.type"].endswith("Boom")
        assert event.attributes["exception.message"] == "bad input"


def test_capture_opt_out_and_json_safety(capture_spans: CapturedSpans) -> None:
    @llmtrace.trace(capture_args=False, capture_result=False)
    def secret(password: str) -> str:
        return password[::-1]

    class Opaque:
        def __repr__(self) -> str:
            return "<opaque>"

    cyclic: list[object] = []
    cyclic.append(cyclic)

    @llmtrace.trace
    def odd(a: object, b: bytes, c: set[int], d: list[object]) -> dict[str, object]:
        return {"a": a}

    assert secret("hunter2") == "2retnuh"
    odd(Opaque(), b"\x00\x01", {3}, cyclic)
    spans = {s.name.rsplit(".", 1)[-1]: s for s in capture_spans.spans()}
    assert sc.LLMTRACE_INPUT not in spans["secret"].attributes
    assert sc.LLMTRACE_OUTPUT not in spans["secret"].attributes
    captured = spans["odd"].attributes[sc.LLMTRACE_INPUT]
    assert isinstance(captured, str) and "<opaque>" in captured  # cycles fall back to a repr, never raise
    assert json.loads(spans["odd"].attributes[sc.LLMTRACE_OUTPUT]) == {"a": "<opaque>"}


def test_captured_content_is_capped_with_marker() -> None:
    with llmtrace.testing.capture(max_content_chars=100) as captured:

        @llmtrace.trace
        def big(text: str) -> int:
            return len(text)

        big("x" * 1000)
        (span,) = captured.spans()
    text = span.attributes[sc.LLMTRACE_INPUT]
    assert text == '{"text": "' + "x" * 90 + f"…[truncated {1000 + 12 - 100} chars]"


def test_capture_content_false_stores_no_text() -> None:
    with llmtrace.testing.capture(capture_content=False) as captured:
        double(4)
        (span,) = captured.spans()
    assert sc.LLMTRACE_INPUT not in span.attributes
    assert sc.LLMTRACE_OUTPUT not in span.attributes


def test_span_context_manager_sync_and_async(capture_spans: CapturedSpans) -> None:
    with llmtrace.span("retrieve", top_k=5, sources=["a", "b"], filters={"lang": "en"}) as s:
        s.set_attribute("retrieve.count", 2)
        double(1)

    async def main() -> None:
        async with llmtrace.span("async-block") as s2:
            await asyncio.sleep(0)
            s2.set_attribute("ok", True)

    asyncio.run(main())
    with pytest.raises(ValueError, match="nope"), llmtrace.span("failing"):
        raise ValueError("nope")
    spans = {s.name: s for s in capture_spans.spans()}
    retrieve = spans["retrieve"]
    assert dict(retrieve.attributes) == {
        "top_k": 5,
        "sources": ("a", "b"),
        "filters": '{"lang": "en"}',
        sc.LLMTRACE_SPAN_KIND: sc.KIND_SPAN,
        "retrieve.count": 2,
    }
    assert _parent(spans["double"]) == _hex(retrieve)
    assert spans["async-block"].attributes["ok"] is True
    assert spans["failing"].status.status_code == StatusCode.ERROR


def test_decorators_work_uninstrumented() -> None:
    llmtrace.uninstrument()
    assert double(5) == 10
    with llmtrace.span("free") as s:
        assert s is not None
