"""google-genai integration: ``generate_content`` and its stream, sync and async, and so chats;
``embed_content``.

Patched: ``Models._generate_content`` / ``_generate_content_stream`` / ``_embed_content`` and their
``AsyncModels`` twins, the methods that make one HTTP request each. The public ``generate_content``
loops over them for automatic function calling and continuations, and ``chats`` send through it,
so every model request is one span (an AFC turn with two model calls is two spans, each with its usage).

Provider: ``gcp.vertex_ai`` for a Vertex AI client, else ``gcp.gemini``. Token semantics: Gemini's
``prompt_token_count`` includes cached tokens (``cached_content_token_count``) and tool-use prompt
tokens are added to input; ``candidates_token_count`` excludes thinking, so output is candidates
plus ``thoughts_token_count`` and the thoughts are the reasoning subset (OTel meaning, and how
Google bills them: at the output rate). Stream chunks carry cumulative usage: the last wins.
"""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

from llmtrace._internal import semconv as sc
from llmtrace._internal.config import settings
from llmtrace._internal.content import (
    capture_json,
    constant_text_parts_json,
    text_message_json,
    user_text_json,
)
from llmtrace.integrations._common import (
    LaterText,
    LLMCall,
    Outcome,
    TokenUsage,
    endpoint_facts,
    patch,
    snapshot,
    start_call,
    text_chars,
)
from llmtrace.integrations._streams import StreamHandler
from llmtrace.integrations._wrappers import Endpoint, async_wrapper, sync_wrapper

GEMINI = "gcp.gemini"
VERTEX = "gcp.vertex_ai"
_DEFAULT_BASE = {
    GEMINI: "https://generativelanguage.googleapis.com/",
    VERTEX: "https://aiplatform.googleapis.com/",
}

# GenerateContentConfig field -> attribute (numbers only).
_NUMERIC = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "top_k": sc.GEN_AI_REQUEST_TOP_K,
    "max_output_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "seed": sc.GEN_AI_REQUEST_SEED,
    "presence_penalty": sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "frequency_penalty": sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
}
# The other config fields a request records (content ones only when content is captured).
_OTHER_CONFIG = ("candidate_count", "stop_sequences", "response_mime_type", "response_schema")
_CONTENT_CONFIG = ("system_instruction", "tools")
_USAGE_FIELDS = (
    "prompt_token_count",
    "tool_use_prompt_token_count",
    "candidates_token_count",
    "thoughts_token_count",
    "total_token_count",
    "cached_content_token_count",
)
# Every config and usage field read here (for an object that is neither a dict nor a model).
_CONFIG_FIELDS = (*_NUMERIC, *_OTHER_CONFIG, *_CONTENT_CONFIG, *_USAGE_FIELDS)


