"""OpenAI payloads built from the installed SDK's own types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openai.types import Completion, CompletionChoice, CreateEmbeddingResponse, Embedding
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_message import ChatCompletionMessage
from openai.types.chat.chat_completion_message_function_tool_call import ChatCompletionMessageFunctionToolCall
from openai.types.completion_usage import CompletionTokensDetails, CompletionUsage, PromptTokensDetails
from openai.types.create_embedding_response import Usage as EmbeddingUsage
from openai.types.responses import Response, ResponseOutputMessage, ResponseOutputText, ResponseUsage
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from ..fakes import sse

USAGE = CompletionUsage(
    prompt_tokens=1000,
    completion_tokens=200,
    total_tokens=1200,
    prompt_tokens_details=PromptTokensDetails(cached_tokens=800),
    completion_tokens_details=CompletionTokensDetails(reasoning_tokens=50),
)


def chat(
    content: str | None = "Hello there", tool_calls: list[Any] | None = None, model: str = "gpt-4o-2024-08-06"
) -> ChatCompletion:
    return ChatCompletion(
        id="chatcmpl-1",
        object="chat.completion",
        created=1,
        model=model,
        system_fingerprint="fp_1",
        choices=[
            Choice(
                index=0,
                finish_reason="tool_calls" if tool_calls else "stop",
                message=ChatCompletionMessage(role="assistant", content=content, tool_calls=tool_calls),
            )
        ],
        usage=USAGE,
    )


def tool_call(
    call_id: str = "call_1", name: str = "get_weather", arguments: str = '{"city": "Paris"}'
) -> Any:
    return ChatCompletionMessageFunctionToolCall(
        id=call_id, type="function", function={"name": name, "arguments": arguments}
    )


def _chunk(choices: list[dict[str, Any]], usage: CompletionUsage | None = None) -> dict[str, Any]:
    data = ChatCompletionChunk(
        id="chatcmpl-s",
        object="chat.completion.chunk",
        created=1,
        model="gpt-4o-2024-08-06",
        choices=choices,
        usage=usage,
    ).model_dump(mode="json", exclude_none=True)
    data["choices"] = [
        {k: v for k, v in c.items() if k != "logprobs"} | {"finish_reason": c.get("finish_reason")}
        for c in data["choices"]
    ]
    return data


def chat_chunks(words: list[str], *, usage: bool = False, tools: bool = False) -> list[dict[str, Any]]:
    """Role chunk, one chunk per word, finish chunk, and (if `usage`) the usage-only chunk."""
    chunks = [_chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}}])]
    chunks += [_chunk([{"index": 0, "delta": {"content": w}}]) for w in words]
    if tools:
        chunks.append(
            _chunk(
                [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": "call_1",
                                    "type": "function",
                                    "function": {"name": "get_weather", "arguments": ""},
                                }
                            ]
                        },
                    }
                ]
            )
        )
        for piece in ('{"city"', ': "Paris"}'):
            chunks.append(
                _chunk(
                    [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}}]
                )
            )
    chunks.append(_chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls" if tools else "stop"}]))
    if usage:
        chunks.append(_chunk([], usage=USAGE))
    return chunks


def chat_stream_usage_if_asked(words: list[str]) -> Callable[[dict[str, Any]], bytes]:
    """A stream body for `FakeServer.stream`: `chat_chunks` with the usage chunk only when the
    request asked for it (``stream_options.include_usage``), as OpenAI sends it."""

    def body(request: dict[str, Any]) -> bytes:
        asked = bool((request.get("stream_options") or {}).get("include_usage"))
        return sse(chat_chunks(words, usage=asked))

    return body


def response(text: str = "Hello there", model: str = "gpt-4o-2024-08-06") -> Response:
    return Response(
        id="resp_1",
        object="response",
        created_at=1,
        model=model,
        status="completed",
        output=[
            ResponseOutputMessage(
                id="msg_1",
                type="message",
                role="assistant",
                status="completed",
                content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
            )
        ],
        parallel_tool_calls=True,
        tool_choice="auto",
        tools=[],
        usage=ResponseUsage(
            input_tokens=1000,
            output_tokens=200,
            total_tokens=1200,
            input_tokens_details=InputTokensDetails(cached_tokens=800, cache_write_tokens=0),
            output_tokens_details=OutputTokensDetails(reasoning_tokens=50),
        ),
    )


def response_events(words: list[str], *, complete: bool = True) -> list[dict[str, Any]]:
    final = response("".join(words)).model_dump(mode="json")
    created = {**final, "status": "in_progress", "output": [], "usage": None}
    item = {"id": "msg_1", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "sequence_number": 0, "response": created},
        {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": item},
        {
            "type": "response.content_part.added",
            "sequence_number": 2,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "part": part,
        },
    ]
    for w in words:
        events.append(
            {
                "type": "response.output_text.delta",
                "sequence_number": len(events),
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": w,
                "logprobs": [],
            }
        )
    if complete:
        events.append({"type": "response.completed", "sequence_number": len(events), "response": final})
    return events


def embeddings() -> CreateEmbeddingResponse:
    return CreateEmbeddingResponse(
        object="list",
        model="text-embedding-3-small",
        data=[Embedding(object="embedding", index=0, embedding=[0.1, 0.2])],
        usage=EmbeddingUsage(prompt_tokens=1000, total_tokens=1000),
    )


def completion(text: str = "Hello there") -> Completion:
    return Completion(
        id="cmpl-1",
        object="text_completion",
        created=1,
        model="gpt-3.5-turbo-instruct",
        choices=[CompletionChoice(index=0, text=text, finish_reason="stop")],
        usage=CompletionUsage(prompt_tokens=1000, completion_tokens=200, total_tokens=1200),
    )


def completion_chunks(words: list[str]) -> list[dict[str, Any]]:
    chunks = [
        {
            "id": "cmpl-s",
            "object": "text_completion",
            "created": 1,
            "model": "gpt-3.5-turbo-instruct",
            "choices": [{"index": 0, "text": w, "finish_reason": None}],
        }
        for w in words
    ]
    chunks.append(
        {
            "id": "cmpl-s",
            "object": "text_completion",
            "created": 1,
            "model": "gpt-3.5-turbo-instruct",
            "choices": [{"index": 0, "text": "", "finish_reason": "stop"}],
        }
    )
    return chunks
