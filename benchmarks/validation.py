"""Cost of per-span validation on the ingest decode path, against a baseline git ref, same run.

Issue 13 moved every value check (non-finite numbers, int64 range, start times within the
retention window, strings Arrow cannot encode) in front of the shared INSERT. This measures what
that costs where it runs: ``llmtrace_server.ingest.decode_batch`` (protobuf decode, span mapping,
Arrow table) on bodies of 512 realistic LLM spans, each carrying ~1.5 KB of message content.

The baseline tree (default ``main``) is exported with ``git archive`` and both trees run in
alternating subprocesses (``PYTHONPATH`` first, so each imports its own pure-Python source), on
identical bodies. Reported: each tree's median µs per span and the ratio current / baseline.

Run: ``nice python benchmarks/validation.py [--baseline main] [--bodies 40] [--repeats 5]``;
``main()`` returns the dict.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

_CHILD = """
import inspect, json, sys, time
from llmtrace_server import ingest
import llmtrace.store.rows as rows
assert rows.__file__.startswith({tree!r}), rows.__file__
bodies = [bytes.fromhex(line) for line in open({bodies!r})]
kwargs = {{}}
if "limits" in inspect.signature(ingest.decode_batch).parameters:
    kwargs["limits"] = ingest.SpanLimits(max_age_days=90)  # as the server runs it
for body in bodies[:3]:
    ingest.decode_batch(body, "application/x-protobuf", None, "bench", 1 << 26, **kwargs)  # warm-up
spans = 0
started = time.process_time()
for body in bodies:
    prepared = ingest.decode_batch(body, "application/x-protobuf", None, "bench", 1 << 26, **kwargs)
    assert not prepared.rejected, prepared.error_message()
    spans += prepared.spans.num_rows
print(json.dumps({{"us_per_span": (time.process_time() - started) * 1e6 / spans, "spans": spans}}))
"""


def _bodies(count: int, path: Path) -> None:
    """``count`` protobuf bodies of 512 LLM spans with message content, one hex line each."""
    from ingest import _batch
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    rng = random.Random(13)
    now_ns = time.time_ns()
    words = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "the", "model"]
    with path.open("w") as out:
        for seq in range(count):
            request = ExportTraceServiceRequest.FromString(_batch(rng, seq, now_ns, carry_cost=seq % 2 == 0))
            for span in request.resource_spans[0].scope_spans[0].spans:
                prompt = " ".join(rng.choices(words, k=180))  # ~1 KB in, ~0.5 KB out
                answer = " ".join(rng.choices(words, k=90))
                span.attributes.extend(
                    [
                        KeyValue(
                            key="gen_ai.input.messages",
                            value=AnyValue(string_value=json.dumps([{"role": "user", "content": prompt}])),
                        ),
                        KeyValue(
                            key="gen_ai.output.messages",
                            value=AnyValue(
                                string_value=json.dumps([{"role": "assistant", "content": answer}])
                            ),
                        ),
                    ]
                )
            out.write(request.SerializeToString().hex() + "\n")


def _export(ref: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "llmtrace", "server"], check=True, capture_output=True
    ).stdout
    archive_path = into / "tree.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def _measure(tree: Path, bodies: Path) -> float:
    env = {"PYTHONPATH": f"{tree}:{tree / 'server'}", "PATH": "/usr/bin:/bin"}
    code = _CHILD.format(tree=str(tree), bodies=str(bodies))
    done = subprocess.run(  # cwd: `-c` puts it first on sys.path
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tree, check=False
    )
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return float(json.loads(done.stdout.strip().splitlines()[-1])["us_per_span"])


def main(baseline: str = "main", bodies: int = 40, repeats: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="llmtrace-validation-") as tmp:
        work = Path(tmp)
        data = work / "bodies.hex"
        _bodies(bodies, data)
        base_tree = _export(baseline, work)
        runs: dict[str, list[float]] = {"baseline": [], "current": []}
        for _ in range(repeats):  # interleaved: a busy moment of the shared machine hits both
            runs["baseline"].append(_measure(base_tree, data))
            runs["current"].append(_measure(ROOT, data))
    base, current = statistics.median(runs["baseline"]), statistics.median(runs["current"])
    return {
        "baseline_ref": baseline,
        "spans": bodies * 512,
        "repeats": repeats,
        "baseline_us_per_span": round(base, 2),
        "current_us_per_span": round(current, 2),
        "ratio_current_to_baseline": round(current / base, 3),
        "runs_us_per_span": {k: [round(v, 2) for v in vs] for k, vs in runs.items()},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main")
    parser.add_argument("--bodies", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(main(args.baseline, args.bodies, args.repeats), indent=2))
