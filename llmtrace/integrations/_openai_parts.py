"""Reading OpenAI responses and stream chunks into an `Outcome` (chat, responses, completions).

Pure functions of the SDK's pydantic objects, kept apart from the patching code so each can be
read (and fault-injected) on its own. Token semantics: OpenAI's ``prompt_tokens`` already
includes cached and cache-write tokens and ``completion_tokens`` includes reasoning tokens, which
is exactly the OTel meaning, so they pass straight through.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from llmtrace._internal import semconv as sc
from llmtrace._internal.content import text_message_json
from llmtrace._internal.guard import internal_error
from llmtrace.integrations._common import LLMCall, Outcome, TokenUsage
from llmtrace.integrations._streams import index_order


def _details(obj: Any, name: str, field: str) -> int:
    details = getattr(obj, name, None)
    return (getattr(details, field, None) or 0) if details is not None else 0


def chat_usage(usage: Any) -> TokenUsage | None:
    """`CompletionUsage` (chat and legacy completions) -> TokenUsage."""
    if usage is None:
        return None
    try:  # the fields from the model's ``__dict__`` (see `_plain_chat_outcome`)
        fields = usage.__dict__
        prompt, completion = fields["prompt_tokens"], fields["completion_tokens"]
        if fields["prompt_tokens_details"] is None and fields["completion_tokens_details"] is None:
            return TokenUsage(input=prompt or 0, output=completion or 0)
    except (AttributeError, KeyError):
        pass
    return TokenUsage(
        input=usage.prompt_tokens or 0,
        output=usage.completion_tokens or 0,
        cached=_details(usage, "prompt_tokens_details", "cached_tokens"),
        cache_write=_details(usage, "prompt_tokens_details", "cache_write_tokens"),
        reasoning=_details(usage, "completion_tokens_details", "reasoning_tokens"),
    )


def groq_usage(chunk: Any) -> TokenUsage | None:
    """Groq's stream usage: ``x_groq.usage`` on the last chunk (an extra field, so a plain dict)."""
    extra = getattr(chunk, "model_extra", None)
    x_groq = extra.get("x_groq") if extra else None
    usage = x_groq.get("usage") if isinstance(x_groq, dict) else None
    if not isinstance(usage, dict):
        return None
    return TokenUsage(
        input=int(usage.get("prompt_tokens") or 0), output=int(usage.get("completion_tokens") or 0)
    )


def responses_usage(usage: Any) -> TokenUsage | None:
    """`ResponseUsage` -> TokenUsage."""
    if usage is None:
        return None
    return TokenUsage(
        input=usage.input_tokens or 0,
        output=usage.output_tokens or 0,
        cached=_details(usage, "input_tokens_details", "cached_tokens"),
        cache_write=_details(usage, "input_tokens_details", "cache_write_tokens"),
        reasoning=_details(usage, "output_tokens_details", "reasoning_tokens"),
    )


def _text_parts(text: str | None, refusal: str | None = None) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if text:
        parts.append({"type": "text", "content": text})
    if refusal:
        parts.append({"type": "text", "content": refusal})
    return parts


