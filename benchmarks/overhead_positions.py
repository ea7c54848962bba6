"""What each variant adds per timed call, by its position in a block, under callgrind's cache and
branch simulation: the CPU benchmark's own sequence, counted call by call.

``overhead_frameworks.py``'s sequence (its warm-up, then rotations of all four variants' blocks,
each switched on anew with a fresh client, the young collection, the untimed call and the flush)
runs in one process under ``valgrind --tool=callgrind --cache-sim=yes --branch-sim=yes``; every
timed call's counts are dumped on their own. Reported per variant and position: instructions,
first-level misses (instruction + data), last-level misses and mispredicted branches added over
``none`` (medians over the rotations), and llmtrace's ratio to each peer over positions 2-6.

Why: the CPU clock and the instruction count disagree about llmtrace's share (docs/integrations.md,
overhead5). The simulated last level is sized as this machine's per-core L2 (``--ll-bytes``,
default 1 MiB), not its L3: at the L3's size nothing any variant touches misses, while misses of
the L2 are what llmtrace's code, run once per call, pays again on every call. A per-position
count that rises at the first positions is work after switching on (as a young collection was);
a flat one says the count sees no warm-up, whatever the clock shows.

Run: ``python benchmarks/overhead_positions.py [--only google_genai] [--mode nonstream]
[--rotations 4]``; one process per library and mode, ~5 minutes each.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import overhead_frameworks as frameworks

_CLIENT_REQUESTS = """
#include <valgrind/callgrind.h>
void instrument_on(void) { CALLGRIND_START_INSTRUMENTATION; }
void toggle(void) { CALLGRIND_TOGGLE_COLLECT; }
void dump(const char *s) { CALLGRIND_DUMP_STATS_AT(s); }
"""
_CALLS = 6  # timed calls per block, as ``overhead_frameworks.py --calls 6``
LAST_LEVEL_MISSES = ("ILmr", "DLmr", "DLmw")  # callgrind's: instruction reads, data reads, data writes
# Reported event groups: (label, callgrind events summed).
_GROUPS = (
    ("instructions", ("Ir",)),
    ("L1 misses", ("I1mr", "D1mr", "D1mw")),
    ("last-level misses", LAST_LEVEL_MISSES),
    ("mispredicted branches", ("Bcm", "Bim")),
)


def cache_sim(ll_bytes: int = 1 << 20) -> list[str]:
    """callgrind's cache simulation of this CPU (AMD EPYC): 32 KiB first levels and, as the last
    level, ``ll_bytes`` (default its 1 MiB per-core L2; also used by ``instructions.py --cache``)."""
    return ["--cache-sim=yes", "--I1=32768,8,64", "--D1=32768,8,64", f"--LL={ll_bytes},8,64"]


def event_totals(text: str) -> dict[str, int] | None:
    """The event totals of a callgrind output file, by event name (None if it has none).

    ``totals:`` where there is one (a file written at exit can have ``summary: 0`` beside it, the
    part after the last zeroing); callgrind leaves trailing zero counts off a line, so missing ones
    are 0."""
    events = re.search(r"^events: (.*)$", text, re.M)
    totals = re.search(r"^totals: (.*)$", text, re.M) or re.search(r"^summary: (.*)$", text, re.M)
    if events is None or totals is None:
        return None
    counts = dict.fromkeys(events.group(1).split(), 0)
    counts.update(zip(counts, map(int, totals.group(1).split()), strict=False))
    return counts


def _worker(library: str, mode: str, rotations: int, window: str) -> None:
    """The CPU benchmark's blocks, each timed call collected and dumped on its own."""
    from llmtrace._internal import pricing

    pricing._RESOLVE_TTL_S = 86400.0  # no price re-resolution inside a counted call
    counting = ctypes.CDLL(window)
    variants = frameworks._Variants(library)
    for variant in frameworks.VARIANTS:  # the CPU benchmark's warm-up of this mode
        variants.block(variant, mode, 10)
    counting.instrument_on()  # simulated from here on, collected only inside the timed calls
    for b in range(rotations):
        shift = b % len(frameworks.VARIANTS)
        for variant in frameworks.VARIANTS[shift:] + frameworks.VARIANTS[:shift]:

            def after(variant: str = variant, position: Iterator[int] = iter(range(_CALLS))) -> None:
                counting.toggle()
                counting.dump(f"{variant} {next(position)}".encode())  # (and zeroes the counts)

            variants.block(variant, mode, _CALLS, (counting.toggle, after))


def _dumps(directory: str) -> dict[tuple[str, int], list[dict[str, int]]]:
    """Every dump of a timed call: (variant, position) -> its event totals, one per rotation."""
    found: dict[tuple[str, int], list[dict[str, int]]] = {}
    for path in glob.glob(os.path.join(directory, "out.*")):
        with open(path) as dump:
            text = dump.read()
        trigger = re.search(r"^desc: Trigger: Client Request: (\w+) (\d+)$", text, re.M)
        counts = event_totals(text)
        if trigger is None or counts is None:
            continue
        found.setdefault((trigger.group(1), int(trigger.group(2))), []).append(counts)
    return found


def main(library: str, mode: str, rotations: int, ll_bytes: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        source, window = os.path.join(directory, "window.c"), os.path.join(directory, "window.so")
        with open(source, "w") as c_file:
            c_file.write(_CLIENT_REQUESTS)
        subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", window, source], check=True)
        argv = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--collect-atstart=no",
            *cache_sim(ll_bytes),
            "--branch-sim=yes",
            f"--callgrind-out-file={directory}/out.%p",
            sys.executable,
            __file__,
            "--worker",
            library,
            mode,
            str(rotations),
            window,
        ]
        # As `instructions.py`: one hash seed, no export on a timer inside the counted calls.
        env = {
            **os.environ,
            "PYTHONHASHSEED": "0",
            "LLMTRACE_EXPORT_INTERVAL_S": "86400",
            "OTEL_BSP_SCHEDULE_DELAY": "86400000",
        }
        out = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
        if out.returncode != 0:
            raise RuntimeError(f"callgrind worker failed: {out.stderr.strip()[-2000:]}")
        dumps = _dumps(directory)

    def added(variant: str, position: int, events: tuple[str, ...]) -> float:
        def median(v: str) -> float:
            return statistics.median(sum(d[e] for e in events) for d in dumps[v, position])

        return median(variant) - median("none")

    print(f"{library} {mode}: added over none per timed call, by position (median of {rotations} rotations)")
    for label, events in _GROUPS:
        print(f"  {label}")
        for variant in frameworks.VARIANTS[1:]:
            row = [added(variant, p, events) for p in range(_CALLS)]
            print(f"    {variant:14s}" + " ".join(f"{x:>10,.0f}" for x in row))
        ours = sum(added("llmtrace", p, events) for p in range(1, _CALLS))
        ratios = {
            p: round(ours / sum(added(p, q, events) for q in range(1, _CALLS)), 2) for p in frameworks.PEERS
        }
        print(f"    llmtrace/peer, positions 2-{_CALLS}: {ratios}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=frameworks.LIBRARIES, help="one library")
    parser.add_argument("--mode", choices=frameworks.MODES, help="one mode")
    parser.add_argument("--rotations", type=int, default=4)
    parser.add_argument("--ll-bytes", type=int, default=1 << 20, help="simulated last-level cache size")
    args = parser.parse_args()
    for library in (args.only,) if args.only else frameworks.LIBRARIES:
        for mode in (args.mode,) if args.mode else frameworks.MODES:
            main(library, mode, args.rotations, args.ll_bytes)
