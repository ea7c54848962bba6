"""What each of llmtrace's LangChain parts adds to a call, beside OpenLLMetry's whole.

llmtrace records a LangChain model call with two integrations: the LangChain callback handler
(the run tree, the model call's span) and the openai patch underneath (the provider's exact usage,
onto the same span). This benchmark times, in one process and interleaved as
``overhead_frameworks.py`` does (rotating blocks, each switched on anew with a fresh client, a
young collection, one untimed call and a flush, then six timed calls): ``none``, llmtrace with
both (``full``), with the handler alone (``langchain_only``: the span then reads LangChain's
result), with the openai patch alone (``openai_only``: a standalone openai span) and OpenLLMetry.
Reported: process CPU added per call over ``none`` (medians), so a row's cost can be split into
the framework's part and the provider stream's part (per chunk: ``openai_only``'s stream minus
its plain call, over 50 chunks).

Run: ``python benchmarks/overhead_parts.py [--mode stream50] [--rotations 30]``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable

import overhead_frameworks as frameworks
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace

_TIMED_CALLS = 6


def main(mode: str, rotations: int) -> dict[str, float]:
    peers = frameworks._Variants("langchain")
    exporter = InMemorySpanExporter()

    def ours(providers: list[str]) -> tuple[Callable[[], object], Callable[[], object]]:
        on, switch_off = frameworks.llmtrace_switch(exporter, providers)

        def off() -> None:
            switch_off()
            exporter.clear()

        return on, off

    variants: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "none": (lambda: None, lambda: None),
        "full": ours(["langchain", "openai"]),
        "langchain_only": ours(["langchain"]),
        "openai_only": ours(["openai"]),
        "openllmetry": peers.switches["openllmetry"],
    }
    flushes: dict[str, Callable[[], object]] = {
        name: llmtrace.flush for name in ("full", "langchain_only", "openai_only")
    }
    flushes["none"], flushes["openllmetry"] = (lambda: None), peers.provider.force_flush
    names = list(variants)
    cpu: dict[str, list[int]] = {name: [] for name in names}
    for rotation in range(rotations):
        for i in range(len(names)):
            name = names[(i + rotation) % len(names)]
            on, off = variants[name]
            on()
            call = frameworks._workload("langchain")
            gc.collect(0)
            call(mode)  # untimed, then its export flushed (see overhead_frameworks.block)
            flushes[name]()
            for _ in range(_TIMED_CALLS):
                started = time.process_time_ns()
                call(mode)
                cpu[name].append(time.process_time_ns() - started)
            off()
    none = statistics.median(cpu["none"]) / 1000
    added = {name: round(statistics.median(cpu[name]) / 1000 - none, 1) for name in names if name != "none"}
    print(
        f"langchain {mode}: none {none:.1f} µs | added " + " | ".join(f"{k} +{v}" for k, v in added.items())
    )
    return added


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=frameworks.MODES, default="stream50")
    parser.add_argument("--rotations", type=int, default=30)
    args = parser.parse_args()
    main(args.mode, args.rotations)
