"""A chat stream read with ``for`` takes `ChatStream.chunks` (the common chunk handled inside the
generator); ``next()`` takes `ChatStream.on_chunk`. Both must record the same span, and a fault in
either never reaches the caller."""

from __future__ import annotations

from typing import Any

import pytest

import llmtrace.testing
from llmtrace.integrations import _openai_parts
from llmtrace.testing import CapturedSpans

from ..conftest import attrs, timing_free
from ..fakes import FakeServer, sse
from . import openai_payloads as p
from .test_openai_calls import MESSAGES, client


def _mixed_chunks() -> list[dict[str, Any]]:
    """Text, a refusal, a tool call, two choices, finish reasons and the usage chunk, mixed."""
    chunks = p.chat_chunks(["Hel", "lo"], usage=True, tools=True)
    refusal = p._chunk([{"index": 0, "delta": {"refusal": " no"}}])
    second = p._chunk([{"index": 1, "delta": {"content": "other"}}])
    both = p._chunk([{"index": 0, "delta": {"content": "!"}}, {"index": 1, "delta": {"content": "!"}}])
    return [*chunks[:3], refusal, second, both, *chunks[3:]]


def _read(server: FakeServer, by_next: bool) -> list[Any]:
    stream = client(server, False).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    if not by_next:
        return [c.model_dump() for c in stream]
    chunks = []
    while True:
        try:
            chunks.append(next(stream).model_dump())
        except StopIteration:
            return chunks


@pytest.mark.parametrize("chunks", [p.chat_chunks([f"w{i} " for i in range(30)]), _mixed_chunks()])
def test_for_loop_and_next_record_the_same_span(cap: CapturedSpans, chunks: list[dict[str, Any]]) -> None:
    server = FakeServer()
    server.stream("/chat/completions", sse(chunks))
    by_for = _read(server, by_next=False)
    by_next = _read(server, by_next=True)
    assert by_for == by_next and len(by_for) == len(chunks)
    folded, plain = cap.spans()
    assert timing_free(folded) == timing_free(plain)
    for span in (folded, plain):
        values = attrs(span)
        assert 0 < values["gen_ai.response.time_to_first_chunk"] * 1000 <= values["llmtrace.ttft_ms"]


def test_the_for_loop_takes_the_folded_generator(cap: CapturedSpans, monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards the benchmark's path: a ``for`` loop never calls `on_chunk` (it would cost a call)."""
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo"])))
    called: list[Any] = []
    monkeypatch.setattr(_openai_parts.ChatStream, "on_chunk", lambda self, chunk: called.append(chunk))
    stream = client(server, False).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    assert [c.choices[0].delta.content for c in stream] == ["", "Hel", "lo", None]
    assert called == []
    assert attrs(cap.spans()[0])["llmtrace.output.chars"] == 5


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected fault")


@pytest.mark.parametrize("name", ["_on_chunk", "_content"])
def test_faults_in_the_folded_generator_never_reach_the_caller(
    cap: CapturedSpans, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    server = FakeServer()
    server.stream("/chat/completions", sse(p.chat_chunks(["Hel", "lo"])))
    monkeypatch.setattr(_openai_parts.ChatStream, name, _boom)
    with llmtrace.testing.allow_internal_errors():
        stream = client(server, False).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
        assert [c.choices[0].delta.content for c in stream] == ["", "Hel", "lo", None]
    (span,) = cap.spans()  # ended once, at the stream's end
    assert attrs(span)["gen_ai.request.model"] == "gpt-4o"
    assert "llmtrace.status" not in attrs(span)


def test_a_provider_error_mid_stream_is_recorded_by_the_folded_generator(cap: CapturedSpans) -> None:
    chunks = p.chat_chunks(["Hel", "lo"])
    body = (
        sse(chunks[:2], done=False)
        + b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
    )
    server = FakeServer()
    server.stream("/chat/completions", body)
    stream = client(server, False).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    seen = []
    with pytest.raises(Exception) as raised:
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content)
    assert seen == ["", "Hel"]
    (span,) = cap.spans()
    values = attrs(span)
    assert values["error.type"] == type(raised.value).__name__
    assert values["llmtrace.output.chars"] == 3
