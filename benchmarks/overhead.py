"""Per-call overhead of llmtrace vs no instrumentation vs the official OTel OpenAI instrumentation.

Three worker processes (``none``, ``llmtrace``, ``official``, fresh ones every round) each hold a real
``openai.OpenAI`` client talking to an in-process fake endpoint (httpx2 ``MockTransport``), so the
measured time is the SDK plus the instrumentation, no network. The parent drives them in
interleaved rounds (rotating order) so drift of the machine hits every variant alike, then
reports medians per call and the added time of each instrumentation over the uninstrumented one.

Each call is timed twice: wall time and the worker's process CPU time (all its threads, so export
work counts). On a shared machine CPU time is the trustworthy figure: a neighbour taking the core
mid-call inflates wall time but not CPU time. Per-round medians are reported next to the pooled
ones, and garbage collections and net allocated blocks per call next to the times (allocation
pressure shows up as gen-0 collections that the uninstrumented calls then pay for too).

Both instrumentations record content (llmtrace ``capture_content=True`` with cost from the price
book; official ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY``) and export to an
in-memory exporter through their normal pipelines (llmtrace's queue, the SDK's
``BatchSpanProcessor``). Modes: a non-streaming chat call and a 50-chunk stream read to the end.

Run: ``python benchmarks/overhead.py [--rounds 7] [--calls 300]``; ``main()`` returns the dict.
"""

from __future__ import annotations

import argparse
import gc
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


class _Exporter:
    """The in-memory exporter each variant exports to; emptied between batches (outside timing).

    A real exporter lets go of spans once sent; keeping thousands of finished spans alive would
    make every later garbage collection slower and charge that to whichever variant retains more.
    """

    exporter: Any = None


def _setup(variant: str) -> Any:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    _Exporter.exporter = InMemorySpanExporter()
    if variant == "official":
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(_Exporter.exporter, max_queue_size=65536))
        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif variant == "llmtrace":
        import llmtrace

        llmtrace.instrument(
            exporter=_Exporter.exporter, service_name="bench", capture_content=True, queue_size=65536
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


def _call(client: Any, mode: str) -> None:
    if mode == "nonstream":
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2)
    else:
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            pass


def _batch(client: Any, mode: str, calls: int) -> dict[str, Any]:
    """``calls`` calls: per-call wall and process-CPU nanoseconds, GC collections, net blocks.

    CPU time (``process_time_ns``: every thread of the worker, so export work counts too) is what
    the instrumentation itself burns; unlike wall time it does not grow when other processes on
    the machine take the core away mid-call.
    """
    wall: list[int] = []
    cpu: list[int] = []
    cpu_now, wall_now = time.process_time_ns, time.perf_counter_ns
    gc_before = [g["collections"] for g in gc.get_stats()]
    blocks_before = sys.getallocatedblocks()
    for _ in range(calls):
        c0 = cpu_now()
        w0 = wall_now()
        _call(client, mode)
        wall.append(wall_now() - w0)
        cpu.append(cpu_now() - c0)
    blocks = sys.getallocatedblocks() - blocks_before
    gcs = [after["collections"] - before for after, before in zip(gc.get_stats(), gc_before, strict=True)]
    _Exporter.exporter.clear()
    return {"wall": wall, "cpu": cpu, "gc": gcs, "blocks": blocks}


def _worker(variant: str) -> None:
    """Line protocol on stdin/stdout: ``<mode> <calls>`` -> JSON of one `_batch`."""
    client = _setup(variant)
    for mode in MODES:  # warm-up: imports, caches, first price lookup
        for _ in range(50):
            _call(client, mode)
    _Exporter.exporter.clear()
    print("ready", flush=True)
    for line in sys.stdin:
        mode, calls = line.split()
        print(json.dumps(_batch(client, mode, int(calls))), flush=True)
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


def _ratio(ours: float, official: float) -> float | None:
    return round(ours / official, 3) if official > 0 else None


