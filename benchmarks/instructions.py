"""Instructions per call that each instrumentation adds, counted by valgrind's callgrind.

A figure machine load does not move (a CPU clock on a shared 2-core machine varies by a factor of
two between runs): for each library, mode and variant of ``overhead_frameworks.py``, one process
runs under ``valgrind --tool=callgrind`` with instrumentation off; it switches the variant on,
makes warm-up calls, exports their spans, and then counts the instructions (all threads) of
``--calls`` calls and the export of their spans (not the switching off), between two callgrind
client requests. Reported:
instructions per call, those each variant adds over ``none``, and llmtrace's added instructions as
a fraction of each peer's. Needs ``valgrind`` and a C compiler with valgrind's headers (the client
requests are two C functions, compiled once into a temporary directory).

``--as-timed BLOCKS`` counts ``overhead_frameworks.py``'s own sequence instead (its warm-up, then
BLOCKS rotations of all four variants' blocks, each switched on anew with a fresh client and an
untimed call), counting only the variant's timed calls and not the export (which the CPU benchmark
runs at switch-off, outside its timed calls): whether the CPU benchmark's path does work this
count's does not. ``--variants llmtrace,openllmetry`` counts only those (and ``none``).

``--cache`` adds callgrind's cache simulation with a last level the size of this machine's
per-core L2 (1 MiB; its L3 is 32 MiB, where nothing a call touches misses) and counts the calls
without their export (as the CPU benchmark times them): instructions and L2 misses added per call,
and the CPU time they predict, ``--ns-per-instruction`` x instructions + ``--ns-per-miss`` x
misses (``--with-export``: the export of the calls' spans counted too, on every thread, the work
an instrumentation leaves to its export thread included). The default coefficients (0.0825 ns, 26.8 ns) were fitted to the quiet-machine CPU
figures of LangChain ``invoke`` (llmtrace +131 µs, OpenLLMetry +248 µs); with them the other
rows' predicted ratios fall inside the spread of the CPU benchmark's quiet runs (at their low
end), without that spread: llmtrace runs little code, once per call, and pays for it in misses
(docs/integrations.md, "What a call costs: instructions and misses").

Run: ``python benchmarks/instructions.py [--calls 20] [--only google_genai] [--mode nonstream]
[--repeat 3] [--variants V,...] [--as-timed 4] [--cache]``;
``PYTHONPATH=DIR`` counts another tree's llmtrace (to compare two trees, count both that way,
this one with ``PYTHONPATH=..``: how llmtrace is imported moves a call's count by up to 0.5%, a
quarter of what llmtrace adds to a stream). Each
process takes minutes.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import re
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import overhead_frameworks as frameworks
import overhead_positions as positions

import llmtrace
from llmtrace._internal import pricing

_CLIENT_REQUESTS = """
#include <valgrind/callgrind.h>
void window_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void window_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
void count_on(void) { CALLGRIND_START_INSTRUMENTATION; }
"""


def _window_library(directory: str) -> str:
    source, library = os.path.join(directory, "window.c"), os.path.join(directory, "window.so")
    with open(source, "w") as out:
        out.write(_CLIENT_REQUESTS)
    subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", library, source], check=True)
    return library


def _worker(
    library: str, variant: str, mode: str, calls: int, window: str, export_counted: bool = True
) -> None:
    # No price re-resolution inside the count: llmtrace resolves a model's price data again once a
    # minute (so prices an app swaps in apply), once per ~thousands of an app's calls; under
    # callgrind a minute is a few dozen calls, and when it fell inside the window (the later the
    # busier the machine) it added a resolution to 10 calls: ~+300 k a LangChain stream.
    pricing._RESOLVE_TTL_S = 86400.0
    variants = frameworks._Variants(library)
    on, off = variants.switches[variant]
    on()
    call = frameworks._workload(library)
    for _ in range(20):  # warm-up: caches, first price lookup, export thread
        call(mode)
    off()
    variants.exporter.clear()
    on()
    call = frameworks._workload(library)
    call(mode)  # the first call after switching on (see overhead_frameworks' untimed call)
    # The libraries' ~150k objects out of the collector's sight: a full collection, whose cost is
    # theirs, would otherwise land in some counts and not others (young objects still count).
    gc.collect()
    gc.freeze()
    counting = ctypes.CDLL(window)
    counting.window_start()
    for _ in range(calls):
        call(mode)
    if not export_counted:  # ``--cache``: the calls alone, as the CPU benchmark times them
        counting.window_stop()
    llmtrace.flush()  # the export of the counted calls' spans is counted too (switching off is not)
    variants.provider.force_flush()
    counting.window_stop()
    off()


def _timed_worker(library: str, variant: str, mode: str, blocks: int, window: str) -> None:
    """``--as-timed``: the CPU benchmark's own sequence (warm-up, then rotations of all four
    variants' blocks, each switched on anew with a fresh client and an untimed call), counting
    only ``variant``'s timed calls: what ``overhead_frameworks.py`` times, under the counter."""
    pricing._RESOLVE_TTL_S = 86400.0  # as in `_worker`
    variants = frameworks._Variants(library)
    counting = ctypes.CDLL(window)
    for each in frameworks.VARIANTS:  # the CPU benchmark's warm-up of this mode
        variants.block(each, mode, 10)
    for b in range(blocks):
        shift = b % len(frameworks.VARIANTS)
        for each in frameworks.VARIANTS[shift:] + frameworks.VARIANTS[:shift]:
            around = (counting.count_on, counting.window_stop) if each == variant else ()
            variants.block(each, mode, _TIMED_CALLS, around)


