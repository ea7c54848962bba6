"""Per-call overhead of llmtrace on LangChain and google-genai, next to OpenInference and OpenLLMetry.

The method of ``overhead.py``, for two more libraries: every round is a fresh worker process with
one real client talking to an in-process fake endpoint (httpx2 ``MockTransport``); inside it the
variants take turns in short blocks of calls in rotating order, each switched on before its block
and off after it (outside the timing), so all share one process, one client and one stretch of
machine time; one untimed call follows each switch-on (the first call after ``instrument()``
pays one-time work, e.g. llmtrace's export thread starting, once per process in an app but once
per block here), then each variant's export is flushed, so a thread started at the first span is
up and idle before the timed calls (it used to finish starting inside them). Before the untimed
call a young garbage collection runs, so the one that switching on and the untimed call set off
does not fall into a timed call (it fell into llmtrace's first timed LangChain call; the timed
calls' own collections still count). Reported per library and mode: medians of wall and process-CPU time per call, the
time each instrumentation adds over ``none``, and llmtrace's added time as a fraction of each
peer's (goal: at most 0.5).

- ``langchain``: ``ChatOpenAI`` (langchain-openai over the real openai client) ``invoke`` and
  ``stream`` (50 chunks). llmtrace: ``instrument(providers=["langchain", "openai"])`` — one LLM
  span with the provider's usage; OpenInference ``LangChainInstrumentor``; OpenLLMetry
  ``LangchainInstrumentor``.
- ``google_genai``: ``client.models.generate_content`` and ``generate_content_stream`` (50
  chunks). llmtrace ``providers=["google_genai"]``; OpenInference ``GoogleGenAIInstrumentor``;
  OpenLLMetry ``GoogleGenerativeAiInstrumentor``.

All record content (llmtrace ``capture_content=True`` with cost; OpenInference and OpenLLMetry by
default) of ~1.5 KB of messages per call and export to an in-memory exporter through their normal
pipelines (llmtrace's queue, the SDK's ``BatchSpanProcessor`` for the others). OpenLLMetry's
LangChain ``uninstrument()`` leaves its patch in place; the benchmark takes it off
(`_restore_callback_manager`), so every variant of both libraries takes turns in the rotation.

Which threads count: the per-call figures are the process's CPU time (every thread) over each
timed call, so another thread counts only while it runs during a call. Every variant exports on a
background thread (llmtrace's export worker, the SDK's ``BatchSpanProcessor``), and here that
export runs when a block is switched off (the flush in ``off()``), outside every variant's timed
calls: the per-call figures leave export out for all variants alike, and ``mean CPU incl.
export`` adds it back, with the switch-off's own cost (``overhead_anatomy.py`` measures export per
span: under a microsecond for each variant).

Two estimates of the added time: the difference of pooled medians (``added_us``), and the paired
one (``paired_added_us``): per rotation, a variant's block median minus the ``none`` block median
of the same rotation, then the median over rotations, which cancels the machine's drift between
rotations (load from other work) that the pooled medians keep. A ``none`` block with spans fails
the run (an instrumentation that did not switch off). Beside them, a count that machine load does
not move: the Python (and C builtin) function calls each variant adds per call, counted by
``cProfile`` in one extra block per variant after the timed ones (``python_calls_added``).

Beside the pooled figures, a position table: the median CPU time each variant adds over ``none``
at each position of a block (the first timed call after switching on, the second, ...), so a
warm-up after switching on shows as a falling row, and for which variants. ``--untimed N``
(default 1) gives every variant N untimed calls after switching on (before the flush), the same
for all: a figure with more untimed calls leaves out warm-up an app pays once per process.
``--pause-ms N`` sleeps N ms before each timed call (outside the timing), for every variant alike:
back-to-back calls (the default) find the instrumentation's code and data in the CPU's caches,
calls after idle — a service whose LLM calls are spread out, with other work or nothing between
them — find them evicted, and pay their misses.

Run: ``python benchmarks/overhead_frameworks.py [--rounds 3] [--blocks 20] [--calls 10] [--untimed 1]
[--pause-ms 0]``; with
``--baseline DIR`` (a tree holding another version's ``llmtrace/``) the rounds alternate between that
version and this checkout, and both are reported: a before/after from one run.
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

LIBRARIES = ("langchain", "google_genai")
VARIANTS = ("none", "llmtrace", "openinference", "openllmetry")
PEERS = ("openinference", "openllmetry")
MODES = ("nonstream", "stream50")
# ~1.5 KB of message content per call, as a realistic span carries.
SYSTEM = "You are a careful assistant. Answer in one short paragraph. " * 6
QUESTION = "Summarise the following notes for a busy reader: " + "the quarterly numbers moved a little; " * 28
ANSWER_WORDS = [f"word{i} " for i in range(48)]


def _openai_transport() -> Any:
    import httpx2

    base = {"id": "chatcmpl-bench", "created": 1, "model": "gpt-4o-mini-2024-07-18"}
    completion = {
        **base,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "".join(ANSWER_WORDS)},
            }
        ],
        "usage": {"prompt_tokens": 380, "completion_tokens": 96, "total_tokens": 476},
    }
    chunk = {**base, "object": "chat.completion.chunk"}
    events = [
        {
            **chunk,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    ]
    events += [
        {**chunk, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}
        for w in ANSWER_WORDS
    ]
    events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events.append({**chunk, "choices": [], "usage": completion["usage"]})
    body = ("".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n").encode()

    def handler(request: httpx2.Request) -> httpx2.Response:
        if b'"stream":true' in request.content or b'"stream": true' in request.content:
            return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})
        return httpx2.Response(200, json=completion)

    return httpx2.MockTransport(handler)


def _gemini_transport() -> Any:
    import httpx2

    def response(parts: list[str], candidates: int, finish: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {
            "index": 0,
            "content": {"role": "model", "parts": [{"text": p} for p in parts]},
        }
        if finish:
            candidate["finishReason"] = "STOP"
        return {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": 380,
                "candidatesTokenCount": candidates,
                "totalTokenCount": 380 + candidates,
            },
            "modelVersion": "gemini-2.5-flash",
            "responseId": "bench",
        }

    whole = response(["".join(ANSWER_WORDS)], 96, True)
    chunks = [response([w], 2 * (i + 1), i == len(ANSWER_WORDS) - 1) for i, w in enumerate(ANSWER_WORDS)]
    body = "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks).encode()

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path.endswith(":streamGenerateContent"):
            return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})
        return httpx2.Response(200, json=whole)

    return httpx2.MockTransport(handler)


def _workload(library: str) -> Callable[[str], None]:
    """One call of ``library`` in ``mode``, through a client built once."""
    import httpx2

    if library == "langchain":
        from langchain_core.messages import HumanMessage, SystemMessage
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        model = ChatOpenAI(
            model="gpt-4o-mini",
            api_key=SecretStr("sk-bench"),
            max_retries=0,
            temperature=0.2,
            http_client=httpx2.Client(transport=_openai_transport()),
        )
        messages = [SystemMessage(SYSTEM), HumanMessage(QUESTION)]

        def call_langchain(mode: str) -> None:
            if mode == "nonstream":
                model.invoke(messages)
            else:
                for _ in model.stream(messages):
                    pass

        return call_langchain

    from google import genai
    from google.genai import types

    client = genai.Client(
        api_key="bench",
        http_options=types.HttpOptions(httpx_client=httpx2.Client(transport=_gemini_transport())),
    )
    config = types.GenerateContentConfig(system_instruction=SYSTEM, temperature=0.2)

    def call_genai(mode: str) -> None:
        if mode == "nonstream":
            client.models.generate_content(model="gemini-2.5-flash", contents=QUESTION, config=config)
        else:
            for _ in client.models.generate_content_stream(
                model="gemini-2.5-flash", contents=QUESTION, config=config
            ):
                pass

    return call_genai


def llmtrace_switch(exporter: Any, providers: list[str]) -> tuple[Callable[[], object], Callable[[], object]]:
    """Switching llmtrace on (``providers``, content and cost, spans to ``exporter``) and off."""
    import llmtrace

    def on() -> None:
        llmtrace.instrument(
            exporter=exporter,
            service_name="bench",
            capture_content=True,
            queue_size=65536,
            providers=providers,
        )

    def off() -> None:
        llmtrace.flush()
        llmtrace.uninstrument()

    return on, off


class _Variants:
    """The four variants of one library inside one worker (see ``overhead._Variants``)."""

    def __init__(self, library: str) -> None:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        import llmtrace

        os.environ["TRACELOOP_TRACE_CONTENT"] = "true"
        self.exporter = InMemorySpanExporter()
        self.provider = provider = TracerProvider()  # the peers' (llmtrace makes its own)
        provider.add_span_processor(BatchSpanProcessor(self.exporter, max_queue_size=65536))
        if library == "langchain":
            from langchain_core.callbacks import BaseCallbackManager
            from openinference.instrumentation.langchain import LangChainInstrumentor
            from opentelemetry.instrumentation.langchain import LangchainInstrumentor

            openinference: Any = LangChainInstrumentor()
            openllmetry: Any = LangchainInstrumentor()
            ours = ["langchain", "openai"]
            manager_init = BaseCallbackManager.__dict__["__init__"]  # before anyone patches it
        else:
            from openinference.instrumentation.google_genai import GoogleGenAIInstrumentor
            from opentelemetry.instrumentation.google_generativeai import GoogleGenerativeAiInstrumentor

            openinference = GoogleGenAIInstrumentor()
            openllmetry = GoogleGenerativeAiInstrumentor()
            ours = ["google_genai"]

        def peer(instrumentor: Any) -> tuple[Callable[[], object], Callable[[], object]]:
            def off() -> None:
                provider.force_flush()
                instrumentor.uninstrument()
                if library == "langchain":
                    _restore_callback_manager(manager_init)

            return (lambda: instrumentor.instrument(tracer_provider=provider)), off

        self.switches: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
            "none": (lambda: None, lambda: None),
            "llmtrace": llmtrace_switch(self.exporter, ours),
            "openinference": peer(openinference),
            "openllmetry": peer(openllmetry),
        }
        # Each variant's export flushed (its background thread woken and waited for).
        self.flushes: dict[str, Callable[[], object]] = {
            "none": lambda: None,
            "llmtrace": llmtrace.flush,
            "openinference": provider.force_flush,
            "openllmetry": provider.force_flush,
        }
        self.library = library

    def block(
        self,
        variant: str,
        mode: str,
        calls: int,
        around: tuple[Callable[[], object], ...] = (),
        untimed: int = 1,
        pause_ms: float = 0.0,
    ) -> dict[str, Any]:
        """One block: switch on, a fresh client, ``untimed`` untimed calls, ``calls`` timed calls
        (each after ``pause_ms`` of sleep, outside the timing), switch off. ``around``: (before, after), run just inside each timed call's clock readings
        (``instructions.py --as-timed`` counts exactly these calls)."""
        on, off = self.switches[variant]
        on()
        # A client per block, made after switching on: the openai SDK caches ``with_raw_response``
        # bindings (which langchain-openai uses) on first use, so a client used before a variant was
        # switched on would keep calling past that variant's patch, as in any app.
        call = _workload(self.library)
        # A young collection, for every variant alike: switching on, the fresh client and the
        # untimed call leave some 450-650 tracked objects, so the collection the next ~700 set off
        # fell into a timed call (llmtrace's first on LangChain `invoke`: +80 k instructions, a
        # quarter of what it adds) — work after switching on, once per process in an app. Before
        # the untimed call, which then brings back into the caches what the collection pushed out
        # (run after it, the collection left llmtrace's first timed call +1,200 L2 misses). The
        # timed calls' own collections still count.
        gc.collect(0)
        # One untimed call first: what an instrumentation does once after being switched on (llmtrace
        # starts its export thread at the first span) an app pays once per process, not per call;
        # here every block switches on anew, and a timed first call would charge it to the block.
        for _ in range(untimed):
            call(mode)
        # Then that call's export, flushed, for every variant alike: a thread started at the first
        # span finishes starting on its own time, which fell into the first timed calls
        # (llmtrace's, whose export thread starts anew with every ``instrument()``; the peers'
        # ``BatchSpanProcessor`` thread lives as long as the process).
        self.flushes[variant]()
        wall: list[int] = []
        cpu: list[int] = []
        cpu_now, wall_now = time.process_time_ns, time.perf_counter_ns
        if around:  # counted, not timed (`instructions.py --as-timed`)
            before, after = around
            for _ in range(calls):
                cpu_now()
                before()
                call(mode)
                after()
                cpu_now()
        for _ in range(0 if around else calls):
            if pause_ms:
                time.sleep(pause_ms / 1000)
            c0 = cpu_now()
            w0 = wall_now()
            call(mode)
            wall.append(wall_now() - w0)
            cpu.append(cpu_now() - c0)
        c0 = cpu_now()
        off()
        export = cpu_now() - c0
        spans = len(self.exporter.get_finished_spans())
        self.exporter.clear()
        return {
            "wall": wall,
            "cpu": cpu,
            "export": export,
            "spans": spans,
            "untimed": untimed,
            "pause_ms": pause_ms,
        }

    def python_calls(self, variant: str, mode: str, calls: int = 20) -> float:
        """Python function calls (and C builtin calls) per call with ``variant`` on, counted by
        ``cProfile``: the same on a busy machine as on an idle one, so a difference too small for
        the CPU clock's noise (a long stream's) still shows."""
        import cProfile
        import pstats

        on, off = self.switches[variant]
        on()
        call = _workload(self.library)
        call(mode)  # first-call work (caches) stays out of the count
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(calls):
            call(mode)
        profile.disable()
        off()
        self.exporter.clear()
        counted: dict[Any, tuple[int, ...]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        return sum(entry[1] for entry in counted.values()) / calls


def _restore_callback_manager(original: Any) -> None:
    """Take OpenLLMetry's LangChain patch off ``BaseCallbackManager.__init__`` where its
    ``uninstrument()`` leaves it (0.62: it unwraps a dotted name its ``unwrap`` does not resolve,
    so its handler keeps joining every run, in the ``none`` blocks and under llmtrace's patch
    too). Then it switches off like the others and takes turns with them; a wrapper left in
    place after switching off fails the run."""
    from langchain_core.callbacks import BaseCallbackManager

    current = BaseCallbackManager.__dict__["__init__"]
    if type(getattr(current, "_self_wrapper", None)).__name__ == "_BaseCallbackManagerInitWrapper":
        BaseCallbackManager.__init__ = current.__wrapped__  # type: ignore[method-assign]
    if BaseCallbackManager.__dict__["__init__"] is not original:
        raise RuntimeError("BaseCallbackManager.__init__ still patched after switching off")


def _worker(library: str, blocks: int, calls: int, untimed: int = 1, pause_ms: float = 0.0) -> None:
    """One round: the variants take turns in rotations of blocks, in rotating order."""
    variants = _Variants(library)
    for mode in MODES:  # warm-up: imports, caches, first price lookup
        for variant in VARIANTS:
            variants.block(variant, mode, 10)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {m: {v: [] for v in VARIANTS} for m in MODES}
    for mode in MODES:
        for b in range(blocks):
            shift = b % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:  # rotate who goes first
                results[mode][variant].append(
                    variants.block(variant, mode, calls, untimed=untimed, pause_ms=pause_ms)
                )
    counts = {m: {v: variants.python_calls(v, m) for v in VARIANTS} for m in MODES}
    if any(block["spans"] for mode in MODES for block in results[mode]["none"]):
        raise RuntimeError("spans in a 'none' block: an instrumentation was not switched off")
    print(json.dumps({**results, "python_calls": counts}), flush=True)


def _round(
    library: str,
    blocks: int,
    calls: int,
    tree: str | None = None,
    untimed: int = 1,
    pause_ms: float = 0.0,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """One worker process; ``tree``: a source tree to import llmtrace from instead of this one."""
    argv = [sys.executable, __file__, "--worker", library, "--blocks", str(blocks), "--calls", str(calls)]
    argv += ["--untimed", str(untimed), "--pause-ms", str(pause_ms)]
    env = {**os.environ, "PYTHONPATH": tree} if tree else None
    out = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark worker failed: {out.stderr.strip()[-2000:]}")
    result: dict[str, dict[str, list[dict[str, Any]]]] = json.loads(out.stdout.splitlines()[-1])
    return result


def _summary(rounds: list[dict[str, list[dict[str, Any]]]], metric: str) -> dict[str, Any]:
    def calls(r: dict[str, list[dict[str, Any]]], v: str) -> list[int]:
        return [x for block in r[v] for x in block[metric]]

    med = {v: statistics.median(x for r in rounds for x in calls(r, v)) / 1000 for v in VARIANTS}
    added = {v: med[v] - med["none"] for v in VARIANTS if v != "none"}
    ratios = {p: round(added["llmtrace"] / added[p], 3) if added[p] > 0 else None for p in PEERS}

    def round_ratio(r: dict[str, list[dict[str, Any]]], peer: str) -> float | None:
        base = statistics.median(calls(r, "none"))
        ours, theirs = (
            statistics.median(calls(r, "llmtrace")) - base,
            statistics.median(calls(r, peer)) - base,
        )
        return round(ours / theirs, 3) if theirs > 0 else None  # a peer lost in the noise has no ratio

    per_round = {p: [round_ratio(r, p) for r in rounds] for p in PEERS}

    def paired(v: str) -> float:
        """Median over rotations of (block median of ``v`` - ``none`` block median, same rotation)."""
        diffs = [
            statistics.median(b[metric]) - statistics.median(n[metric])
            for r in rounds
            for b, n in zip(r[v], r["none"], strict=True)
        ]
        return statistics.median(diffs) / 1000

    paired_added = {v: paired(v) for v in VARIANTS if v != "none"}

    def at(v: str, i: int) -> float:
        return statistics.median(b[metric][i] for r in rounds for b in r[v]) / 1000

    positions = len(rounds[0]["none"][0][metric])
    return {
        "median_us": {v: round(med[v], 1) for v in VARIANTS},
        "added_us": {v: round(a, 1) for v, a in added.items()},
        "paired_added_us": {v: round(a, 1) for v, a in paired_added.items()},
        "paired_llmtrace_vs": {
            p: round(paired_added["llmtrace"] / paired_added[p], 3) if paired_added[p] > 0 else None
            for p in PEERS
        },
        "llmtrace_vs": ratios,
        "round_ratios": per_round,
        "goal_met": all(r is not None and r <= 0.5 for r in ratios.values()),
        "added_us_by_position": {
            v: [round(at(v, i) - at("none", i), 1) for i in range(positions)] for v in VARIANTS if v != "none"
        },
    }


def main(
    rounds: int = 3,
    blocks: int = 20,
    calls: int = 10,
    libraries: tuple[str, ...] = LIBRARIES,
    untimed: int = 1,
    pause_ms: float = 0.0,
) -> dict[str, Any]:
    """Medians (µs) per library, mode and variant, added time over ``none``, llmtrace's ratio to each peer."""
    by_library = {
        library: [_round(library, blocks, calls, untimed=untimed, pause_ms=pause_ms) for _ in range(rounds)]
        for library in libraries
    }
    return summarize(by_library, blocks, calls)


