"""CPU per span of decoding the bodies llmtrace's own SDK exports, this tree against a baseline tree.

llmtrace's SDK puts its own names on its spans (``llmtrace.span.kind``, ``llmtrace.input`` /
``llmtrace.output``, ``llmtrace.ttft_ms``, ``llmtrace.output.chars``, ``llmtrace.usage.source``,
``llmtrace.status``, ``llmtrace.tags``, ``gen_ai.system_instructions``): a C reader
(``llmtrace_server.cwire``) that declines them costs its attempt and then the whole Python path.
Each tree's compiled wheel runs in a long-lived subprocess (:mod:`benchmarks.decode`'s workers,
taking turns in short blocks); each block times, per span:

* ``c``: the C reader's attempt alone (a decline returns None: then this is the wasted cost);
* ``python``: the Python path alone (``ingest.prepare(otlp.decode(body))``);
* ``whole``: ``ingest.decode_batch``, what a decode worker runs (the C reader, or its attempt
  and then the Python path).

The bodies: 512 spans each, as the SDK sets them on an app's requests (one ``@trace`` span with
captured arguments and result, its chat call with a system prompt, messages, usage and, for one
call in two, a stream's TTFT; one request in three also runs a tool; one in four is tagged; one
stream in twenty is cancelled). ~1.5-2.5 KB of content per span.

Run: ``python benchmarks/decode_sdk.py --baseline /path/to/other/tree [--blocks 15] [--bodies 10]
[--work DIR]``.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest  # benchmarks/ingest.py: its batch size
from decode import run_blocks, start_workers  # benchmarks/decode.py: the A/B's worker processes

FIGURES = ("c", "python", "whole")

_WORKER = """
import sys, time, pickle
from llmtrace_server import otlp, ingest, cwire
import llmtrace.store.rows as rows
from llmtrace_server.gc_tuning import tune_gc
assert not rows.__file__.endswith(".py"), rows.__file__
assert cwire.READER is not None, "no compiled C reader in this wheel"
tune_gc()  # as a decode worker does
stdin = sys.stdin.buffer
bodies = pickle.loads(stdin.read(int(stdin.readline())))
print("ready", flush=True)
for line in stdin:
    spans = 0
    start = time.process_time()
    read = sum(cwire.READER.span_table(body, "bench") is not None for body in bodies)
    attempted = time.process_time()
    for body in bodies:
        spans += len(ingest.prepare(otlp.decode(body, otlp.PROTOBUF), "bench").spans)
    python = time.process_time()
    for body in bodies:
        ingest.decode_batch(body, otlp.PROTOBUF, None, "bench", 1 << 30)
    whole = time.process_time()
    us = 1e6 / spans
    print((attempted - start) * us, (python - attempted) * us, (whole - python) * us, read, flush=True)
"""

_WORDS = [
    "the",
    "of",
    "a",
    "to",
    "in",
    "and",
    "is",
    "for",
    "on",
    "with",
    "that",
    "as",
    "it",
    "be",
    "by",
    "this",
    "are",
    "or",
    "from",
    "at",
    "an",
    "was",
    "we",
]


def _text(rng: random.Random, size: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(size // 4))[:size]


def _kv(key: str, value: Any) -> Any:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

    if isinstance(value, bool):
        any_value = AnyValue(bool_value=value)
    elif isinstance(value, int):
        any_value = AnyValue(int_value=value)
    elif isinstance(value, float):
        any_value = AnyValue(double_value=value)
    elif isinstance(value, list):
        any_value = AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=v) for v in value]))
    else:
        any_value = AnyValue(string_value=value)
    return KeyValue(key=key, value=any_value)


def _requests(rng: random.Random, now_ns: int) -> Any:
    """The spans of one app request, as llmtrace's SDK sets them, one after another."""
    trace_id = rng.randbytes(16)
    root_id = rng.randbytes(8)
    start = now_ns - rng.randrange(60, 3600) * 10**9
    tagged = rng.random() < 0.25
    question = _text(rng, rng.randrange(300, 900))
    answer = _text(rng, rng.randrange(300, 800))
    root: dict[str, Any] = {
        "llmtrace.span.kind": "span",
        "code.function.name": "app.handlers.answer",
        "llmtrace.input": json.dumps({"question": question, "user": "u-17"}),
        "llmtrace.output": json.dumps(answer),
        "llmtrace.metadata.team": "search",
    }
    if tagged:
        root["llmtrace.tags"] = ["beta", "eu"]
    stream = rng.random() < 0.5
    output_messages = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}])
    llm: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "llmtrace.span.kind": "llm",
        "gen_ai.request.model": "gpt-4o-mini",
        "server.address": "api.openai.com",
        "server.port": 443,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 512,
        "openai.api.type": "chat_completions",
        "gen_ai.request.stream": stream,
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": _text(rng, 200)}]),
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": question + _text(rng, 600)}]}]
        ),
        "gen_ai.response.id": "chatcmpl-" + rng.randbytes(12).hex(),
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.finish_reasons": ["stop"],
        "llmtrace.usage.source": "reported",
        "gen_ai.usage.input_tokens": rng.randrange(100, 2000),
        "gen_ai.usage.output_tokens": rng.randrange(20, 400),
        "gen_ai.usage.cache_read.input_tokens": 0,
        "llmtrace.output.chars": len(answer),
        "gen_ai.output.messages": output_messages,
    }
    if stream:
        llm["gen_ai.response.time_to_first_chunk"] = rng.uniform(0.1, 0.9)
        llm["llmtrace.ttft_ms"] = rng.uniform(100.0, 900.0)
        if rng.random() < 0.1:
            llm["llmtrace.status"] = "cancelled"
    spans = [(root_id, b"", "answer", root, 900), (rng.randbytes(8), root_id, "chat gpt-4o-mini", llm, 700)]
    if rng.random() < 1 / 3:
        tool = {
            "llmtrace.span.kind": "tool",
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "search",
            "llmtrace.input": json.dumps({"query": question[:200]}),
            "llmtrace.output": json.dumps([_text(rng, 300)]),
        }
        spans.append((rng.randbytes(8), root_id, "execute_tool search", tool, 100))
    return trace_id, start, spans


