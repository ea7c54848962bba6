"""Per-call overhead of llmtrace vs no instrumentation vs the official OTel OpenAI instrumentation.

Every round is a fresh worker process holding one real ``openai.OpenAI`` client that talks to an
in-process fake endpoint (httpx2 ``MockTransport``), so the measured time is the SDK plus the
instrumentation, no network. Inside the worker the three variants (``none``, ``llmtrace``,
``official``) take turns in short blocks of calls, in rotating order: before a block its
instrumentation is switched on (``llmtrace.instrument()`` / ``OpenAIInstrumentor().instrument()``),
after it switched off again (``uninstrument()``), outside the timing. So all variants share one
process, one client, one heap and one stretch of machine time: slow drift of the machine (a
neighbour's burst, frequency changes) and the luck of a process's memory layout hit all three
alike, which separate processes per variant could not guarantee (their medians differed by
~200 µs on a 5 ms stream with identical code).

Each call is timed twice: wall time and the process CPU time (all its threads, so export work
counts). On a shared machine CPU time is the trustworthy figure: a neighbour taking the core
mid-call inflates wall time but not CPU time. Reported: pooled medians per variant, the added time
of each instrumentation over ``none`` and their ratio, per-round medians, and the mean process CPU
per call including the background export work (which a median call does not overlap), with
garbage collections and net allocated blocks per call beside them.

Both instrumentations record content (llmtrace ``capture_content=True`` with cost from the price
book; official ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY``) and export to an
in-memory exporter through their normal pipelines (llmtrace's queue, the SDK's
``BatchSpanProcessor``). Modes: a non-streaming chat call and a 50-chunk stream read to the end.

After switching on, every variant makes ``--untimed`` (default 1) untimed calls and its export
is flushed before the timed calls, as in ``overhead_frameworks.py``: llmtrace starts its export
thread at the first span after ``instrument()`` (once per process in an app, once per block here),
and that thread's start would otherwise land in the first timed call. Before the untimed calls, a
young collection, for every variant alike, so the collection that switching on sets off does not
fall into a timed call.

Run: ``python benchmarks/overhead.py [--rounds 5] [--blocks 40] [--calls 20] [--untimed 1]``;
``main()`` returns the dict.
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
from collections.abc import Callable
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


class _Variants:
    """The three variants inside one worker: switch one on, run calls, flush, switch it off.

    Both instrumentations export to one in-memory exporter, emptied between blocks (outside the
    timing): a real exporter lets go of spans once sent, and keeping thousands of finished spans
    alive would make every later garbage collection slower for whichever variant comes next.
    Before a variant is switched off its queued spans are flushed (timed separately as export CPU),
    so no variant's background export spills into another's block.
    """

    def __init__(self) -> None:
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        import llmtrace

        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(self.exporter, max_queue_size=65536))
        official = OpenAIInstrumentor()

        def on_llmtrace() -> None:
            llmtrace.instrument(
                exporter=self.exporter, service_name="bench", capture_content=True, queue_size=65536
            )

        def off_llmtrace() -> None:
            llmtrace.flush()
            llmtrace.uninstrument()

        def off_official() -> None:
            provider.force_flush()
            official.uninstrument()

        self.switches: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
            "none": (lambda: None, lambda: None),
            "llmtrace": (on_llmtrace, off_llmtrace),
            "official": (lambda: official.instrument(tracer_provider=provider), off_official),
        }
        # Each variant's export flushed after the untimed calls (its background thread up and idle).
        self.flushes: dict[str, Callable[[], object]] = {
            "none": lambda: None,
            "llmtrace": llmtrace.flush,
            "official": provider.force_flush,
        }
        self.client = _client()

    def block(self, variant: str, mode: str, calls: int, untimed: int = 1) -> dict[str, Any]:
        """``untimed`` untimed calls with ``variant`` on, its export flushed, then ``calls`` timed
        calls: per-call wall/CPU ns, export CPU, GCs, blocks."""
        on, off = self.switches[variant]
        on()
        gc.collect(0)  # what switching on left to collect, outside the timing (overhead_frameworks.py)
        for _ in range(untimed):
            _call(self.client, mode)
        self.flushes[variant]()
        wall: list[int] = []
        cpu: list[int] = []
        cpu_now, wall_now = time.process_time_ns, time.perf_counter_ns
        gc_before = [g["collections"] for g in gc.get_stats()]
        blocks_before = sys.getallocatedblocks()
        for _ in range(calls):
            c0 = cpu_now()
            w0 = wall_now()
            _call(self.client, mode)
            wall.append(wall_now() - w0)
            cpu.append(cpu_now() - c0)
        blocks = sys.getallocatedblocks() - blocks_before
        gcs = [after["collections"] - before for after, before in zip(gc.get_stats(), gc_before, strict=True)]
        c0 = cpu_now()
        off()  # flushes what the block queued: the export work the calls left behind
        export = cpu_now() - c0
        self.exporter.clear()
        return {"wall": wall, "cpu": cpu, "export": export, "gc": gcs, "blocks": blocks}


def _client() -> Any:
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


def _worker(blocks: int, calls: int, untimed: int = 1) -> None:
    """One round: warm every variant up, then ``blocks`` rotations per mode; prints JSON results."""
    variants = _Variants()
    for mode in MODES:  # warm-up: imports, caches, first price lookup
        for variant in VARIANTS:
            variants.block(variant, mode, 30)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {m: {v: [] for v in VARIANTS} for m in MODES}
    for mode in MODES:
        for b in range(blocks):
            order = VARIANTS[b % 3 :] + VARIANTS[: b % 3]  # rotate who goes first
            for variant in order:
                results[mode][variant].append(variants.block(variant, mode, calls, untimed))
    print(json.dumps(results), flush=True)


_WORKER = (sys.executable, __file__, "--worker")


def _round(blocks: int, calls: int, untimed: int = 1) -> dict[str, dict[str, list[dict[str, Any]]]]:
    out = subprocess.run(
        [*_WORKER, "--blocks", str(blocks), "--calls", str(calls), "--untimed", str(untimed)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"benchmark worker failed: {out.stderr.strip()[-2000:]}")
    result: dict[str, dict[str, list[dict[str, Any]]]] = json.loads(out.stdout.splitlines()[-1])
    return result


def _ratio(ours: float, official: float) -> float | None:
    return round(ours / official, 3) if official > 0 else None


def _summary(rounds: list[dict[str, list[dict[str, Any]]]], metric: str) -> dict[str, Any]:
    """Medians of one metric (``wall``/``cpu``): pooled over every call, and per round."""

    def calls(r: dict[str, list[dict[str, Any]]], v: str) -> list[int]:
        return [x for block in r[v] for x in block[metric]]

    med = {v: statistics.median(x for r in rounds for x in calls(r, v)) / 1000 for v in VARIANTS}
    per_round: dict[str, list[float]] = {"llmtrace": [], "official": []}
    for r in rounds:
        base = statistics.median(calls(r, "none"))
        for v in per_round:
            per_round[v].append((statistics.median(calls(r, v)) - base) / 1000)
    ours, official = med["llmtrace"] - med["none"], med["official"] - med["none"]
    return {
        "median_us": {v: round(med[v], 1) for v in VARIANTS},
        "llmtrace_added_us": round(ours, 1),
        "official_added_us": round(official, 1),
        "llmtrace_vs_official": _ratio(ours, official),
        "goal_met": official > 0 and ours <= official / 2,
        "round_llmtrace_added_us": [round(x, 1) for x in per_round["llmtrace"]],
        "round_official_added_us": [round(x, 1) for x in per_round["official"]],
        "round_ratios": [
            _ratio(a, b) for a, b in zip(per_round["llmtrace"], per_round["official"], strict=True)
        ],
    }


def main(rounds: int = 5, blocks: int = 40, calls: int = 20, untimed: int = 1) -> dict[str, Any]:
    """Run the benchmark; returns medians (µs, wall and CPU) and the added time of each instrumentation.

    Keys per mode: ``median_us``/``llmtrace_added_us``/``official_added_us``/``llmtrace_vs_official``/
    ``goal_met`` and per-round figures, under ``wall`` and ``cpu``; ``mean_cpu_with_export_us``
    (mean process CPU per call plus the flushed export work, per variant) and
    ``gc_per_1000_calls``/``net_blocks_per_call`` per variant.
    """
    results_by_round = [_round(blocks, calls, untimed) for _ in range(rounds)]
    results: dict[str, Any] = {
        "rounds": rounds,
        "blocks_per_round": blocks,
        "calls_per_block": calls,
        "untimed_per_block": untimed,
    }
    for mode in MODES:
        per_mode = [r[mode] for r in results_by_round]
        all_blocks = {v: [b for r in per_mode for b in r[v]] for v in VARIANTS}
        n_calls = {v: sum(len(b["cpu"]) for b in all_blocks[v]) for v in VARIANTS}
        mean_cpu = {
            v: sum(sum(b["cpu"]) + b["export"] for b in all_blocks[v]) / n_calls[v] / 1000 for v in VARIANTS
        }
        results[mode] = {
            "n_per_variant": n_calls["none"],
            "wall": _summary(per_mode, "wall"),
            "cpu": _summary(per_mode, "cpu"),
            "mean_cpu_with_export_us": {v: round(mean_cpu[v], 1) for v in VARIANTS},
            "mean_cpu_with_export_added_us": {
                v: round(mean_cpu[v] - mean_cpu["none"], 1) for v in ("llmtrace", "official")
            },
            "gc_per_1000_calls": {
                v: [round(sum(b["gc"][g] for b in all_blocks[v]) * 1000 / n_calls[v], 1) for g in range(3)]
                for v in VARIANTS
            },
            "net_blocks_per_call": {
                v: round(sum(b["blocks"] for b in all_blocks[v]) / n_calls[v], 1) for v in VARIANTS
            },
        }
    return results


def _print(results: dict[str, Any]) -> None:
    print(
        f"overhead per call: {results['rounds']} rounds x {results['blocks_per_round']} rotations"
        f" x {results['calls_per_block']} calls per variant and mode"
        f" ({results['untimed_per_block']} untimed after each switch-on)"
    )
    for mode in MODES:
        r = results[mode]
        for label in ("wall", "cpu"):
            s = r[label]
            m = s["median_us"]
            print(
                f"  {mode:10s} {label:4s} none {m['none']:8.1f} µs | llmtrace {m['llmtrace']:8.1f} µs "
                f"(+{s['llmtrace_added_us']:.1f}) | official {m['official']:8.1f} µs (+{s['official_added_us']:.1f}) "
                f"| ratio {s['llmtrace_vs_official']} (per round {s['round_ratios']}) "
                f"| goal (<= 0.5) {'met' if s['goal_met'] else 'NOT met'}"
            )
        print(
            f"  {mode:10s} mean CPU incl. export added {r['mean_cpu_with_export_added_us']} µs"
            f" | gc gen0/1/2 per 1000 calls {r['gc_per_1000_calls']} | net blocks/call {r['net_blocks_per_call']}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--blocks", type=int, default=40, help="rotations of the three variants per round")
    parser.add_argument("--calls", type=int, default=20, help="calls per variant per rotation")
    parser.add_argument(
        "--untimed", type=int, default=1, help="untimed calls after switching on, for every variant alike"
    )
    args = parser.parse_args()
    if args.worker:
        _worker(args.blocks, args.calls, args.untimed)
    else:
        _print(main(args.rounds, args.blocks, args.calls, args.untimed))