def compare(
    baseline: str,
    rounds: int,
    blocks: int,
    calls: int,
    libraries: tuple[str, ...] = LIBRARIES,
    untimed: int = 1,
    pause_ms: float = 0.0,
) -> dict[str, dict[str, Any]]:
    """Before/after in one run: rounds of llmtrace imported from ``baseline`` (a source tree holding
    ``llmtrace/``, e.g. ``git archive main llmtrace | tar -x -C DIR``) and from this checkout take
    turns (order alternating), each with all the variants, so both meet the same machine load."""
    trees = {"baseline": baseline, "this checkout": None}
    by_tree: dict[str, dict[str, list[Any]]] = {t: {lib: [] for lib in libraries} for t in trees}
    for i in range(rounds):
        for library in libraries:
            for name in list(trees)[:: 1 if i % 2 == 0 else -1]:
                by_tree[name][library].append(_round(library, blocks, calls, trees[name], untimed, pause_ms))
    return {name: summarize(by_tree[name], blocks, calls) for name in trees}


def summarize(by_library: dict[str, list[Any]], blocks: int, calls: int) -> dict[str, Any]:
    """The figures of ``main`` from each library's rounds (worker outputs)."""
    rounds = len(next(iter(by_library.values())))
    first_block = next(iter(by_library.values()))[0][MODES[0]]["none"][0]
    results: dict[str, Any] = {
        "rounds": rounds,
        "blocks_per_round": blocks,
        "calls_per_block": calls,
        "untimed_per_block": first_block.get("untimed", 1),
        "pause_ms_before_each_call": first_block.get("pause_ms", 0.0),
    }
    for library, by_round in by_library.items():
        results[library] = {}
        for mode in MODES:
            per_mode = [r[mode] for r in by_round]
            blocks_of = {v: [b for r in per_mode for b in r[v]] for v in VARIANTS}
            n = {v: sum(len(b["cpu"]) for b in blocks_of[v]) for v in VARIANTS}
            mean_cpu = {
                v: sum(sum(b["cpu"]) + b["export"] for b in blocks_of[v]) / n[v] / 1000 for v in VARIANTS
            }
            counted = [r["python_calls"][mode] for r in by_round if "python_calls" in r]
            calls_of = {v: statistics.median(c[v] for c in counted) for v in VARIANTS} if counted else None
            results[library][mode] = {
                "python_calls_added": {
                    v: round(calls_of[v] - calls_of["none"]) for v in VARIANTS if v != "none"
                }
                if calls_of
                else None,
                "n_per_variant": n["none"],
                "spans_per_call": {
                    v: round(
                        sum(b["spans"] for b in blocks_of[v])
                        / sum(len(b["cpu"]) + b.get("untimed", 0) for b in blocks_of[v]),
                        2,
                    )
                    for v in VARIANTS
                },
                "wall": _summary(per_mode, "wall"),
                "cpu": _summary(per_mode, "cpu"),
                "mean_cpu_with_export_added_us": {
                    v: round(mean_cpu[v] - mean_cpu["none"], 1) for v in VARIANTS if v != "none"
                },
            }
    return results


