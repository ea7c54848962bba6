"""Per-call overhead of llmtrace vs no instrumentation vs the official OTel OpenAI instrumentation.

Three long-lived worker processes (``none``, ``llmtrace``, ``official``) each hold a real
``openai.OpenAI`` client talking to an in-process fake endpoint (httpx2 ``MockTransport``), so the
measured time is the SDK plus the instrumentation, no network. The parent drives them in
interleaved rounds (rotating order) so drift of the machine hits every variant alike, then
reports medians per call and the added time of each instrumentation over the uninstrumented one.

Both instrumentations record content (llmtrace ``capture_content=True`` with cost from the price
book; official ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY``) and export to an
in-memory exporter through their normal pipelines (llmtrace's queue, the SDK's
``BatchSpanProcessor``). Modes: a non-streaming chat call and a 50-chunk stream read to the end.

Run: ``python benchmarks/overhead.py [--rounds 7] [--calls 300]``; ``main()`` returns the dict.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

VARIANTS = ("none", "llmtrace", "official")
MODES = ("nonstream", "stream50")
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hello to the world."},
]


def _payloads() -> tuple[dict[str, Any], bytes]:
    from openai.types.chat import ChatCompletion

    completion = ChatCompletion.model_validate(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "Hello, world! " * 8},
                }
            ],
            "usage": {"prompt_tokens": 25, "completion_tokens": 30, "total_tokens": 55},
        }
    ).model_dump(mode="json")
    chunk = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini-2024-07-18",
    }
    events = [
        {
            **chunk,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    ]
    events += [
        {**chunk, "choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}]}
        for i in range(48)
    ]
    events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return completion, body.encode()


def _setup(variant: str) -> Any:
    if variant == "official":
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter(), max_queue_size=65536))
        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif variant == "llmtrace":
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        import llmtrace

        llmtrace.instrument(
            exporter=InMemorySpanExporter(), service_name="bench", capture_content=True, queue_size=65536
        )
    import httpx2
    import openai

    completion, stream_body = _payloads()

    def handler(request: httpx2.Request) -> httpx2.Response:
        if b'"stream":true' in request.content or b'"stream": true' in request.content:
            return httpx2.Response(200, content=stream_body, headers={"content-type": "text/event-stream"})
        return httpx2.Response(200, json=completion)

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return openai.OpenAI(api_key="sk-bench", http_client=http, max_retries=0)


def _one(client: Any, mode: str) -> int:
    start = time.perf_counter_ns()
    if mode == "nonstream":
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2)
    else:
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            pass
    return time.perf_counter_ns() - start


def _worker(variant: str) -> None:
    """Line protocol on stdin/stdout: ``<mode> <calls>`` -> JSON list of per-call nanoseconds."""
    client = _setup(variant)
    for mode in MODES:  # warm-up: imports, caches, first price lookup
        for _ in range(50):
            _one(client, mode)
    print("ready", flush=True)
    for line in sys.stdin:
        mode, calls = line.split()
        print(json.dumps([_one(client, mode) for _ in range(int(calls))]), flush=True)
    if variant == "llmtrace":
        import llmtrace

        llmtrace.shutdown()


def _spawn(variant: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--worker", variant],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "ready":
        proc.kill()
        raise RuntimeError(f"benchmark worker {variant!r} failed to start")
    return proc


def main(rounds: int = 7, calls: int = 300) -> dict[str, Any]:
    """Run the benchmark; returns medians (µs) and the added time of each instrumentation."""
    workers = {v: _spawn(v) for v in VARIANTS}
    samples: dict[str, dict[str, list[int]]] = {m: {v: [] for v in VARIANTS} for m in MODES}
    try:
        for r in range(rounds):
            for mode in MODES:
                order = VARIANTS[r % 3 :] + VARIANTS[: r % 3]  # rotate who goes first
                for variant in order:
                    proc = workers[variant]
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write(f"{mode} {calls}\n")
                    proc.stdin.flush()
                    samples[mode][variant] += json.loads(proc.stdout.readline())
    finally:
        for proc in workers.values():
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=30)
    results: dict[str, Any] = {"rounds": rounds, "calls_per_round": calls}
    for mode in MODES:
        med = {v: statistics.median(samples[mode][v]) / 1000 for v in VARIANTS}
        ours, official = med["llmtrace"] - med["none"], med["official"] - med["none"]
        results[mode] = {
            "n_per_variant": len(samples[mode]["none"]),
            "median_us": {v: round(med[v], 1) for v in VARIANTS},
            "llmtrace_added_us": round(ours, 1),
            "official_added_us": round(official, 1),
            "llmtrace_vs_official": round(ours / official, 3) if official > 0 else None,
            "goal_met": official > 0 and ours <= official / 2,
        }
    return results


def _print(results: dict[str, Any]) -> None:
    print(
        f"overhead per call, medians over {results['rounds']} interleaved rounds x {results['calls_per_round']} calls"
    )
    for mode in MODES:
        r = results[mode]
        m = r["median_us"]
        print(
            f"  {mode:10s} none {m['none']:8.1f} µs | llmtrace {m['llmtrace']:8.1f} µs (+{r['llmtrace_added_us']:.1f}) | "
            f"official {m['official']:8.1f} µs (+{r['official_added_us']:.1f}) | ratio {r['llmtrace_vs_official']} "
            f"| goal (<= 0.5) {'met' if r['goal_met'] else 'NOT met'}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=VARIANTS)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker)
    else:
        _print(main(args.rounds, args.calls))
