"""Stream lifecycles, raw responses, provider errors and injected faults for the OpenAI integration."""

from __future__ import annotations

import gc
import json
import threading
from typing import Any

import httpx2
import openai
import pytest
from opentelemetry import trace

import llmtrace.testing
from llmtrace.integrations import _common, _openai_parts
from llmtrace.integrations import openai as openai_integration
from llmtrace.testing import CapturedSpans

from ..conftest import attrs, drain, resolve
from ..fakes import FakeServer, sse
from . import openai_payloads as p
from .test_openai_calls import MESSAGES, client


def _stream_server(words: list[str] | None = None) -> FakeServer:
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks(words or ["Hel", "lo", " world"])))
    return server


def _assert_cancelled_after_two_chunks(span: Any) -> None:
    values = attrs(span)
    assert values["llmtrace.status"] == "cancelled"
    assert values["llmtrace.output.chars"] == 3  # "" then "Hel": the partial output
    assert (
        values["gen_ai.output.messages"]
        == '[{"role": "assistant", "parts": [{"type": "text", "content": "Hel"}], "finish_reason": "error"}]'
    )
    assert values["gen_ai.response.finish_reasons"] == ("error",)
    assert values["llmtrace.usage.source"] == "estimated"
    assert values["gen_ai.usage.output_tokens"] == 1


def test_abandoned_stream_is_recorded_as_cancelled_on_garbage_collection(cap: CapturedSpans) -> None:
    stream = client(_stream_server(), False).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True
    )
    for i, _ in enumerate(stream):
        if i == 1:
            break
    assert cap.spans() == []  # still in the caller's hands: not ended
    del stream
    gc.collect()
    (span,) = cap.spans()
    _assert_cancelled_after_two_chunks(span)


def test_long_stream_closed_midway_records_every_delta_read_so_far(cap: CapturedSpans) -> None:
    words = [f"w{i} " for i in range(100)]
    stream = client(_stream_server(words), False).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True
    )
    for i, _ in enumerate(stream):
        if i == 70:  # the role chunk, then w0 .. w69
            break
    stream.close()
    values = attrs(cap.spans()[0])
    assert values["llmtrace.status"] == "cancelled"
    assert values["llmtrace.output.chars"] == len("".join(words[:70]))
    assert json.loads(values["gen_ai.output.messages"])[0]["parts"][0]["content"] == "".join(words[:70])


@pytest.mark.parametrize("how", ["close", "with"])
def test_stream_closed_early_is_cancelled_once(cap: CapturedSpans, how: str) -> None:
    c = client(_stream_server(), False)
    stream = c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    if how == "close":
        next(stream), next(stream)
        stream.close()
        stream.close()
    else:
        with stream as entered:
            assert entered is stream  # __enter__ returns the proxy, so reads stay traced
            next(entered), next(entered)
    del stream
    gc.collect()
    (span,) = cap.spans()
    _assert_cancelled_after_two_chunks(span)


def test_stream_read_in_two_loops_and_by_next_is_one_complete_span(cap: CapturedSpans) -> None:
    # Leaving a ``for`` loop drops its iterator, not the stream: reading on must still be traced.
    stream = client(_stream_server(), False).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True
    )
    seen = [next(stream).choices[0].delta.content]
    for chunk in stream:
        seen.append(chunk.choices[0].delta.content)
        break
    gc.collect()
    assert cap.spans() == []
    seen += [chunk.choices[0].delta.content for chunk in stream]
    assert seen == ["", "Hel", "lo", " world", None]
    (span,) = cap.spans()
    values = attrs(span)
    assert "llmtrace.status" not in values
    assert values["gen_ai.response.finish_reasons"] == ("stop",)
    assert values["llmtrace.output.chars"] == len("Hello world")
    assert "gen_ai.response.time_to_first_chunk" in values


async def test_async_stream_closed_early_is_cancelled(cap: CapturedSpans) -> None:
    stream = await client(_stream_server(), True).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True
    )
    async with stream as entered:
        assert entered is stream
        await entered.__anext__(), await entered.__anext__()
    (span,) = cap.spans()
    _assert_cancelled_after_two_chunks(span)


def test_exhausted_stream_ends_once_even_if_closed_after(cap: CapturedSpans) -> None:
    with client(_stream_server(), False).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True
    ) as stream:
        list(stream)
    stream.close()
    (span,) = cap.spans()
    assert "llmtrace.status" not in attrs(span)


def test_span_is_not_current_while_the_caller_holds_the_stream(cap: CapturedSpans) -> None:
    stream = client(_stream_server(), False).chat.completions.create(
        model="gpt-4o", messages=MESSAGES, stream=True
    )
    for _ in stream:
        assert not trace.get_current_span().get_span_context().is_valid
    (span,) = cap.spans()
    assert span.parent is None