def sdk_body(seed: int, now_ns: int) -> bytes:
    """One OTLP body of :data:`ingest.BATCH` spans as llmtrace's SDK exports them."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    rng = random.Random(seed)
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        [_kv("service.name", "checkout-api"), _kv("telemetry.sdk.name", "opentelemetry")]
    )
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "llmtrace"
    while len(scope.spans) < ingest.BATCH:
        trace_id, start, spans = _requests(rng, now_ns)
        for span_id, parent, name, attrs, duration_ms in spans[: ingest.BATCH - len(scope.spans)]:
            scope.spans.append(
                Span(
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_span_id=parent,
                    name=name,
                    kind=Span.SPAN_KIND_CLIENT if parent else Span.SPAN_KIND_INTERNAL,
                    start_time_unix_nano=start,
                    end_time_unix_nano=start + duration_ms * 1_000_000,
                    attributes=[_kv(k, v) for k, v in attrs.items()],
                    status=Status(code=Status.STATUS_CODE_OK),
                )
            )
    return request.SerializeToString()


def main(baseline: Path, blocks: int, bodies: int, work: Path | None) -> dict[str, Any]:
    """Alternate ``blocks`` timed blocks of ``bodies`` SDK bodies between the two compiled builds."""
    if work is None:
        with tempfile.TemporaryDirectory(prefix="llmtrace-decode-sdk-") as temp:
            return main(baseline, blocks, bodies, Path(temp))
    now_ns = time.time_ns()
    payload = [sdk_body(seed, now_ns) for seed in range(bodies)]
    data = pickle.dumps(payload)
    figures: dict[str, dict[str, list[float]]] = {}
    read: dict[str, int] = {}
    for name, lines in run_blocks(start_workers(_WORKER, data, baseline, work), blocks).items():
        figures[name] = {figure: [line[i] for line in lines] for i, figure in enumerate(FIGURES)}
        read[name] = int(lines[-1][3])
    medians = {
        name: {figure: round(statistics.median(v), 2) for figure, v in values.items()}
        for name, values in figures.items()
    }
    return {
        "spans_per_block": bodies * ingest.BATCH,
        "bytes_per_span": round(sum(map(len, payload)) / (bodies * ingest.BATCH)),
        "blocks": blocks,
        "bodies_read_in_c": {name: f"{count}/{bodies}" for name, count in read.items()},
        "cpu_us_per_span": medians,
        "whole_vs_python": {
            name: round(values["whole"] / values["python"], 3) for name, values in medians.items()
        },
        "this_vs_baseline_whole": round(medians["this"]["whole"] / medians["baseline"]["whole"], 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another llmtrace source tree")
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--bodies", type=int, default=10, help="bodies of 512 spans per block")
    parser.add_argument("--work", type=Path, help="build directory to keep and reuse (default: temporary)")
    args = parser.parse_args()
    print(json.dumps(main(args.baseline, args.blocks, args.bodies, args.work), indent=2))