_TIMED_CALLS = 6  # per block, as ``overhead_frameworks.py --calls 6``


# ``--cache``'s cost of an instruction and of an L2 miss, in ns (see the module docstring).
_NS_PER = (0.0825, 26.8)


def _count(
    library: str,
    variant: str,
    mode: str,
    calls: int,
    window: str,
    timed_blocks: int = 0,
    cache: str | None = None,
    with_export: bool = False,
) -> dict[str, float]:
    """Events per counted call: ``Ir`` (instructions), and with ``cache`` (a directory for
    callgrind's output) ``misses`` (of the simulated L2)."""
    output = os.path.join(cache, f"{library}.{variant}.{mode}.%p") if cache else "/dev/null"
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={output}"]
    if cache:
        argv += positions.cache_sim()
    if timed_blocks:
        argv += [
            sys.executable,
            __file__,
            "--timed-worker",
            library,
            variant,
            mode,
            str(timed_blocks),
            window,
        ]
        calls = timed_blocks * _TIMED_CALLS
    else:
        argv += [sys.executable, __file__, "--worker", library, variant, mode, str(calls), window]
        if cache and not with_export:
            argv.append("--calls-only")
    # One hash seed for every worker: string hashing decides dict and set layouts, whose work
    # would otherwise differ from process to process. No export on a timer: under callgrind a
    # call takes ~50 times as long, so the export threads' periodic wake-ups (llmtrace's every
    # second, the SDK batch processor's every five) would land in the count ~50 times as often as
    # in an app, and more often the busier the machine; the counted calls' spans are exported by
    # the flushes inside the window.
    env = {
        **os.environ,
        "PYTHONHASHSEED": "0",
        "LLMTRACE_EXPORT_INTERVAL_S": "86400",
        "OTEL_BSP_SCHEDULE_DELAY": "86400000",
    }
    out = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind worker failed: {out.stderr.strip()[-2000:]}")
    counts = {"Ir": int(found.group(1)) / calls}
    if cache:
        pid = re.search(r"^==(\d+)==", out.stderr, re.M)
        assert pid is not None, out.stderr[-2000:]
        with open(output.replace("%p", pid.group(1))) as dump:
            by_event = positions.event_totals(dump.read())
        assert by_event is not None, output
        counts["misses"] = sum(by_event[e] for e in positions.LAST_LEVEL_MISSES) / calls
    return counts