def test_call_inside_a_parent_span_is_its_child(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.json("/chat/completions", p.chat())
    with llmtrace.span("handler"):
        client(server, False).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    llm, parent = cap.spans()
    assert llm.parent is not None and llm.parent.span_id == parent.context.span_id


def _error_stream(req: dict[str, Any]) -> bytes:
    chunks = p.chat_chunks(["Hel"])[:2]
    return sse([*chunks, {"error": {"message": "overloaded", "type": "server_error"}}], done=False)


@pytest.mark.parametrize("is_async", [False, True])
async def test_error_mid_stream_is_recorded_and_reraised(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.stream("/chat/completions", _error_stream)
    stream = await resolve(
        client(server, is_async).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    )
    with pytest.raises(openai.APIError, match="overloaded"):
        await drain(stream)
    (span,) = cap.spans()
    assert span.status.status_code.name == "ERROR"
    assert attrs(span)["error.type"] == "APIError"
    assert attrs(span)["llmtrace.output.chars"] == 3


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize(
    ("status", "exc_type"),
    [(400, openai.BadRequestError), (429, openai.RateLimitError), (500, openai.InternalServerError)],
)
async def test_http_errors_are_recorded_and_the_same_exception_reraised(
    cap: CapturedSpans, is_async: bool, status: int, exc_type: type[Exception]
) -> None:
    server = FakeServer()
    server.error("/chat/completions", status, {"error": {"message": "nope", "type": "invalid_request_error"}})
    seen: list[BaseException] = []
    c = client(server, is_async)
    original = c._make_status_error

    def remember(*args: Any, **kwargs: Any) -> Any:
        seen.append(original(*args, **kwargs))
        return seen[-1]

    c._make_status_error = remember  # type: ignore[method-assign]
    with pytest.raises(exc_type) as caught:
        await resolve(c.chat.completions.create(model="gpt-4o", messages=MESSAGES))
    assert caught.value is seen[-1]  # not a copy, not a wrapper
    (span,) = cap.spans()
    values = attrs(span)
    assert values["error.type"] == exc_type.__name__
    assert values["http.response.status_code"] == status
    assert span.status.status_code.name == "ERROR" and "nope" in (span.status.description or "")
    assert "gen_ai.usage.input_tokens" not in values


@pytest.mark.parametrize("is_async", [False, True])
async def test_connection_error_is_recorded(cap: CapturedSpans, is_async: bool) -> None:
    server = FakeServer()
    server.fail_connect("/chat/completions")
    with pytest.raises(openai.APIConnectionError):
        await resolve(client(server, is_async).chat.completions.create(model="gpt-4o", messages=MESSAGES))
    (span,) = cap.spans()
    assert attrs(span)["error.type"] == "APIConnectionError"
    assert "http.response.status_code" not in attrs(span)


@pytest.mark.parametrize("is_async", [False, True])
async def test_with_raw_response_returns_the_raw_object_and_records_usage(
    cap: CapturedSpans, is_async: bool
) -> None:
    server = FakeServer()
    server.json("/chat/completions", p.chat())
    raw = await resolve(
        client(server, is_async).chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
    )
    assert type(raw).__name__ == "LegacyAPIResponse"
    assert raw.headers["content-type"] == "application/json"
    parsed = raw.parse()
    assert parsed.choices[0].message.content == "Hello there"
    assert attrs(cap.spans()[0])["gen_ai.usage.input_tokens"] == 1000


def test_raw_stream_and_streaming_response(cap: CapturedSpans) -> None:
    server = _stream_server(["Hi"])
    c = client(server, False)
    raw = c.chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES, stream=True)
    assert [ch.choices[0].delta.content for ch in raw.parse()] == ["", "Hi", None]
    server.json("/chat/completions", p.chat())
    with c.chat.completions.with_streaming_response.create(model="gpt-4o", messages=MESSAGES) as response:
        assert json.loads(response.read())["id"] == "chatcmpl-1"
    first, second = cap.spans()
    assert attrs(first)["llmtrace.output.chars"] == 2
    assert attrs(second)["gen_ai.usage.input_tokens"] == 1000
    assert "llmtrace.status" not in attrs(second)


async def test_async_streaming_response_parse(cap: CapturedSpans) -> None:
    server = FakeServer()
    server.json("/chat/completions", p.chat())
    async with client(server, True).chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=MESSAGES
    ) as response:
        parsed = await response.parse()
    assert parsed.id == "chatcmpl-1"
    assert attrs(cap.spans()[0])["gen_ai.usage.output_tokens"] == 200


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected fault")


FAULTS = [
    (openai_integration, "start_call"),
    (openai_integration, "capture_json"),
    (_openai_parts, "chat_outcome"),
    (_openai_parts.ChatStream, "on_chunk"),
    (_openai_parts.ChatStream, "outcome"),
    (_common, "capture_json"),
    (_common, "capture_text"),
    (_openai_parts, "text_message_json"),
    (_common.LLMCall, "finish"),
]


