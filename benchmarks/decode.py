"""CPU per span of the compiled decode-and-map path, this source tree against a baseline tree.

What a decode worker does for each OTLP body (``llmtrace_server.ingest.decode_batch``: protobuf
decode, the row mapping of ``llmtrace.store.rows``, pricing, the Arrow table), timed as process CPU
time in two long-lived subprocesses, one importing each tree's mypyc-compiled wheel. They take
turns in short blocks, many times over, so a busy spell of a shared machine hits both alike; the
result is each one's median CPU µs per span and their ratio. No server and no store: on a loaded
VM this is far steadier than ``benchmarks/ingest.py``'s whole-server figures.

The bodies are ``benchmarks/ingest.py``'s: 512 LLM spans per body with ~1-2 KB of content-like
attributes, as the official instrumentation sends them. ``--dialect openinference`` sends the same
calls as OpenInference spans instead (flattened messages, invocation parameters); ``--dialect
genai`` sends issue 14's content-carrying spans (:mod:`genai_workload`, ~2.1 KB each).

Run: ``python benchmarks/decode.py --baseline /path/to/other/tree [--blocks 15] [--bodies 20]``
(make the baseline with ``git worktree add`` or ``git archive main | tar -x -C DIR``).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest  # benchmarks/ingest.py: its bodies and its wheel build
from genai_workload import GenAiBatches

DIALECTS = ("official", "openinference", "genai")

_WORKER = """
import sys, time, pickle
from llmtrace_server import otlp
from llmtrace_server.ingest import decode_batch
import llmtrace.store.rows as rows
assert not rows.__file__.endswith(".py"), rows.__file__
stdin = sys.stdin.buffer  # binary throughout: a text-mode readline would read ahead of the pickle
bodies = pickle.loads(stdin.read(int(stdin.readline())))
print("ready", flush=True)
for line in stdin:
    start = time.process_time()
    spans = 0
    for body in bodies:
        spans += len(otlp.decode(body, otlp.PROTOBUF).records)
    decoded = time.process_time()
    for body in bodies:
        decode_batch(body, "application/x-protobuf", None, "bench", 1 << 30)
    print((decoded - start) * 1e6 / spans, (time.process_time() - decoded) * 1e6 / spans, flush=True)
"""


def _openinference(body: bytes) -> bytes:
    """The same calls as OpenInference spans: other names, flattened messages, parameters as JSON."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import KeyValue

    renames = {
        "gen_ai.provider.name": "llm.provider",
        "gen_ai.response.model": "llm.model_name",
        "gen_ai.usage.input_tokens": "llm.token_count.prompt",
        "gen_ai.usage.output_tokens": "llm.token_count.completion",
    }
    request = ExportTraceServiceRequest.FromString(body)
    for span in request.resource_spans[0].scope_spans[0].spans:
        attrs = []
        for kv in span.attributes:
            if kv.key == "gen_ai.request.model":
                params = json.dumps({"model": kv.value.string_value, "temperature": 0.2})
                attrs.append(KeyValue(key="llm.invocation_parameters", value={"string_value": params}))
            elif kv.key in ("gen_ai.operation.name", "gen_ai.response.finish_reasons"):
                continue
            else:
                attrs.append(KeyValue(key=renames.get(kv.key, kv.key), value=kv.value))
        for key, value in (
            ("openinference.span.kind", "LLM"),
            ("llm.finish_reason", "stop"),
            ("llm.input_messages.0.message.role", "user"),
            ("llm.input_messages.0.message.content", "Summarise the following text. " * 30),
            ("llm.output_messages.0.message.role", "assistant"),
            ("llm.output_messages.0.message.content", "A short summary of the text. " * 10),
        ):
            attrs.append(KeyValue(key=key, value={"string_value": value}))
        del span.attributes[:]
        span.attributes.extend(attrs)
    return request.SerializeToString()


def start_workers(worker: str, data: bytes, baseline: Path, work: Path) -> dict[str, subprocess.Popen[bytes]]:
    """One process per tree (``baseline`` and this one) running ``worker`` on its own compiled
    wheel, each handed the pickled ``data`` and ready for its first ``go``."""
    workers = {}
    for name, root in {"baseline": baseline.resolve(), "this": ingest.ROOT}.items():
        site = work / name / "site"
        # Each tree's own wheel: the source is passed explicitly (an earlier version set ingest.ROOT,
        # which _code_path's default argument had already captured, and built this tree twice).
        path = str(site) if site.is_dir() else ingest._code_path("compiled", work / name, root)
        proc = subprocess.Popen(
            [sys.executable, "-P", "-c", worker],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=ingest._server_env(path),
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(f"{len(data)}\n".encode() + data)
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == b"ready"
        workers[name] = proc
    return workers


def run_blocks(workers: dict[str, subprocess.Popen[bytes]], blocks: int) -> dict[str, list[list[float]]]:
    """Alternate ``blocks`` timed blocks between the workers (one more first, to warm both up, not
    counted), then stop them: each tree's figures, one list per block, as its worker printed them."""
    figures: dict[str, list[list[float]]] = {name: [] for name in workers}
    for block in range(blocks + 1):
        for name, proc in workers.items():
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
            line = [float(value) for value in proc.stdout.readline().split()]
            if block:
                figures[name].append(line)
    for proc in workers.values():
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)
    return figures


def main(
    baseline: Path, blocks: int = 15, bodies: int = 20, dialect: str = "official", work: Path | None = None
) -> dict[str, Any]:
    """Alternate ``blocks`` timed blocks of ``bodies`` bodies between the two trees' compiled builds.

    ``work``: where the two wheels are built and installed; given, an existing build is reused
    (delete it after changing either tree).
    """
    if work is None:
        with tempfile.TemporaryDirectory(prefix="llmtrace-decode-ab-") as temp:
            return main(baseline, blocks, bodies, dialect, Path(temp))
    import pickle

    rng = random.Random(1)
    now_ns = time.time_ns()
    if dialect == "genai":
        batches = GenAiBatches(1, now_ns)
        payload = [batches.body(i) for i in range(bodies)]
    else:
        payload = [ingest._batch(rng, i, now_ns, False) for i in range(bodies)]
    if dialect == "openinference":
        payload = [_openinference(body) for body in payload]
    data = pickle.dumps(payload)
    times: dict[str, list[float]] = {}
    protobuf: dict[str, list[float]] = {}
    for name, figures in run_blocks(start_workers(_WORKER, data, baseline, work), blocks).items():
        protobuf[name] = [step for step, _ in figures]
        times[name] = [whole for _, whole in figures]
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "dialect": dialect,
        "spans_per_block": bodies * ingest.BATCH,
        "blocks": blocks,
        "cpu_us_per_span": {name: round(value, 2) for name, value in medians.items()},
        # The protobuf step alone (``otlp.decode``: bytes to SpanRecords), timed apart in each block.
        "protobuf_us_per_span": {name: round(statistics.median(v), 2) for name, v in protobuf.items()},
        "cpu_us_per_span_runs": {name: [round(v, 2) for v in values] for name, values in times.items()},
        "this_vs_baseline": round(medians["this"] / medians["baseline"], 3),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another llmtrace source tree")
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--bodies", type=int, default=20, help="bodies of 512 spans per block")
    parser.add_argument("--dialect", choices=DIALECTS, default="official")
    parser.add_argument("--work", type=Path, help="build directory to keep and reuse (default: temporary)")
    args = parser.parse_args()
    print(json.dumps(main(args.baseline, args.blocks, args.bodies, args.dialect, args.work), indent=2))
