"""Where an instrumentation's per-call cost goes beyond the call itself: garbage collection and export.

The CPU clock of ``overhead_frameworks.py`` puts llmtrace's added time at a larger fraction of
OpenLLMetry's than the instruction count of ``instructions.py`` does. Two suspects are outside
the call's own instructions, and this measures both, per library, mode and variant of
``overhead_frameworks.py`` (same workloads, same switches), with counts machine load does not move:

- **Garbage collection**: the collections of each generation per 1,000 calls (``gc.get_stats``)
  and the memory blocks still allocated per call after them (``sys.getallocatedblocks``: what a
  variant keeps alive, e.g. spans queued for export), over ``--calls`` calls after a warm-up.
- **Export**: the CPU time (all threads, ``time.process_time``) of exporting queued spans, per
  span: ``--spans`` calls are made, then the variant's flush is timed (llmtrace's
  ``llmtrace.flush()``, which wakes its export thread and waits for it; the SDK
  ``BatchSpanProcessor``'s ``force_flush`` for the peers), minus an empty flush (the wake-up
  alone). In an app this runs on the export thread; ``overhead_frameworks.py`` times it when a
  block is switched off, outside every variant's timed calls.

Run: ``python benchmarks/overhead_anatomy.py [--only langchain] [--mode stream50] [--calls 300]
[--spans 200]``. Each variant runs in a process of its own (a collector's counts are per process).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time

import overhead_frameworks as frameworks

import llmtrace


def _gc_counts(library: str, variant: str, mode: str, calls: int) -> dict[str, object]:
    variants = frameworks._Variants(library)
    on, off = variants.switches[variant]
    on()
    call = frameworks._workload(library)
    for _ in range(30):  # warm-up: caches, the export thread, the first price lookup
        call(mode)
    gc.collect()
    before = [g["collections"] for g in gc.get_stats()]
    blocks = sys.getallocatedblocks()
    for _ in range(calls):
        call(mode)
    after = [g["collections"] for g in gc.get_stats()]
    kept = (sys.getallocatedblocks() - blocks) / calls
    off()
    return {
        "collections_per_1000_calls": [
            round((a - b) * 1000 / calls, 1) for a, b in zip(after, before, strict=True)
        ],
        "blocks_kept_per_call": round(kept, 1),
    }


def _export_cpu(library: str, variant: str, mode: str, spans: int) -> float | None:
    """Median over 5 rounds of the CPU time (µs, all threads) to export one queued span."""
    if variant == "none":
        return None
    variants = frameworks._Variants(library)
    on, off = variants.switches[variant]
    flush = llmtrace.flush if variant == "llmtrace" else variants.provider.force_flush
    per_span = []
    for _ in range(5):
        on()
        call = frameworks._workload(library)
        call(mode)
        flush()
        variants.exporter.clear()
        for _ in range(spans):
            call(mode)
        c0 = time.process_time_ns()
        flush()
        c1 = time.process_time_ns()
        exported = len(variants.exporter.get_finished_spans())
        flush()  # nothing queued: the wake-up and wait alone
        c2 = time.process_time_ns()
        per_span.append(((c1 - c0) - (c2 - c1)) / max(exported, 1) / 1000)
        off()
        variants.exporter.clear()
    return round(statistics.median(per_span), 2)


def _worker(library: str, variant: str, mode: str, calls: int, spans: int) -> None:
    result = _gc_counts(library, variant, mode, calls)
    result["export_cpu_us_per_span"] = _export_cpu(library, variant, mode, spans)
    print(json.dumps(result), flush=True)


def main(libraries: tuple[str, ...], modes: tuple[str, ...], calls: int, spans: int) -> None:
    for library in libraries:
        for mode in modes:
            for variant in frameworks.VARIANTS:
                stream_calls = calls if mode == "nonstream" else max(calls // 3, 1)
                argv = [sys.executable, __file__, "--worker", library, variant, mode]
                argv += [str(stream_calls), str(spans if mode == "nonstream" else max(spans // 3, 1))]
                out = subprocess.run(argv, capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    raise RuntimeError(f"anatomy worker failed: {out.stderr.strip()[-2000:]}")
                result = json.loads(out.stdout.splitlines()[-1])
                print(
                    f"{library:12s} {mode:9s} {variant:13s} GC collections per 1000 calls (gen 0/1/2)"
                    f" {result['collections_per_1000_calls']} | blocks kept per call"
                    f" {result['blocks_kept_per_call']} | export CPU per span"
                    f" {result['export_cpu_us_per_span']} µs",
                    flush=True,
                )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls counted (a third for streams)")
    parser.add_argument(
        "--spans", type=int, default=200, help="spans exported per round (a third for streams)"
    )
    parser.add_argument("--only", choices=frameworks.LIBRARIES, help="one library")
    parser.add_argument("--mode", choices=frameworks.MODES, help="one mode")
    args = parser.parse_args()
    main(
        (args.only,) if args.only else frameworks.LIBRARIES,
        (args.mode,) if args.mode else frameworks.MODES,
        args.calls,
        args.spans,
    )