def _plain_chat_outcome(call: LLMCall, resp: Any) -> Outcome | None:
    """`chat_outcome` of the common response — one choice, text only — with the models' fields
    read from their ``__dict__``, where pydantic keeps them: an attribute read of a pydantic model
    goes through its Python ``__getattr__`` hook, which the interpreter cannot specialise
    (hundreds of instructions each amid the SDK's own reads). None for anything else, or for an
    object whose fields are not all there (the general path reads its attributes)."""
    try:
        fields = resp.__dict__
        (choice,) = fields["choices"]
        chosen = choice.__dict__
        said = chosen["message"].__dict__
        text, reason = said["content"], chosen["finish_reason"]
        if said["tool_calls"] or said["refusal"] or not (text is None or type(text) is str):
            return None
        response_id, model, usage = fields["id"], fields["model"], fields["usage"]
        tier, fingerprint = fields["service_tier"], fields["system_fingerprint"]
    except (AttributeError, KeyError, ValueError, TypeError):
        return None
    out = Outcome(response_id=response_id, response_model=model, usage=chat_usage(usage))
    out.finish_reasons.append(reason or "error")
    out.output_chars = len(text or "")
    if call.capture:
        out.output_json = text_message_json(text, reason)
    if tier:
        out.service_tier = out.attributes[sc.OPENAI_RESPONSE_SERVICE_TIER] = str(tier)
    if fingerprint:
        out.attributes[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = fingerprint
    return out


def chat_outcome(call: LLMCall, resp: Any) -> Outcome:
    """A `ChatCompletion` (or `ParsedChatCompletion`)."""
    plain = _plain_chat_outcome(call, resp)
    if plain is not None:
        return plain
    out = Outcome(response_id=resp.id, response_model=resp.model, usage=chat_usage(resp.usage))
    choices: Any = resp.choices or ()  # (``null`` from some compatible servers, as may be a message)
    if len(choices) == 1 and choices[0] is not None and choices[0].message is not None:
        choice = choices[0]
        msg = choice.message
        text = msg.content
        if not msg.tool_calls and not getattr(msg, "refusal", None) and (text is None or type(text) is str):
            # The common shape: one choice, text only.
            out.finish_reasons.append(choice.finish_reason or "error")
            out.output_chars = len(text or "")
            if call.capture:
                out.output_json = text_message_json(text, choice.finish_reason)
            _openai_extras(out, resp)
            return out
    messages: list[dict[str, Any]] | None = [] if call.capture else None
    for choice in choices:
        if choice is None:  # (a malformed answer's ``null`` choice: the others are recorded)
            continue
        out.finish_reasons.append(choice.finish_reason or "error")
        msg = choice.message
        text, refusal = getattr(msg, "content", None), getattr(msg, "refusal", None)
        out.output_chars += len(text or "") + len(refusal or "")
        parts = _text_parts(text, refusal) if messages is not None else []
        for tc in getattr(msg, "tool_calls", None) or ():
            if tc is None:
                continue
            fn = getattr(tc, "function", None) or getattr(tc, "custom", None)
            name = getattr(fn, "name", "") or ""
            args = getattr(fn, "arguments", None) or getattr(fn, "input", None) or ""
            out.output_chars += len(args)
            out.tool_calls.append({"id": tc.id, "name": name, "arguments": args})
            parts.append({"type": "tool_call", "id": tc.id, "name": name, "arguments": args})
        if messages is not None:
            messages.append({"role": "assistant", "parts": parts, "finish_reason": choice.finish_reason})
    out.output_messages = messages
    _openai_extras(out, resp)
    return out


def _openai_extras(out: Outcome, resp: Any) -> None:
    tier = getattr(resp, "service_tier", None)
    if tier:
        out.service_tier = out.attributes[sc.OPENAI_RESPONSE_SERVICE_TIER] = str(tier)
    fingerprint = getattr(resp, "system_fingerprint", None)
    if fingerprint:
        out.attributes[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = fingerprint


def completion_outcome(call: LLMCall, resp: Any) -> Outcome:
    """A legacy `Completion`."""
    out = Outcome(response_id=resp.id, response_model=resp.model, usage=chat_usage(resp.usage))
    messages: list[dict[str, Any]] | None = [] if call.capture else None
    for choice in resp.choices:
        out.finish_reasons.append(choice.finish_reason or "error")
        out.output_chars += len(choice.text or "")
        if messages is not None:
            messages.append(
                {
                    "role": "assistant",
                    "parts": _text_parts(choice.text),
                    "finish_reason": choice.finish_reason,
                }
            )
    out.output_messages = messages
    _openai_extras(out, resp)
    return out


def responses_outcome(call: LLMCall, resp: Any) -> Outcome:
    """A Responses API `Response` (or `ParsedResponse`)."""
    out = Outcome(response_id=resp.id, response_model=resp.model, usage=responses_usage(resp.usage))
    incomplete = getattr(resp, "incomplete_details", None)
    reason = getattr(incomplete, "reason", None) if incomplete is not None else None
    out.finish_reasons.append(str(reason or resp.status or "completed"))
    parts: list[dict[str, Any]] = []
    for item in resp.output or ():
        kind = getattr(item, "type", None)
        if kind == "message":
            for content in item.content or ():
                text = getattr(content, "text", None) or getattr(content, "refusal", None) or ""
                out.output_chars += len(text)
                if call.capture and text:
                    parts.append({"type": "text", "content": text})
        elif kind == "function_call":
            args = item.arguments or ""
            out.output_chars += len(args)
            out.tool_calls.append({"id": item.call_id, "name": item.name, "arguments": args})
            if call.capture:
                parts.append({"type": "tool_call", "id": item.call_id, "name": item.name, "arguments": args})
        elif kind == "reasoning" and call.capture:
            for summary in getattr(item, "summary", None) or ():
                parts.append({"type": "reasoning", "content": getattr(summary, "text", "")})
        elif kind == "web_search_call" and out.usage is not None:
            # Billed per search (opening or reading a found page is not one).
            action = getattr(getattr(item, "action", None), "type", "search")
            if action == "search":
                out.usage.web_searches += 1
    if call.capture:
        out.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": out.finish_reasons[0]}]
    _openai_extras(out, resp)
    return out


class ChatStream:
    """Accumulates `ChatCompletionChunk`s (and legacy `Completion` chunks with ``text_mode``)."""

    __slots__ = (
        "call",
        "finish",
        "hide_usage",
        "id",
        "model",
        "service_tier",
        "text0",
        "text_mode",
        "texts",
        "tools",
        "usage",
        "vendor_usage",
    )
    # The outcome needs only what was accumulated: read on the export thread (`_streams`).
    outcome_later = True

    def __init__(self, call: LLMCall, *, hide_usage: bool, text_mode: bool = False) -> None:
        self.call = call
        self.hide_usage = hide_usage  # we asked for usage: the usage-only chunk is ours, not the caller's
        self.text_mode = text_mode
        self.id: str | None = None
        self.model: str | None = None
        self.service_tier: str | None = None
        self.usage: Any = None
        self.vendor_usage: TokenUsage | None = None  # a compatible server's own usage field (Groq)
        self.texts: dict[int, list[str]] = {}  # choice index -> text deltas, joined once at the end
        self.text0: list[str] | None = None  # ``texts[0]`` of a chat stream, once seen (fast path)
        self.finish: dict[int, str] = {}
        self.tools: dict[tuple[int, int], dict[str, Any]] = {}

    def _content(self) -> None:
        if not self.call.first_content_ns:
            self.call.first_content_ns = time.perf_counter_ns()

    def on_chunk(self, chunk: Any) -> bool:
        # Per-chunk hot path: the common chat chunk (choice 0 alone, a text delta or none, no tool
        # call, no finish reason, no usage) does a handful of attribute reads and one append.
        # (``usage`` is a field of every chunk type since openai 1.26: a plain attribute read.)
        text0 = self.text0  # choice 0's deltas once it has been seen (chat chunks only)
        if text0 is not None and chunk.usage is None:
            try:
                (choice,) = chunk.choices
                delta = choice.delta
            except (ValueError, TypeError, AttributeError):  # several choices, none, or a ``null``
                return self._on_chunk(chunk, chunk.choices)
            if not choice.finish_reason and choice.index == 0 and delta is not None and not delta.tool_calls:
                text = delta.content or delta.refusal
                if text:
                    if not text0:
                        self._content()
                    text0.append(text)
                return False
        return self._on_chunk(chunk, chunk.choices)

    def chunks(self, source: Iterator[Any], stream: Any) -> Iterator[Any]:
        """The chunks of ``source`` as ``SyncStreamProxy._self_chunks`` gives them (``stream`` is
        that proxy: first-chunk time, errors, the end), with `on_chunk`'s common case written
        in: a long stream's per-chunk work is then one generator resume, with no call. (A
        subclass that reads chunks its own way, overriding `on_chunk`, sets ``chunks = None``.)"""
        waiting = stream._self_waiting
        text0 = self.text0
        try:
            for chunk in source:
                if waiting:
                    waiting = False
                    stream._self_first_chunk()
                hide = handled = False
                try:
                    if text0 is not None:
                        # The fields read from the models' ``__dict__`` (where pydantic keeps
                        # them): an attribute read of a pydantic model goes through its Python
                        # ``__getattr__`` hook, which the interpreter cannot specialise, at
                        # three times a dict lookup's cost; a field missing takes the slow path.
                        try:
                            fields = chunk.__dict__
                            if fields["usage"] is None:
                                (choice,) = fields["choices"]
                                chosen = choice.__dict__
                                delta = chosen["delta"]
                                if not chosen["finish_reason"] and chosen["index"] == 0 and delta is not None:
                                    said = delta.__dict__
                                    if not said["tool_calls"]:
                                        handled = True
                                        text = said["content"] or said["refusal"]
                                        if text:
                                            if not text0:
                                                self._content()
                                            text0.append(text)
                        except (AttributeError, KeyError, ValueError, TypeError):
                            pass  # no model, a field missing, several choices or none: `_on_chunk`
                    if not handled:
                        hide = self._on_chunk(chunk, chunk.choices)
                        text0 = self.text0
                except Exception as exc:  # llmtrace's own failure: the caller still gets the chunk
                    internal_error("stream.chunk", exc)
                    hide = False
                if not hide:
                    yield chunk
        except GeneratorExit:
            raise  # (as `_self_chunks`: the span stays open for `close`/`__del__`)
        except BaseException as exc:
            stream._self_error(exc)
            raise
        stream._self_end(cancelled=False)

    def _on_chunk(self, chunk: Any, choices: Any) -> bool:
        """Any chunk: the first, usage, several choices, tool calls, finish reasons."""
        if self.id is None:
            self.id, self.model = chunk.id, chunk.model
            self.service_tier = getattr(chunk, "service_tier", None)
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        elif self.usage is None and choices and getattr(choices[0], "finish_reason", None):
            self.vendor_usage = groq_usage(chunk)
        if not choices:
            return self.hide_usage and usage is not None
        for choice in choices:
            if choice is None:  # (a malformed chunk's ``null`` choice)
                continue
            if self.text_mode:
                text = choice.text
            else:
                delta = choice.delta
                text = delta.content or delta.refusal if delta is not None else None
                if delta is not None and delta.tool_calls:
                    self._tool_deltas(choice.index, delta.tool_calls)
            texts = self.texts.get(choice.index)
            if texts is None:
                texts = self.texts[choice.index] = []
                if choice.index == 0 and not self.text_mode:
                    self.text0 = texts
            if text:
                self._content()
                texts.append(text)
            if choice.finish_reason:
                self.finish[choice.index] = choice.finish_reason
        return False

    def _tool_deltas(self, index: int, deltas: Any) -> None:
        self._content()
        for tc in deltas:
            if tc is None:
                continue
            position = getattr(tc, "index", None)
            if type(position) is not int:
                position = self._position_of_indexless(index, tc.id)
            slot = self.tools.get((index, position))
            if slot is None:
                slot = self.tools[(index, position)] = {"id": tc.id, "name": "", "arguments": ""}
            elif tc.id and not slot["id"]:
                slot["id"] = tc.id
            fn = tc.function
            if fn is not None:
                if fn.name:
                    slot["name"] += fn.name
                if fn.arguments:
                    slot["arguments"] += fn.arguments

    def _position_of_indexless(self, index: int, call_id: str | None) -> int:
        """Where a tool-call delta without ``index`` goes (Gemini's OpenAI-compatible stream and
        some proxies send none): a new id starts the choice's next call, no id continues the last."""
        taken = [position for choice, position in self.tools if choice == index]
        if not taken:
            return 0
        last = max(taken)
        known = self.tools[(index, last)]["id"]
        return last + 1 if call_id and known and call_id != known else last

    def outcome(self) -> Outcome:
        out = _stream_facts(
            self.id, self.model, self.service_tier, chat_usage(self.usage) or self.vendor_usage
        )
        texts = {i: "".join(t) for i, t in self.texts.items()}
        chars = 0
        for text in texts.values():
            chars += len(text)
        for tool in self.tools.values():
            chars += len(tool["arguments"])
        out.output_chars = chars
        indexes = sorted(set(texts) | set(self.finish) | {i for i, _ in self.tools}, key=index_order)
        # A choice whose finish reason never arrived was cut short (spec: report "error").
        out.finish_reasons = [self.finish.get(i, "error") for i in indexes]
        tools = sorted(self.tools.items(), key=lambda item: (index_order(item[0][0]), item[0][1]))
        out.tool_calls = [tool for _, tool in tools]
        if self.call.capture and indexes == [0] and not self.tools:  # the common shape: one text choice
            out.output_json = text_message_json(texts.get(0, ""), self.finish.get(0, "error"))
        elif self.call.capture:
            messages = []
            for i in indexes:
                parts = _text_parts(texts.get(i, ""))
                parts += [{"type": "tool_call", **t} for (ci, _), t in tools if ci == i]
                messages.append(
                    {"role": "assistant", "parts": parts, "finish_reason": self.finish.get(i, "error")}
                )
            out.output_messages = messages
        return out


def _stream_facts(response_id: Any, model: Any, service_tier: Any, usage: TokenUsage | None) -> Outcome:
    """What a chat stream's provider alone knows: the response's id, model and tier, and usage."""
    out = Outcome(response_id=response_id, response_model=model, usage=usage)
    if service_tier:
        out.service_tier = out.attributes[sc.OPENAI_RESPONSE_SERVICE_TIER] = str(service_tier)
    return out


class ChatStreamWatch:
    """A chat (or legacy completions) stream adopted by a framework that records the answer it
    delivered (LangChain's ``ChatOpenAI``: `LLMCall.records_answer`), watched only for what the
    provider alone knows: the response's id, model and service tier (its first chunk), when
    content starts, and the usage (on the last chunk, where servers send it; every chunk is looked
    at only to hide a usage chunk we asked for). The framework builds the answer from the same
    chunks anyway; rebuilding it here, as `ChatStream` does, cost ~1.4 µs a chunk under LangChain
    (0.2 µs warm: it runs cold between chunks; docs/integrations.md)."""

    __slots__ = ("call", "hide_usage", "id", "last", "model", "service_tier", "text_mode", "usage")
    leaves_answer = True  # `LLMCall.leave_answer`: the framework records these facts with its answer

    def __init__(self, call: LLMCall, *, hide_usage: bool, text_mode: bool = False) -> None:
        self.call = call
        self.hide_usage = hide_usage
        self.text_mode = text_mode
        self.id: str | None = None
        self.model: str | None = None
        self.service_tier: str | None = None
        self.usage: Any = None  # a usage chunk we hid
        self.last: Any = None  # the stream's last chunk: its usage (or Groq's ``x_groq`` usage)

    def on_chunk(self, chunk: Any) -> bool:
        self.last = chunk
        if self.id is None:
            self._first(chunk)
        if not self.call.first_content_ns:
            self._watch_content(chunk)
        return self.hide_usage and self._hidden(chunk)

    def chunks(self, source: Iterator[Any], stream: Any) -> Iterator[Any]:
        """`on_chunk` over ``source`` as a generator (see `ChatStream.chunks`): once content has
        started, a chunk costs one generator resume and nothing else (unless a usage chunk we asked
        for has to be hidden)."""
        hide = self.hide_usage
        chunk = None
        try:
            for chunk in source:  # up to the first content
                started = False
                try:
                    if stream._self_waiting:
                        stream._self_first_chunk()
                        self._first(chunk)
                    started = self._watch_content(chunk)
                    if hide and self._hidden(chunk):
                        continue
                except Exception as exc:  # llmtrace's own failure: the caller still gets the chunk
                    internal_error("stream.chunk", exc)
                yield chunk
                if started:
                    break
            if hide:
                for chunk in source:
                    try:
                        if self._hidden(chunk):
                            continue
                    except Exception as exc:
                        internal_error("stream.chunk", exc)
                    yield chunk
            else:
                for chunk in source:
                    yield chunk
        except GeneratorExit:
            raise  # (as `_self_chunks`: the span stays open for `close`/`__del__`)
        except BaseException as exc:
            self.last = chunk
            stream._self_error(exc)
            raise
        self.last = chunk
        stream._self_end(cancelled=False)

    def _first(self, chunk: Any) -> None:
        self.id, self.model = chunk.id, chunk.model
        self.service_tier = getattr(chunk, "service_tier", None)

    def _watch_content(self, chunk: Any) -> bool:
        """Whether ``chunk`` starts the content (text or a tool call); times it if so."""
        for choice in chunk.choices or ():
            if choice is None:
                continue
            if self.text_mode:
                started = bool(choice.text)
            else:
                delta = choice.delta
                started = delta is not None and bool(delta.content or delta.refusal or delta.tool_calls)
            if started:
                if not self.call.first_content_ns:
                    self.call.first_content_ns = time.perf_counter_ns()
                return True
        return False

    def _hidden(self, chunk: Any) -> bool:
        """Whether ``chunk`` is the usage-only chunk we asked for (kept, not passed on)."""
        usage = chunk.usage
        if usage is None or chunk.choices:
            return False
        self.usage = usage
        return True

    def outcome(self) -> Outcome:
        last, usage = self.last, self.usage
        if usage is None and last is not None:
            usage = getattr(last, "usage", None)
        vendor = groq_usage(last) if usage is None and last is not None else None
        return _stream_facts(self.id, self.model, self.service_tier, chat_usage(usage) or vendor)


_CONTENT_EVENTS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.reasoning_text.delta",
        "response.reasoning_summary_text.delta",
    }
)