@pytest.mark.parametrize(("owner", "name"), FAULTS, ids=[n for _, n in FAULTS])
@pytest.mark.parametrize("stream", [False, True])
def test_faults_in_llmtrace_never_reach_the_caller(
    cap: CapturedSpans, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, stream: bool
) -> None:
    server = FakeServer()
    server.json("/chat/completions", p.chat())
    if stream:
        server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo"])))
    monkeypatch.setattr(owner, name, _boom)
    with llmtrace.testing.allow_internal_errors():
        result = client(server, False).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=stream
        )
        if stream:
            assert [c.choices[0].delta.content for c in result] == ["", "Hel", "lo", None]
        else:
            assert result.choices[0].message.content == "Hello there"
        del result
        gc.collect()
    monkeypatch.undo()
    spans = cap.spans()
    assert len(spans) <= 1  # never a second span, never an open one that breaks export
    for span in spans:  # the request's attributes survive a failure in reading the outcome
        assert span.attributes["gen_ai.request.model"] == "gpt-4o"
        assert span.attributes["server.address"] == "api.openai.com"


@pytest.mark.parametrize(
    ("owner", "name"), [(_openai_parts, "responses_outcome"), (_openai_parts.ResponsesStream, "on_chunk")]
)
async def test_faults_in_async_responses_never_reach_the_caller(
    cap: CapturedSpans, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str
) -> None:
    server = FakeServer()
    server.json("/responses", p.response())
    monkeypatch.setattr(owner, name, _boom)
    c = client(server, True)
    with llmtrace.testing.allow_internal_errors():
        assert (await c.responses.create(model="gpt-4o", input="hi")).output_text == "Hello there"
        server.stream("/responses", sse(p.response_events(["a"]), done=False))
        events = await drain(await c.responses.create(model="gpt-4o", input="hi", stream=True))
    assert events[-1].type == "response.completed"


def test_malformed_response_is_survived(cap: CapturedSpans) -> None:
    server = FakeServer()
    body = p.chat().model_dump(mode="json")
    body["usage"] = {"prompt_tokens": "many"}  # the SDK does not validate; our reading must not crash
    server.routes["/chat/completions"] = lambda req: httpx2.Response(200, json=body)
    with llmtrace.testing.allow_internal_errors():  # (the answer is read on the export thread)
        result = client(server, False).chat.completions.create(model="gpt-4o", messages=MESSAGES)
        (span,) = cap.spans()
    assert result.id == "chatcmpl-1"
    assert span.end_time is not None


@pytest.mark.parametrize("stream", [False, True])
def test_an_input_estimate_counts_the_messages_as_they_were_sent(cap: CapturedSpans, stream: bool) -> None:
    """An app appends the answer and its next question to the very list of messages it sent; an
    input estimate (no usage reported) is made after the call, on the export thread, and still
    counts what the request sent."""
    server = FakeServer()
    if stream:
        server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo"])))
    else:
        body = p.chat().model_dump(mode="json")
        body["usage"] = None
        server.json("/chat/completions", body)
    messages = list(MESSAGES)
    answer = client(server, False).chat.completions.create(model="gpt-4o", messages=messages, stream=stream)
    if stream:
        list(answer)
    messages += [
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "and a longer question?"},
    ]
    (span,) = cap.spans()
    assert span.attributes["llmtrace.usage.source"] == "estimated"
    assert span.attributes["gen_ai.usage.input_tokens"] == 3  # ceil(len("be brief") + len("hi") = 10 / 4)


@pytest.mark.parametrize("stream", [False, True])
def test_the_answer_is_recorded_on_the_export_thread_and_the_messages_during_the_call(stream: bool) -> None:
    """The request's list of messages may change once the call returns, so its text is written
    (and redacted) during the call; the answer, which the caller's thread need not wait for, on
    the export thread."""
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo"])))
    server.routes["/chat/completions"] = (
        server.routes["/chat/completions"]
        if stream
        else lambda req: httpx2.Response(200, json=p.chat().model_dump(mode="json"))
    )
    seen: list[tuple[str, str]] = []

    def redact(text: str) -> str:
        seen.append((threading.current_thread().name, text))
        return text.replace("Hel", "[greeting]")

    with llmtrace.testing.capture(redact=redact) as cap:
        answer = client(server, False).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, stream=stream
        )
        text = (
            "".join(c.choices[0].delta.content or "" for c in answer)
            if stream
            else answer.choices[0].message.content
        )
        assert text == ("Hello" if stream else "Hello there")  # the caller's objects are the SDK's
        (span,) = cap.spans()
    caller = threading.current_thread().name
    assert [thread for thread, _ in seen] == [caller, caller, "llmtrace-export"]
    answer_json = json.loads(span.attributes["gen_ai.output.messages"])
    assert answer_json[0]["parts"] == [
        {"type": "text", "content": "[greeting]lo" + ("" if stream else " there")}
    ]
