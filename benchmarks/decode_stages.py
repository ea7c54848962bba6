"""CPU per span of each stage of the compiled decode path, this tree against a baseline tree.

:mod:`benchmarks.decode` times a decode worker's whole path; this splits it into the stages that
``llmtrace_server.ingest.decode_batch`` runs one after the other, so a change to one stage is seen
in that stage's figure:

* ``wire``: ``otlp.decode`` (bytes to decoded spans);
* ``mapping``: ``ingest.prepare`` without its Arrow conversion (validation, dialects, pricing);
* ``arrow``: the Arrow conversion of the mapped rows (``ingest.prepare``'s ``span_table`` call);
* ``whole``: ``decode_batch`` end to end, body by body, as a decode worker runs it (with its pause
  of the garbage collector). It comes out below the sum of the three: the stages are timed over
  all the block's bodies at once, so every body's decoded spans are alive together. In a tree
  whose wheel carries the C reader (``llmtrace_server.cwire``), ``whole`` is that reader (it
  reads every genai body); the three stages are then the Python path it falls back to.

Each tree's compiled wheel runs in a long-lived subprocess, its garbage collector tuned as in a
decode worker; the two take turns in short blocks, so a busy spell of a shared machine hits both
alike. Medians of process CPU time per span.

Run: ``python benchmarks/decode_stages.py --baseline /path/to/other/tree [--blocks 15] [--bodies 10]
[--work DIR]`` (the genai workload: issue 14's ~2.1 KB spans).
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest  # benchmarks/ingest.py: its wheel build
from decode import run_blocks, start_workers  # benchmarks/decode.py: the A/B's worker processes
from genai_workload import GenAiBatches

STAGES = ("wire", "mapping", "arrow", "whole")

# The Arrow stage is timed by wrapping the ``span_table`` that ingest.prepare calls: whatever
# prepare does around it is the mapping stage.
_WORKER = """
import sys, time, pickle
from llmtrace_server import otlp, ingest
import llmtrace.store.rows as rows
from llmtrace_server.gc_tuning import tune_gc
assert not rows.__file__.endswith(".py"), rows.__file__
tune_gc()  # as a decode worker does
stdin = sys.stdin.buffer
bodies = pickle.loads(stdin.read(int(stdin.readline())))
arrow = [0.0]
real_table = ingest.span_table
def timed_table(*args, **kwargs):
    start = time.process_time()
    try:
        return real_table(*args, **kwargs)
    finally:
        arrow[0] += time.process_time() - start
print("ready", flush=True)
for line in stdin:
    spans = 0
    arrow[0] = 0.0
    start = time.process_time()
    batches = [otlp.decode(body, otlp.PROTOBUF) for body in bodies]
    decoded = time.process_time()
    ingest.span_table = timed_table
    for batch in batches:
        spans += len(ingest.prepare(batch, "bench").spans)
    ingest.span_table = real_table
    prepared = time.process_time()
    for body in bodies:
        ingest.decode_batch(body, otlp.PROTOBUF, None, "bench", 1 << 30)
    whole = time.process_time()
    us = 1e6 / spans
    print((decoded - start) * us, (prepared - decoded - arrow[0]) * us, arrow[0] * us, (whole - prepared) * us,
          flush=True)
"""


def main(baseline: Path, blocks: int, bodies: int, work: Path | None) -> dict[str, Any]:
    """Alternate ``blocks`` timed blocks of ``bodies`` genai bodies between the two compiled builds."""
    if work is None:
        with tempfile.TemporaryDirectory(prefix="llmtrace-decode-stages-") as temp:
            return main(baseline, blocks, bodies, Path(temp))
    batches = GenAiBatches(1, time.time_ns())
    data = pickle.dumps([batches.body(i) for i in range(bodies)])
    times: dict[str, dict[str, list[float]]] = {}
    for name, figures in run_blocks(start_workers(_WORKER, data, baseline, work), blocks).items():
        times[name] = {stage: [block[i] for block in figures] for i, stage in enumerate(STAGES)}
    medians = {
        name: {stage: round(statistics.median(v), 2) for stage, v in stages.items()}
        for name, stages in times.items()
    }
    return {
        "spans_per_block": bodies * ingest.BATCH,
        "blocks": blocks,
        "cpu_us_per_span": medians,
        "this_vs_baseline": {
            stage: round(medians["this"][stage] / medians["baseline"][stage], 3) for stage in STAGES
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another llmtrace source tree")
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--bodies", type=int, default=10, help="bodies of 512 spans per block")
    parser.add_argument("--work", type=Path, help="build directory to keep and reuse (default: temporary)")
    args = parser.parse_args()
    print(json.dumps(main(args.baseline, args.blocks, args.bodies, args.work), indent=2))