def print_results(results: dict[str, Any]) -> None:
    print(
        f"framework overhead per call: {results['rounds']} rounds x {results['blocks_per_round']} rotations"
        f" x {results['calls_per_block']} calls per variant and mode"
        f" ({results['untimed_per_block']} untimed after each switch-on"
        + (
            f"; {results['pause_ms_before_each_call']:g} ms idle before each"
            if results.get("pause_ms_before_each_call")
            else ""
        )
        + ")"
    )
    for library in LIBRARIES:
        if library not in results:
            continue
        for mode in MODES:
            r = results[library][mode]
            for label in ("wall", "cpu"):
                s = r[label]
                m, a = s["median_us"], s["added_us"]
                print(
                    f"  {library:12s} {mode:9s} {label:4s} none {m['none']:8.1f} µs | "
                    + " | ".join(f"{v} +{a[v]:.1f}" for v in VARIANTS if v != "none")
                    + f" | llmtrace/peer {s['llmtrace_vs']} (per round {s['round_ratios']})"
                    + f" | paired added {s['paired_added_us']}, llmtrace/peer {s['paired_llmtrace_vs']}"
                    + f" | goal (<= 0.5) {'met' if s['goal_met'] else 'NOT met'}"
                )
            print(
                f"  {library:12s} {mode:9s} cpu added by position in the block (µs): "
                + " | ".join(f"{v} {a}" for v, a in r["cpu"]["added_us_by_position"].items())
            )
            print(
                f"  {library:12s} {mode:9s} spans/call {r['spans_per_call']} | mean CPU incl. export added"
                f" {r['mean_cpu_with_export_added_us']} µs | Python calls added per call"
                f" {r['python_calls_added']}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--blocks", type=int, default=20, help="rotations of the variants per round")
    parser.add_argument("--calls", type=int, default=10, help="calls per variant per rotation")
    parser.add_argument(
        "--untimed", type=int, default=1, help="untimed calls after switching on, for every variant alike"
    )
    parser.add_argument(
        "--pause-ms",
        type=float,
        default=0.0,
        help="sleep before each timed call: calls after idle, as in a service with sparse traffic",
    )
    parser.add_argument("--only", choices=LIBRARIES, help="one library")
    parser.add_argument(
        "--baseline", metavar="DIR", help="also run llmtrace from this source tree, rounds interleaved"
    )
    args = parser.parse_args()
    libraries = (args.only,) if args.only else LIBRARIES
    if args.worker:
        _worker(args.worker, args.blocks, args.calls, args.untimed, args.pause_ms)
    elif args.baseline:
        compared = compare(
            args.baseline, args.rounds, args.blocks, args.calls, libraries, args.untimed, args.pause_ms
        )
        for name, results in compared.items():
            print(f"===== llmtrace from {args.baseline if name == 'baseline' else name}")
            print_results(results)
    else:
        print_results(main(args.rounds, args.blocks, args.calls, libraries, args.untimed, args.pause_ms))
