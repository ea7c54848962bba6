"""Interleaved A/B of every exploration query: this version's query modules against a git ref's.

Both run in one process on one store already migrated by this version (chDB allows one process
per data path): the ref's ``llmtrace/store/queries`` package is extracted with ``git archive``
and imported under another name (its imports of its own package rewritten), so the ref's SQL
runs over the same tables, the same rows and the same caches. New tables are simply not read
by the ref's queries. Runs alternate A, B, B, A, ... each with a value (user, session, word)
the other side does not ask for, so neither is served from the other's query condition cache.
Reported per case: p50/p95 ms of each side and the ratios ref/this (above 1: this is faster),
and the median CPU ms of the process per call (the engine runs in it), which the load of a
shared machine blurs less than wall time.

    nice python benchmarks/exploration_ab.py --store /work/stores/scale-10m --database explore_10000000
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import exploration

from llmtrace.store import open_store

QUERIES = "llmtrace/store/queries"
ROOT = Path(__file__).resolve().parent.parent


def import_ref_queries(ref: str, into: Path) -> exploration.QueryModules:
    """The ref's query modules, imported as ``ref_queries.*`` from ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, QUERIES], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    package = into / "ref_queries"
    (into / QUERIES).rename(package)
    for path in package.glob("*.py"):
        path.write_text(path.read_text().replace("llmtrace.store.queries", "ref_queries"))
    sys.path.insert(0, str(into))
    mods = [
        importlib.import_module(f"ref_queries.{name}") for name in ("spans", "traces", "sessions", "users")
    ]
    return exploration.QueryModules(*mods)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def run(
    store: Any, now: datetime, ref: exploration.QueryModules, runs: int, only: list[str] | None = None
) -> dict[str, Any]:
    """``{case: {this_p50, this_p95, ref_p50, ref_p95, p50_ratio, p95_ratio}}`` (ms, ref/this) for
    every case, or those named in ``only``."""
    values = 2 * runs + 2
    sides = {
        "this": exploration.cases(store, now, values),
        "ref": exploration.cases(store, now, values, ref),
    }
    out: dict[str, Any] = {}
    for name in sides["this"]:
        if only and name not in only:
            continue
        times: dict[str, list[float]] = {"this": [], "ref": []}
        cpu: dict[str, list[float]] = {"this": [], "ref": []}
        for side in times:  # warm-up with values no timed run asks for
            sides[side][name][0](2 * runs + (side == "ref"))
        for i in range(runs):
            order = ("this", "ref") if i % 2 == 0 else ("ref", "this")
            for k, side in enumerate(order):
                t0, c0 = time.perf_counter(), time.process_time()
                sides[side][name][0](2 * i + k)
                times[side].append((time.perf_counter() - t0) * 1000)
                cpu[side].append((time.process_time() - c0) * 1000)
        row = {f"{side}_p50": round(statistics.median(t), 1) for side, t in times.items()}
        row |= {f"{side}_p95": round(_p95(t), 1) for side, t in times.items()}
        row |= {f"{side}_cpu_p50": round(statistics.median(t), 1) for side, t in cpu.items()}
        row["p50_ratio"] = round(row["ref_p50"] / max(row["this_p50"], 1e-3), 2)
        row["p95_ratio"] = round(row["ref_p95"] / max(row["this_p95"], 1e-3), 2)
        out[name] = row
        print(
            f"{name:28s} ref {row['ref_p50']:7.1f}/{row['ref_p95']:7.1f}  this {row['this_p50']:7.1f}/"
            f"{row['this_p95']:7.1f}  ratio {row['p50_ratio']}/{row['p95_ratio']}"
            f"  cpu p50 {row['ref_cpu_p50']} -> {row['this_cpu_p50']}",
            file=sys.stderr,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="chDB data path of a store migrated by this version")
    parser.add_argument("--database", required=True)
    parser.add_argument("--ref", default="main", help="git ref to compare with (default: main)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each side per case")
    parser.add_argument("--only", nargs="*", help="case names to run (default: all)")
    args = parser.parse_args()
    store = open_store(f"chdb://{Path(args.store).resolve()}", args.database)
    store.migrate()
    now = store.client.query(
        "SELECT max(end_time) FROM {db:Identifier}.spans", parameters={"db": store.database}
    ).result_rows[0][0]
    with tempfile.TemporaryDirectory() as tmp:
        ref = import_ref_queries(args.ref, Path(tmp))
        load_before = os.getloadavg()
        cases = run(store, now, ref, args.runs, args.only)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    report = {
        "store": args.store,
        "spans": store.client.command(f"SELECT count() FROM {store.database}.spans"),
        "this": commit,
        "ref": args.ref,
        "runs": args.runs,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "cases": cases,
    }
    print(json.dumps(report, indent=1, default=str))
    store.close()


if __name__ == "__main__":
    main()
