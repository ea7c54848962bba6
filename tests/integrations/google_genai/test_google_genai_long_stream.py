"""A google-genai stream longer than the batches its chunks are held in (`_Accumulator.on_chunk`)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.genai import types

from llmtrace.integrations import google_genai as gg
from llmtrace.testing import CapturedSpans

from ..conftest import attrs, drain, resolve
from ..fakes import FakeServer
from .test_google_genai import MODEL, client, models, response, sse_body


def _chunks(count: int) -> list[dict[str, Any]]:
    """A thought, then ``count`` text chunks with cumulative usage, the id and model changing at the
    last (the last given wins) and the finish reason on the last."""
    chunks = [response([types.Part(text="Hmm", thought=True)], candidates=0, thoughts=5, finish=None)]
    for i in range(count):
        last = i == count - 1
        chunk = response(
            [types.Part(text=f"w{i} ")],
            candidates=i + 1,
            thoughts=5,
            finish=types.FinishReason.STOP if last else None,
        )
        if last:
            chunk["responseId"], chunk["modelVersion"] = "resp-last", "gemini-2.5-flash-001"
        chunks.append(chunk)
    return chunks


@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize("count", [gg._BATCH - 2, gg._BATCH - 1, gg._BATCH, 3 * gg._BATCH + 5])
async def test_a_long_stream_records_every_chunk_once(cap: CapturedSpans, is_async: bool, count: int) -> None:
    server = FakeServer()
    server.stream(":streamGenerateContent", sse_body(_chunks(count)))
    stream = await resolve(
        models(client(server), is_async).generate_content_stream(model=MODEL, contents="hi")
    )
    chunks = await drain(stream)
    text = "".join(f"w{i} " for i in range(count))
    assert "".join(c.text or "" for c in chunks) == text
    (span,) = cap.spans()
    values = attrs(span)
    assert (values["gen_ai.usage.input_tokens"], values["gen_ai.usage.output_tokens"]) == (1000, count + 5)
    assert values["gen_ai.usage.reasoning.output_tokens"] == 5
    assert values["gen_ai.response.id"] == "resp-last"
    assert values["gen_ai.response.model"] == "gemini-2.5-flash-001"
    assert values["gen_ai.response.finish_reasons"] == ("stop",)
    assert values["llmtrace.output.chars"] == len(text)
    assert json.loads(values["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "reasoning", "content": "Hmm"}, {"type": "text", "content": text}],
            "finish_reason": "stop",
        }
    ]
    assert values["llmtrace.ttft_ms"] > 0
    assert values["gen_ai.response.time_to_first_chunk"] * 1e3 <= values["llmtrace.ttft_ms"]