def main(
    libraries: tuple[str, ...],
    modes: tuple[str, ...],
    calls: int,
    jobs: int,
    repeat: int = 1,
    variants: tuple[str, ...] = frameworks.VARIANTS,
    timed_blocks: int = 0,
    cache: bool = False,
    ns_per: tuple[float, float] = _NS_PER,
    with_export: bool = False,
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        window = _window_library(directory)
        cases = [(lib, v, m) for lib in libraries for m in modes for v in variants]
        stream_calls = max(calls // 2, 1)

        def count(case: tuple[str, str, str]) -> dict[str, float]:
            library, variant, mode = case
            count_calls = calls if mode == "nonstream" else stream_calls
            return _count(
                library,
                variant,
                mode,
                count_calls,
                window,
                timed_blocks,
                directory if cache else None,
                with_export,
            )

        # Each case ``repeat`` times, in turns, and its median: a 50-chunk stream's count moves by
        # a few hundred thousand instructions between processes (threads' timing decides where
        # the collector runs), as much as a third of what an instrumentation adds.
        runs = [case for _ in range(repeat) for case in cases]
        with ThreadPoolExecutor(jobs) as pool:
            results = list(pool.map(count, runs))
        events = results[0].keys()
        counts = {
            case: {e: statistics.median(r[e] for r in results[i :: len(cases)]) for e in events}
            for i, case in enumerate(cases)
        }
    for lib in libraries:
        for mode in modes:
            none = counts[lib, "none", mode]
            added = {
                v: {e: counts[lib, v, mode][e] - none[e] for e in events} for v in variants if v != "none"
            }
            if cache:  # the CPU time the counts predict, by the fitted cost of each
                for a in added.values():
                    a["us"] = (a["Ir"] * ns_per[0] + a["misses"] * ns_per[1]) / 1000
            print(
                f"{lib:12s} {mode:9s} instructions/call none {none['Ir'] / 1e6:.3f} M | "
                + " | ".join(f"{v} +{a['Ir'] / 1e3:.0f} k" for v, a in added.items())
                + f" | llmtrace/peer {_ratios(added, 'Ir')}"
            )
            if cache:
                print(
                    f"{'':22s} L2 misses/call none {none['misses']:.0f} | "
                    + " | ".join(f"{v} +{a['misses']:.0f}" for v, a in added.items())
                    + f" | llmtrace/peer {_ratios(added, 'misses')}"
                )
                print(
                    f"{'':22s} estimated µs/call | "
                    + " | ".join(f"{v} +{a['us']:.1f}" for v, a in added.items())
                    + f" | llmtrace/peer {_ratios(added, 'us')}"
                )


def _ratios(added: dict[str, dict[str, float]], event: str) -> dict[str, float]:
    """llmtrace's added ``event`` as a fraction of each peer's."""
    if "llmtrace" not in added:
        return {}
    ours = added["llmtrace"][event]
    return {
        p: round(ours / added[p][event], 3) for p in frameworks.PEERS if p in added and added[p][event] > 0
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(
            sys.argv[2],
            sys.argv[3],
            sys.argv[4],
            int(sys.argv[5]),
            sys.argv[6],
            "--calls-only" not in sys.argv,
        )
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "--timed-worker":
        _timed_worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="calls counted (half that for streams)")
    parser.add_argument("--only", choices=frameworks.LIBRARIES, help="one library")
    parser.add_argument("--mode", choices=frameworks.MODES, help="one mode")
    parser.add_argument("--jobs", type=int, default=2, help="callgrind processes at once")
    parser.add_argument("--repeat", type=int, default=1, help="processes per case (their median)")
    parser.add_argument(
        "--variants",
        default=",".join(frameworks.VARIANTS),
        help="comma-separated variants to count (none is always counted)",
    )
    parser.add_argument(
        "--as-timed",
        type=int,
        default=0,
        metavar="BLOCKS",
        help="count the CPU benchmark's own sequence instead: BLOCKS rotations of all variants,"
        f" {_TIMED_CALLS} counted calls per block of the variant (overhead_frameworks.py's path)",
    )
    parser.add_argument(
        "--cache",
        action="store_true",
        help="simulate the caches (last level = this CPU's 1 MiB L2); count the calls without their"
        " export; report L2 misses and the CPU time predicted",
    )
    parser.add_argument(
        "--with-export",
        action="store_true",
        help="with --cache: count the export of the calls' spans too (all threads), as without --cache",
    )
    parser.add_argument(
        "--ns-per-instruction", type=float, default=_NS_PER[0], help="for the --cache estimate"
    )
    parser.add_argument("--ns-per-miss", type=float, default=_NS_PER[1], help="for the --cache estimate")
    args = parser.parse_args()
    if args.with_export and not args.cache:
        parser.error("--with-export is a --cache option (without --cache the export is counted)")
    if args.cache and args.as_timed:
        parser.error("--cache counts back-to-back calls; it does not combine with --as-timed")
    chosen = ("none", *(v for v in args.variants.split(",") if v in frameworks.VARIANTS and v != "none"))
    main(
        (args.only,) if args.only else frameworks.LIBRARIES,
        (args.mode,) if args.mode else frameworks.MODES,
        args.calls,
        args.jobs,
        args.repeat,
        chosen,
        args.as_timed,
        args.cache,
        (args.ns_per_instruction, args.ns_per_miss),
        args.with_export,
    )