def _summary(batches: dict[str, list[dict[str, Any]]], metric: str) -> dict[str, Any]:
    """Medians of one metric (``wall``/``cpu``): pooled over every call, and per round.

    The per-round figure (median over rounds of each round's added time) is the robust one on a
    shared machine: a round is a few seconds, so a neighbour's burst spoils one round, not all.
    """
    med = {v: statistics.median(x for b in batches[v] for x in b[metric]) / 1000 for v in VARIANTS}
    per_round: dict[str, list[float]] = {"llmtrace": [], "official": []}
    for r in range(len(batches["none"])):
        base = statistics.median(batches["none"][r][metric])
        for v in per_round:
            per_round[v].append((statistics.median(batches[v][r][metric]) - base) / 1000)
    ours_r, official_r = statistics.median(per_round["llmtrace"]), statistics.median(per_round["official"])
    return {
        "median_us": {v: round(med[v], 1) for v in VARIANTS},
        "llmtrace_added_us": round(med["llmtrace"] - med["none"], 1),
        "official_added_us": round(med["official"] - med["none"], 1),
        "round_median_llmtrace_added_us": round(ours_r, 1),
        "round_median_official_added_us": round(official_r, 1),
        "round_median_ratio": _ratio(ours_r, official_r),
    }


def main(rounds: int = 7, calls: int = 300) -> dict[str, Any]:
    """Run the benchmark; returns medians (µs, wall and CPU) and the added time of each instrumentation.

    Keys per mode: ``median_us``/``llmtrace_added_us``/``official_added_us``/``llmtrace_vs_official``/
    ``goal_met`` (wall time, pooled medians), the same under ``cpu`` (process CPU time), per-round
    medians (``round_median_*``), and ``gc_per_1000_calls``/``net_blocks_per_call`` per variant.
    """
    batches: dict[str, dict[str, list[dict[str, Any]]]] = {m: {v: [] for v in VARIANTS} for m in MODES}
    for r in range(rounds):
        # Fresh workers every round: one process can be lastingly faster or slower than another
        # (memory layout, which core it lands on), and that luck must not stick to one variant.
        workers = {v: _spawn(v) for v in VARIANTS}
        try:
            for mode in MODES:
                order = VARIANTS[r % 3 :] + VARIANTS[: r % 3]  # rotate who goes first
                for variant in order:
                    proc = workers[variant]
                    assert proc.stdin is not None and proc.stdout is not None
                    proc.stdin.write(f"{mode} {calls}\n")
                    proc.stdin.flush()
                    batches[mode][variant].append(json.loads(proc.stdout.readline()))
        finally:
            for proc in workers.values():
                if proc.stdin:
                    proc.stdin.close()
                proc.wait(timeout=30)
    results: dict[str, Any] = {"rounds": rounds, "calls_per_round": calls}
    for mode in MODES:
        wall, cpu = _summary(batches[mode], "wall"), _summary(batches[mode], "cpu")
        ours, official = wall["llmtrace_added_us"], wall["official_added_us"]
        cpu_ours, cpu_official = cpu["llmtrace_added_us"], cpu["official_added_us"]
        n_calls = rounds * calls
        results[mode] = {
            "n_per_variant": n_calls,
            **wall,
            "llmtrace_vs_official": _ratio(ours, official),
            "goal_met": official > 0 and ours <= official / 2,
            "cpu": {
                **cpu,
                "llmtrace_vs_official": _ratio(cpu_ours, cpu_official),
                "goal_met": cpu_official > 0 and cpu_ours <= cpu_official / 2,
            },
            "gc_per_1000_calls": {
                v: [round(sum(b["gc"][g] for b in batches[mode][v]) * 1000 / n_calls, 1) for g in range(3)]
                for v in VARIANTS
            },
            "net_blocks_per_call": {
                v: round(sum(b["blocks"] for b in batches[mode][v]) / n_calls, 1) for v in VARIANTS
            },
        }
    return results


def _print(results: dict[str, Any]) -> None:
    print(
        f"overhead per call, medians over {results['rounds']} interleaved rounds x {results['calls_per_round']} calls"
    )
    for mode in MODES:
        r = results[mode]
        for label, s in (("wall", r), ("cpu", r["cpu"])):
            m = s["median_us"]
            print(
                f"  {mode:10s} {label:4s} none {m['none']:8.1f} µs | llmtrace {m['llmtrace']:8.1f} µs "
                f"(+{s['llmtrace_added_us']:.1f}) | official {m['official']:8.1f} µs (+{s['official_added_us']:.1f}) "
                f"| ratio {s['llmtrace_vs_official']} (per-round median {s['round_median_ratio']}) "
                f"| goal (<= 0.5) {'met' if s['goal_met'] else 'NOT met'}"
            )
        print(
            f"  {mode:10s} gc gen0/1/2 per 1000 calls {r['gc_per_1000_calls']} | net blocks/call {r['net_blocks_per_call']}"
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
