"""Run every benchmark, print each figure beside its baseline ratio, and write RESULTS.md.

    python benchmarks/run.py [--quick]

Each module (overhead, overhead_frameworks, ingest, ingest_levers, ingest_store, queries, export, ui_pages) runs in a subprocess of its own: chDB allows one
data path per process, and a benchmark must not inherit another's warm caches. A module that is
missing or fails is reported and the others still run. Benchmarks are not part of CI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODULES = (
    "overhead",
    "overhead_frameworks",
    "ingest",
    "ingest_levers",
    "ingest_store",
    "queries",
    "export",
    "ui_pages",
)
# Smaller runs for --quick (keyword arguments of each module's main()).
QUICK: dict[str, dict[str, Any]] = {
    "overhead": {"rounds": 2, "blocks": 10},
    "overhead_frameworks": {"rounds": 1, "blocks": 5, "calls": 5},
    "ingest": {"batches": 40, "warmup": 5, "workload": "both"},
    "ingest_levers": {"rounds": 2},
    "ingest_store": {"blocks": 2, "repeats": 1},
    "queries": {"sizes": [100_000]},
    "export": {"spans": 5_000},
    "ui_pages": {"sizes": [100_000], "repeats": 5},
}
# Ingest as issue 14's independent sender measures it: 16 batches of 512 in flight, 400 batches,
# the compiled build, for both workloads (spans without content and the content-carrying ones);
# the median of three fresh-server runs, each interleaved with a run of main's compiled build, so
# every figure has its before in the same session (runs of the same code differ by 10% and more on
# this VM).
FULL: dict[str, dict[str, Any]] = {
    "queries": {"sizes": [1_000_000, 10_000_000]},
    "ui_pages": {"sizes": [1_000_000, 10_000_000]},
    "ingest": {
        "batches": 400,
        "concurrency": 16,
        "repeats": 3,
        "decoder": "compiled",
        "workload": "both",
        "baseline": "main",
    },
    "ingest_levers": {"rounds": 5},
    "ingest_store": {"blocks": 16, "repeats": 3},
}
_CHILD = """
import json, sys
sys.path.insert(0, {here!r})
import {name} as module
result = module.main(**json.loads({kwargs!r}))
print("@@RESULT@@" + json.dumps(result, default=str))
"""


def run_module(
    name: str, kwargs: dict[str, Any], timeout_s: float
) -> tuple[dict[str, Any] | None, str, float]:
    """(result, error text, seconds) of one module's ``main(**kwargs)`` in a subprocess."""
    if "sizes" in kwargs:
        kwargs = {**kwargs, "sizes": tuple(kwargs["sizes"])}
    code = _CHILD.format(here=str(HERE), name=name, kwargs=json.dumps(kwargs))
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout_s:.0f} s", time.monotonic() - started
    seconds = time.monotonic() - started
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("@@RESULT@@"):
            return json.loads(line.removeprefix("@@RESULT@@")), "", seconds
    return None, (done.stderr or done.stdout).strip()[-1500:], seconds


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts/lists as ``(dotted.key, leaf)`` pairs, in order."""
    if isinstance(value, dict):
        return [pair for k, v in value.items() for pair in flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [pair for i, v in enumerate(value) for pair in flatten(v, f"{prefix}[{i}]")]
    return [(prefix, value)]


def machine() -> dict[str, Any]:
    try:
        import chdb

        chdb_version = getattr(chdb, "__version__", "?")
    except ImportError:
        chdb_version = "not installed"
    memory = "?"
    try:
        with open("/proc/meminfo") as meminfo:
            memory = f"{int(meminfo.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "chdb": chdb_version,
    }


def render(
    info: dict[str, Any],
    results: dict[str, tuple[dict[str, Any] | None, str, float]],
    quick: bool,
    previous: str = "",
) -> str:
    """RESULTS.md; modules not in ``results`` keep their section from ``previous`` (the old file)."""
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python benchmarks/run.py{' --quick' if quick else ''}`. Figures named `*ratio*` or `*_vs_*` compare "
        "against the baseline named beside them (uninstrumented call, official OpenTelemetry instrumentation, "
        "raw `insert_spans`, the workload without llmtrace, or the pure-Python build of the decoding path).",
        "",
        "| machine | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in info.items()],
        "",
    ]
    kept = _sections(previous)
    for name in MODULES:
        if name not in results:
            if name in kept:  # not run this time (--only): its earlier section stays, dated
                lines += kept[name]
            continue
        result, error, seconds = results[name]
        lines += [f"## {name} ({seconds:.0f} s, {info['date']})", ""]
        if result is None:
            lines += [f"Not measured: {error.splitlines()[-1] if error else 'no result'}", ""]
            continue
        lines += ["| figure | value |", "|---|---|"]
        lines += [f"| {key} | {value} |" for key, value in flatten(result)]
        lines.append("")
    return "\n".join(lines)


def _sections(text: str) -> dict[str, list[str]]:
    """The ``## module`` sections of an earlier RESULTS.md, by module name."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:].split(" ", 1)[0], [])
        if current is not None:
            current.append(line)
    return sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run every llmtrace benchmark and write benchmarks/RESULTS.md."
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--only", nargs="*", choices=MODULES, help="run only these modules")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per module, seconds")
    args = parser.parse_args(argv)
    info = machine()
    print(" ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    results: dict[str, tuple[dict[str, Any] | None, str, float]] = {}
    for name in args.only or MODULES:
        if not (HERE / f"{name}.py").exists():
            results[name] = (None, "module not present", 0.0)
            print(f"\n== {name}: not present", flush=True)
            continue
        print(f"\n== {name} ...", flush=True)
        kwargs = (QUICK if args.quick else FULL).get(name, {})
        results[name] = run_module(name, kwargs, args.timeout)
        result, error, seconds = results[name]
        if result is None:
            print(
                f"   failed after {seconds:.0f} s: {error.splitlines()[-1] if error else 'no result'}",
                flush=True,
            )
            continue
        for key, value in flatten(result):
            marker = "   <- vs its baseline" if "ratio" in key.lower() or "_vs_" in key else ""
            print(f"   {key:<60} {value}{marker}", flush=True)
    out = HERE / "RESULTS.md"
    previous = out.read_text() if args.only and out.exists() else ""
    out.write_text(render(info, results, args.quick, previous) + "\n")
    print(f"\nwrote {out}")
    return 0 if all(r is not None for r, _, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