def _get(obj: Any, name: str) -> Any:
    """A field of a pydantic model or of the equivalent dict (the SDK accepts both everywhere)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


_NO_FIELDS: dict[str, Any] = {}


def _fields(obj: Any) -> dict[str, Any]:
    """All fields of a pydantic model (its ``__dict__``) or the equivalent dict, to read several
    with plain ``dict.get`` (the request's config and usage, on every call)."""
    if obj is None:
        return _NO_FIELDS
    if type(obj) is dict:
        return obj
    fields = getattr(obj, "__dict__", None)
    return fields if type(fields) is dict else {k: _get(obj, k) for k in _CONFIG_FIELDS}


def _set_fields(obj: Any) -> tuple[dict[str, Any], Any]:
    """(`_fields` of ``obj``, the names of the fields given a value): a model's
    ``model_fields_set`` (pydantic adds a field assigned later too), a dict's keys. A config sets
    a few of its forty-odd fields, so a request reads only those."""
    fields = _fields(obj)
    given = getattr(obj, "__pydantic_fields_set__", None) if fields is not obj else None
    return fields, fields.keys() if given is None else given


def _number(value: Any) -> bool:
    kind = type(value)
    return kind is int or kind is float  # (not bool, whose type is bool)


def _provider(instance: Any) -> tuple[str, dict[str, Any]]:
    api = instance._api_client
    provider = VERTEX if getattr(api, "vertexai", False) else GEMINI
    base = _get(getattr(api, "_http_options", None), "base_url") or _DEFAULT_BASE[provider]
    return provider, dict(endpoint_facts(str(base), provider)[1])


def _model_name(model: Any) -> str:
    if not isinstance(model, str):
        return ""
    # "models/gemini-2.5-flash", "publishers/google/models/gemini-2.5-flash", full resource names
    return model.rsplit("/models/", 1)[-1].removeprefix("models/")


def _part(part: Any) -> dict[str, Any] | None:
    """One Part (object or dict) in the OTel GenAI message-part schema."""
    if isinstance(part, str):
        return {"type": "text", "content": part}
    text = _get(part, "text")
    if text is not None:
        kind = "reasoning" if _get(part, "thought") else "text"
        return {"type": kind, "content": text}
    call = _get(part, "function_call")
    if call is not None:
        return {
            "type": "tool_call",
            "id": _get(call, "id"),
            "name": _get(call, "name"),
            "arguments": _get(call, "args"),
        }
    result = _get(part, "function_response")
    if result is not None:
        return {"type": "tool_call_response", "id": _get(result, "id"), "response": _get(result, "response")}
    blob = _get(part, "inline_data") or _get(part, "file_data")
    if blob is not None:
        return {"type": "blob", "mime_type": _get(blob, "mime_type")}
    return None


def _parts(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list | tuple) else [value]
    return [p for p in (_part(item) for item in items) if p is not None]


def _messages(contents: Any) -> list[dict[str, Any]]:
    """``contents`` (a string, a list of strings/Parts, Content objects or dicts) as OTel messages."""
    if contents is None:
        return []
    items = contents if isinstance(contents, list | tuple) else [contents]
    messages: list[dict[str, Any]] = []
    loose: list[Any] = []  # strings and Parts without a Content: one user message, as the SDK does
    for item in items:
        role = None if isinstance(item, str) else _get(item, "role")
        parts = None if isinstance(item, str) else _get(item, "parts")
        if parts is None:
            loose.append(item)
            continue
        messages.append({"role": "assistant" if role == "model" else role or "user", "parts": _parts(parts)})
    if loose:
        messages.insert(0, {"role": "user", "parts": _parts(loose)})
    return messages


def usage_of(metadata: Any) -> TokenUsage | None:
    """``usage_metadata`` -> TokenUsage with OTel semantics (see the module docstring)."""
    if metadata is None:
        return None
    fields = _fields(metadata)
    prompt = fields.get("prompt_token_count") or 0
    candidates = fields.get("candidates_token_count") or 0
    thoughts = fields.get("thoughts_token_count") or 0
    if not (prompt or candidates or thoughts or fields.get("total_token_count")):
        return None
    return TokenUsage(
        input=prompt + (fields.get("tool_use_prompt_token_count") or 0),
        output=candidates + thoughts,
        cached=fields.get("cached_content_token_count") or 0,
        reasoning=thoughts,
    )


def _finish_reason(candidate: Any) -> str | None:
    return _reason_name(_get(candidate, "finish_reason"))


def _reason_name(reason: Any) -> str | None:
    """A candidate's ``finish_reason`` (an enum member, or a string from a dict) as recorded."""
    if reason is None:
        return None
    # An enum member's value (``_value_``: a plain attribute, where ``value`` is a Python property).
    name = getattr(reason, "_value_", None)
    if name is None:
        name = getattr(reason, "value", reason)
    return str(name).lower()


def _plain_outcome(call: LLMCall, response: Any) -> Outcome | None:
    """The outcome of the common response, one candidate with text parts only (what
    `_Accumulator` makes of it, without accumulating); None for anything else.

    The models' fields are read from their ``__dict__``, where pydantic keeps them: an attribute
    read of a pydantic model goes through its Python ``__getattr__`` hook, which the interpreter
    cannot specialise (hundreds of instructions each amid an SDK's own reads). Anything that is
    not a model as the SDK makes them (a field missing) is None here: the accumulator's path.
    """
    try:
        fields = response.__dict__
        candidates = fields["candidates"]
        if not candidates or len(candidates) != 1:
            return None
        candidate = candidates[0]
        chosen = candidate.__dict__
        content, finish = chosen["content"], chosen["finish_reason"]
        parts = content.__dict__["parts"] if content is not None else None
        if not parts and finish is None:
            return None  # a candidate that says nothing: the accumulator's rules apply
        texts = []
        for part in parts or ():
            said = part.__dict__
            if said["thought"] or said["function_call"] is not None:
                return None
            text = said["text"]
            if text:
                texts.append(text)
        response_id, model, usage = fields["response_id"], fields["model_version"], fields["usage_metadata"]
    except (AttributeError, KeyError, TypeError):
        return None
    text = "".join(texts)
    reason = (_reason_name(finish) or "stop") if finish is not None else "error"
    out = Outcome(
        response_id=response_id or None,
        response_model=model or None,
        usage=usage_of(usage),
        finish_reasons=[reason],
        output_chars=len(text),
    )
    if call.capture:
        out.output_json = text_message_json(text, reason)
    return out


class _Accumulator:
    """Text, thoughts, tool calls and finish reasons of one response or of a stream's chunks.

    As a stream's handler (``on_chunk``, ``stream=True``) it also times the stream's first content.
    """

    __slots__ = (
        "call",
        "finish",
        "model",
        "response_id",
        "text0",
        "texts",
        "thoughts",
        "tools",
        "untimed",
        "usage_metadata",
    )
    # A stream's outcome needs only what was accumulated: read on the export thread (`_streams`).
    outcome_later = True

    def __init__(self, call: LLMCall, *, stream: bool) -> None:
        self.call = call
        self.untimed = stream  # a stream whose first content is still to come
        self.texts: dict[int, list[str]] = {}
        # ``texts[0]`` once the first content has been seen (stream fast path, see `add`).
        self.text0: list[str] | None = None
        self.thoughts: dict[int, list[str]] = {}
        self.tools: dict[int, list[dict[str, Any]]] = {}
        self.finish: dict[int, str] = {}
        self.usage_metadata: Any = None
        self.response_id: str | None = None
        self.model: str | None = None

    def add(self, response: Any) -> bool:
        """Add one response (chunk, a ``GenerateContentResponse``); False: the caller sees it.

        Called per stream chunk: the models' fields read from their ``__dict__`` (see
        `_plain_outcome`), usage converted once at the end.
        """
        try:
            fields = response.__dict__
            response_id, model = fields["response_id"], fields["model_version"]
            usage, candidates = fields["usage_metadata"], fields["candidates"]
        except (AttributeError, KeyError):  # not a model as the SDK makes them: its attributes
            response_id, model = response.response_id, response.model_version
            usage, candidates = response.usage_metadata, response.candidates
        if response_id:
            self.response_id = response_id
        if model:
            self.model = model
        if usage is not None:
            self.usage_metadata = usage
        if not candidates:
            return False
        text0 = self.text0
        if text0 is not None:
            # The common chunk after the first content: one candidate (index 0) with one plain text
            # part and no finish reason, appended to candidate 0's text; the rest takes the loop.
            try:
                (candidate,) = candidates
                chosen = candidate.__dict__
                (part,) = chosen["content"].__dict__["parts"]
                said = part.__dict__
                text = said["text"]
                plain = not said["thought"] and chosen["finish_reason"] is None and not chosen["index"]
            except (ValueError, TypeError, AttributeError, KeyError):  # several, none, no content
                pass
            else:
                if text and plain:
                    text0.append(text)
                    return False
        content_seen = False
        for position, candidate in enumerate(candidates):
            index = candidate.index
            if index is None:
                index = position
            content = candidate.content
            for part in (content.parts if content is not None else None) or ():
                text = part.text
                if text:
                    target = self.thoughts if part.thought else self.texts
                    try:
                        target[index].append(text)
                    except KeyError:
                        target[index] = [text]
                    content_seen = True
                elif part.function_call is not None:
                    call = part.function_call
                    self.tools.setdefault(index, []).append(
                        {"id": call.id, "name": call.name or "", "arguments": call.args}
                    )
                    content_seen = True
                elif index not in self.texts:
                    self.texts[index] = []
            if candidate.finish_reason is not None:
                self.finish[index] = _finish_reason(candidate) or "stop"
        if content_seen and self.untimed:
            self.untimed = False
            if not self.call.first_content_ns:
                self.call.first_content_ns = time.perf_counter_ns()
        if text0 is None and not self.untimed:
            self.text0 = self.texts.get(0)
        return False

    on_chunk = add  # a stream's handler: one call per chunk

    def outcome(self) -> Outcome:
        call = self.call
        out = Outcome(
            response_id=self.response_id, response_model=self.model, usage=usage_of(self.usage_metadata)
        )
        if not self.thoughts and not self.tools and len(self.texts) <= 1 and len(self.finish) <= 1:
            # One candidate with plain text, the common response: its output JSON written directly.
            index = next(iter(self.texts or self.finish), None)
            if index is None:  # no candidate at all
                out.output_json = "[]" if call.capture else None
                return out
            text = "".join(self.texts.get(index, ()))
            reason = self.finish.get(index, "error")
            out.finish_reasons = [reason]
            out.output_chars = len(text)
            if call.capture:
                out.output_json = text_message_json(text, reason)
            return out
        indexes = sorted(set(self.texts) | set(self.thoughts) | set(self.tools) | set(self.finish))
        out.finish_reasons = [self.finish.get(i, "error") for i in indexes]
        texts = {i: "".join(t) for i, t in self.texts.items()}
        tools = [tool for i in indexes for tool in self.tools.get(i, ())]
        out.output_chars = sum(len(t) for t in texts.values()) + sum(
            len(json.dumps(tool["arguments"])) for tool in tools if tool["arguments"]
        )
        out.tool_calls = tools
        if call.capture:
            messages = []
            for i in indexes:
                parts: list[dict[str, Any]] = []
                if self.thoughts.get(i):
                    parts.append({"type": "reasoning", "content": "".join(self.thoughts[i])})
                if texts.get(i):
                    parts.append({"type": "text", "content": texts[i]})
                parts += [{"type": "tool_call", **tool} for tool in self.tools.get(i, ())]
                messages.append(
                    {"role": "assistant", "parts": parts, "finish_reason": self.finish.get(i, "error")}
                )
            out.output_messages = messages
        return out


class GenerateContent(Endpoint):
    where = "google_genai.generate_content"
    streaming = False
    outcome_later = True  # `outcome` reads the response alone

    def is_stream(self, kwargs: dict[str, Any]) -> bool:
        return self.streaming

    def start(self, instance: Any, kwargs: dict[str, Any]) -> LLMCall | None:
        provider, attrs = _provider(instance)
        config = settings()
        capture = config.capture_content
        request, given = _set_fields(kwargs.get("config"))
        for field in given:
            name = _NUMERIC.get(field)
            if name is not None:
                value = request.get(field)
                if value is not None and _number(value):
                    attrs[name] = value
        if not given.isdisjoint(_OTHER_CONFIG):
            count = request.get("candidate_count")
            if _number(count) and count != 1:
                attrs[sc.GEN_AI_REQUEST_CHOICE_COUNT] = count
            stop = request.get("stop_sequences")
            if stop:
                attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [str(s) for s in stop]
            if request.get("response_mime_type") == "application/json" or request.get("response_schema"):
                attrs[sc.GEN_AI_OUTPUT_TYPE] = "json"
        if self.streaming:
            attrs[sc.GEN_AI_REQUEST_STREAM] = True
        texts: list[LaterText] | None = None
        if capture:
            # Strings (the common shapes) are written as JSON text when the attributes are built,
            # which may be on the export thread; anything else is read now, as it may change.
            texts = []
            system = request.get("system_instruction")
            if type(system) is str:
                texts.append((sc.GEN_AI_SYSTEM_INSTRUCTIONS, constant_text_parts_json, system))
            elif system is not None:
                system_parts = _parts(_get(system, "parts") if not isinstance(system, list) else system)
                attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = capture_json(system_parts, config)
            contents = kwargs.get("contents")
            if type(contents) is str:
                texts.append((sc.GEN_AI_INPUT_MESSAGES, user_text_json, contents))
            else:
                attrs[sc.GEN_AI_INPUT_MESSAGES] = capture_json(_messages(contents), config)
            tools = request.get("tools")
            if tools:
                attrs[sc.GEN_AI_TOOL_DEFINITIONS] = capture_json(
                    [t if isinstance(t, dict) else _dump(t) for t in tools], config
                )
        return start_call(
            operation=sc.OP_GENERATE_CONTENT,
            provider=provider,
            request_model=_model_name(kwargs.get("model")),
            kind=sc.KIND_LLM,
            attributes=attrs,
            capture=capture,
            estimate_input=partial(_input_chars, snapshot(kwargs, "contents")),
            config=config,
            texts=texts,
        )

    def outcome(self, call: LLMCall, result: Any) -> Outcome:
        plain = _plain_outcome(call, result)
        if plain is not None:
            return plain
        acc = _Accumulator(call, stream=False)
        acc.add(result)
        return acc.outcome()

    def stream_handler(self, call: LLMCall, kwargs: dict[str, Any]) -> StreamHandler:
        return _Accumulator(call, stream=True)


class GenerateContentStream(GenerateContent):
    where = "google_genai.generate_content_stream"
    streaming = True


class EmbedContent(Endpoint):
    """``embed_content``: one span per embedding request (``embeddings {model}``, kind ``embedding``).

    Input tokens: the sum of the embeddings' ``statistics.token_count`` where the API reports it
    (Vertex AI); the Gemini API reports none, so they are estimated from the text (and say so).
    """

    where = "google_genai.embed_content"

    def is_stream(self, kwargs: dict[str, Any]) -> bool:
        return False

    def start(self, instance: Any, kwargs: dict[str, Any]) -> LLMCall | None:
        provider, attrs = _provider(instance)
        config = settings()
        request = kwargs.get("config")
        dimensions = _get(request, "output_dimensionality")
        if _number(dimensions):
            attrs[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
        contents = _embedded(kwargs)
        if config.capture_content:
            texts = [p["content"] for m in _messages(contents) for p in m["parts"] if "content" in p]
            attrs[sc.GEN_AI_INPUT_MESSAGES] = capture_json(
                [{"role": "user", "parts": [{"type": "text", "content": t}]} for t in texts], config
            )
        return start_call(
            operation=sc.OP_EMBEDDINGS,
            provider=provider,
            request_model=_model_name(kwargs.get("model")),
            kind=sc.KIND_EMBEDDING,
            attributes=attrs,
            capture=config.capture_content,
            estimate_input=partial(_input_chars, {"contents": contents}),
            config=config,
        )

    def outcome(self, call: LLMCall, result: Any) -> Outcome:
        counts = [
            e.statistics.token_count
            for e in result.embeddings or ()
            if e.statistics is not None and e.statistics.token_count is not None
        ]
        return Outcome(usage=TokenUsage(input=int(sum(counts))) if counts else None)


def _embedded(kwargs: dict[str, Any]) -> Any:
    """What ``_embed_content`` was given to embed: ``contents``, ``content`` or ``batch_contents``."""
    for key in ("contents", "batch_contents", "content"):
        value = kwargs.get(key)
        if value is not None:
            return value
    return None


def _dump(model: Any) -> Any:
    dump = getattr(model, "model_dump", None)
    return dump(mode="json", exclude_none=True) if dump is not None else str(model)


def _input_chars(kwargs: dict[str, Any]) -> int:
    contents = kwargs.get("contents")
    return sum(len(p.get("content") or "") for m in _messages(contents) for p in m["parts"]) or text_chars(
        contents
    )


def instrument() -> None:
    """Patch google-genai (called by the registry once ``google.genai`` is imported)."""
    from google.genai.models import AsyncModels, Models

    once, stream, embed = GenerateContent(), GenerateContentStream(), EmbedContent()
    patch(Models, "_generate_content", sync_wrapper(once))
    patch(Models, "_generate_content_stream", sync_wrapper(stream))
    patch(Models, "_embed_content", sync_wrapper(embed))
    patch(AsyncModels, "_generate_content", async_wrapper(once))
    patch(AsyncModels, "_generate_content_stream", async_wrapper(stream))
    patch(AsyncModels, "_embed_content", async_wrapper(embed))