class ResponsesStream:
    """Accumulates Responses API stream events; the terminal event carries the full response."""

    __slots__ = ("call", "chars", "final", "id", "model", "texts")

    def __init__(self, call: LLMCall) -> None:
        self.call = call
        self.final: Any = None
        self.id: str | None = None
        self.model: str | None = None
        self.chars = 0
        self.texts: list[str] = []

    def on_chunk(self, event: Any) -> bool:
        kind = event.type
        if kind in _CONTENT_EVENTS:
            if not self.call.first_content_ns:
                self.call.first_content_ns = time.perf_counter_ns()
            if kind != "response.reasoning_text.delta" and kind != "response.reasoning_summary_text.delta":
                delta = event.delta or ""  # (``null`` in a malformed stream)
                self.chars += len(delta)
                if kind != "response.function_call_arguments.delta":
                    self.texts.append(delta)
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self.final = event.response
        elif kind == "response.created" and event.response is not None:
            self.id, self.model = event.response.id, event.response.model
        return False

    def outcome(self) -> Outcome:
        if self.final is not None:
            return responses_outcome(self.call, self.final)
        out = Outcome(response_id=self.id, response_model=self.model, output_chars=self.chars)
        out.finish_reasons = ["error"]
        if self.call.capture:
            out.output_messages = [
                {"role": "assistant", "parts": _text_parts("".join(self.texts)), "finish_reason": "error"}
            ]
        return out
