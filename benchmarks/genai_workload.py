"""Realistic GenAI span batches for the ingest benchmark: content-carrying spans of ~2.1 KB each.

The shape of issue 14's independent load sender (OTel GenAI semantic conventions v1.41):
``chat {model}`` CLIENT spans with 14 attributes, among them ``gen_ai.input.messages`` (a system
and a user message, ~1 KB of JSON) and ``gen_ai.output.messages`` (~500 B); 1% of calls fail; one
trace in 50 is an agent trace, ``invoke_agent {agent}`` over two chats and one ``execute_tool``.
``capture_content=True`` is the SDK's default, so these are the spans a store normally receives.

Building 1M such spans as protobuf messages would take minutes and ~2 GB, so :class:`GenAiBatches`
builds a few dozen distinct template batches once and stamps fresh ids and a shifted time into a
copy of one for every batch sent (:meth:`GenAiBatches.body`, ~2 ms): every span the server sees is
new, its content is one of ``templates * 512`` distinct texts (drawn from a 4,000-word
vocabulary), and copies of one text start at different times, so the store's sort (which ends in
``start_time``) does not put them side by side, where compression would find them for free.
"""

from __future__ import annotations

import json
import random
from typing import Any

BATCH = 512
MODELS = [("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("anthropic", "claude-3-5-haiku-20241022")]
AGENT_TRACE_EVERY = 50  # one trace in 50 is an agent trace of 4 spans
ERROR_RATE = 0.01
_ID_SALT = 4  # bytes of every trace and span id overwritten per batch (the batch's number)
_WINDOW_NS = 600 * 10**9  # spans start within the last 10 minutes


def _vocabulary(rng: random.Random, size: int = 4000) -> list[str]:
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights = [12, 9, 8, 8, 7, 7, 6, 6, 6, 4, 4, 3, 3, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1]
    return ["".join(rng.choices(letters, weights, k=rng.randint(2, 10))) for _ in range(size)]


def _text(rng: random.Random, words: list[str], chars: int) -> str:
    out: list[str] = []
    length = 0
    while length < chars:
        sentence = " ".join(rng.choices(words, k=rng.randint(6, 18))).capitalize() + "."
        out.append(sentence)
        length += len(sentence) + 1
    return " ".join(out)[:chars]


class GenAiBatches:
    """OTLP protobuf bodies of :data:`BATCH` realistic GenAI spans, each with ids of its own."""

    def __init__(self, seed: int, now_ns: int, templates: int = 32) -> None:
        rng = random.Random(seed)
        self._words = _vocabulary(rng)
        self._templates: list[tuple[bytes, list[int], list[tuple[int, int]], int]] = [
            self._template(rng, now_ns) for _ in range(templates)
        ]

    def llm_spans(self, seq: int) -> int:
        """How many spans of batch ``seq`` are LLM calls (the chats; not agents or tools)."""
        return self._templates[seq % len(self._templates)][3]

    def body(self, seq: int) -> bytes:
        """Batch number ``seq``: template ``seq % templates`` with ``seq`` stamped into every id."""
        template, offsets, times, _ = self._templates[seq % len(self._templates)]
        body = bytearray(template)
        salt = seq.to_bytes(_ID_SALT, "big")
        for offset in offsets:
            body[offset : offset + _ID_SALT] = salt
        shift = seq * 7_919_000_017 % _WINDOW_NS  # the same for every span of the batch
        for offset, time_ns in times:
            body[offset : offset + 8] = (time_ns - shift).to_bytes(8, "little")
        return bytes(body)

    def _template(
        self, rng: random.Random, now_ns: int
    ) -> tuple[bytes, list[int], list[tuple[int, int]], int]:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.extend(
            [
                _kv("service.name", rng.choice(["checkout", "support-bot", "search"])),
                _kv("deployment.environment.name", "prod"),
                _kv("telemetry.sdk.language", "python"),
            ]
        )
        ss = rs.scope_spans.add()
        ss.scope.name = "opentelemetry.instrumentation.openai_v2"
        ids: list[bytes] = []
        traces = 0
        while len(ss.spans) < BATCH:
            traces += 1
            agent = traces % AGENT_TRACE_EVERY == 0 and BATCH - len(ss.spans) >= 4
            self._trace(rng, ss.spans, now_ns, ids, agent)
        body = request.SerializeToString()
        offsets: list[int] = []
        for ident in ids:  # every occurrence: a trace id in each of its spans, a span id as parent
            at = body.find(ident)
            while at >= 0:
                offsets.append(at)
                at = body.find(ident, at + 1)
        times: list[tuple[int, int]] = []  # (offset, value) of each fixed64 start and end time
        for span in ss.spans:
            for time_ns in (span.start_time_unix_nano, span.end_time_unix_nano):
                at = body.find(time_ns.to_bytes(8, "little"))
                if at < 0 or body.find(time_ns.to_bytes(8, "little"), at + 1) >= 0:
                    raise RuntimeError("a span time is not unique in its template")
                times.append((at, time_ns))
        chats = sum(1 for span in ss.spans if span.name.startswith("chat "))
        return body, offsets, times, chats

    def _trace(self, rng: random.Random, spans: Any, now_ns: int, ids: list[bytes], agent: bool) -> None:
        from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

        trace_id = rng.randbytes(16)
        ids.append(trace_id)
        start = now_ns - rng.randrange(_WINDOW_NS) + rng.randrange(10**6)  # ns digits: unique bytes

        def span(name: str, kind: Any, attrs: dict[str, Any], begin: int, end: int, parent: bytes) -> Span:
            span_id = rng.randbytes(8)
            ids.append(span_id)
            failed = rng.random() < ERROR_RATE
            if failed:
                attrs["error.type"] = rng.choice(["RateLimitError", "APITimeoutError", "InternalServerError"])
            return Span(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=parent,
                name=name,
                kind=kind,
                start_time_unix_nano=begin,
                end_time_unix_nano=end,
                attributes=[_kv(k, v) for k, v in attrs.items()],
                status=Status(code=Status.STATUS_CODE_ERROR, message="provider error") if failed else None,
            )

        if not agent:
            spans.append(self._chat(rng, span, start, b""))
            return
        agent_name = rng.choice(["triage", "researcher", "booking"])
        root = span(
            f"invoke_agent {agent_name}",
            Span.SPAN_KIND_INTERNAL,
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": agent_name,
                "gen_ai.provider.name": "openai",
                "user.id": f"user-{rng.randrange(1000)}",
                "session.id": f"session-{rng.randrange(5000)}",
            },
            start,
            start + 9 * 10**9,
            b"",
        )
        spans.append(root)
        spans.append(self._chat(rng, span, start + 10**6, root.span_id))
        tool = rng.choice(["get_weather", "search_flights", "lookup_order"])
        spans.append(
            span(
                f"execute_tool {tool}",
                Span.SPAN_KIND_INTERNAL,
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": tool,
                    "gen_ai.tool.call.id": f"call_{rng.randrange(10**9)}",
                    "gen_ai.tool.type": "function",
                },
                start + 4 * 10**9,
                start + 4 * 10**9 + rng.randrange(5, 500) * 10**6,
                root.span_id,
            )
        )
        spans.append(self._chat(rng, span, start + 5 * 10**9, root.span_id))

    def _chat(self, rng: random.Random, span: Any, start: int, parent: bytes) -> Any:
        from opentelemetry.proto.trace.v1.trace_pb2 import Span

        provider, model = rng.choice(MODELS)
        system = _text(rng, self._words, rng.randint(200, 400))
        user = _text(rng, self._words, rng.randint(450, 750))
        answer = _text(rng, self._words, rng.randint(380, 520))
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.response.model": model,
            "gen_ai.response.id": f"chatcmpl-{rng.randrange(16**12):012x}",
            "gen_ai.request.temperature": rng.choice([0.0, 0.2, 0.7]),
            "gen_ai.usage.input_tokens": rng.randrange(50, 4000),
            "gen_ai.usage.output_tokens": rng.randrange(1, 800),
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.input.messages": json.dumps(
                [
                    {"role": "system", "parts": [{"type": "text", "content": system}]},
                    {"role": "user", "parts": [{"type": "text", "content": user}]},
                ]
            ),
            "gen_ai.output.messages": json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": answer}],
                        "finish_reason": "stop",
                    }
                ]
            ),
            "server.address": "api.openai.com" if provider == "openai" else "api.anthropic.com",
            "user.id": f"user-{rng.randrange(1000)}",
            "session.id": f"session-{rng.randrange(5000)}",
        }
        end = start + rng.randrange(200, 4000) * 10**6
        return span(f"chat {model}", Span.SPAN_KIND_CLIENT, attrs, start, end, parent)


def _kv(key: str, value: Any) -> Any:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, list):
        v = AnyValue()
        v.array_value.values.extend(AnyValue(string_value=x) for x in value)
        return KeyValue(key=key, value=v)
    return KeyValue(key=key, value=AnyValue(string_value=value))
