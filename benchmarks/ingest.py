"""OTLP ingest throughput of a real ``llmtrace serve`` on an embedded store.

The server runs as its own process (uvicorn, one worker, a fresh temporary chDB store). This
process builds OTLP protobuf batches of 512 spans, then posts them from several keep-alive
connections at once, so the server always has work queued. Two workloads (``--workload``):

* ``light``: LLM spans with GenAI attributes (varied models, token counts, prompts, users) and no
  message content, ~0.5 KB each;
* ``genai``: issue 14's content-carrying spans, ~2.1 KB each (:mod:`genai_workload`: input and
  output messages, 14 attributes, 1% errors, one trace in 50 an agent trace).

Reported: spans/s acknowledged over the measured batches (after a warm-up), p50/p99 request
latency, seconds from the last acknowledgement until every span is queryable (the metrics API
counts all LLM calls), the server's CPU use (per second and per span; the latter does not depend
on what else the machine runs), peak RSS of the server process and of its decode workers, the
machine's load average and speed (a fixed Python workload's CPU time,
:func:`_machine_reference_ms`), and a check that the store holds every acknowledged span exactly
once.

Which build of the span decoding path the server runs is chosen by ``--decoder``: ``installed``
(what this environment imports; an editable install is pure Python), ``python`` (this source tree),
``compiled`` (a wheel built from this source tree, its decoding path compiled by mypyc: see
``hatch_build.py``), or ``both``: python and compiled runs alternate, and the result has each one's
median and their ratio, measured in the same session on the same machine. ``--baseline REV``
adds the compiled wheel of git revision REV (e.g. ``main``), run interleaved with this tree's
compiled build, so a change is measured against what it changes in the same session.

Run: ``python benchmarks/ingest.py [--workload genai] [--batches 200] [--concurrency 8]
[--repeats 1] [--decoder installed] [--baseline main]``; ``main()`` returns the dict.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genai_workload import GenAiBatches  # a sibling module: benchmarks/ is on sys.path

BATCH = 512
ROOT = Path(__file__).resolve().parent.parent
DECODERS = ("installed", "python", "compiled", "both")
WORKLOADS = ("light", "genai", "both")
PREBUILT_BODIES = 600  # up to this many batches are built before sending; more are built as sent
MODELS = [("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("anthropic", "claude-3-5-haiku-20241022")]


def _batch(rng: random.Random, seq: int, now_ns: int, carry_cost: bool) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    def kv(key: str, value: Any) -> KeyValue:
        if isinstance(value, float):
            return KeyValue(key=key, value=AnyValue(double_value=value))
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        if isinstance(value, list):
            v = AnyValue()
            v.array_value.values.extend(AnyValue(string_value=x) for x in value)
            return KeyValue(key=key, value=v)
        return KeyValue(key=key, value=AnyValue(string_value=value))

    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", "checkout"), kv("deployment.environment.name", "prod")])
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.openai_v2"
    for i in range(BATCH):
        provider, model = rng.choice(MODELS)
        start = now_ns - rng.randrange(600 * 10**9)
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.response.model": model,
            "gen_ai.response.id": f"chatcmpl-{seq}-{i}",
            "gen_ai.usage.input_tokens": rng.randrange(50, 4000),
            "gen_ai.usage.output_tokens": rng.randrange(1, 800),
            "gen_ai.response.finish_reasons": ["stop"],
            "server.address": "api.openai.com",
            "llmtrace.prompt.name": rng.choice(["summarize", "classify", "answer"]),
            "llmtrace.prompt.version": rng.choice(["v1", "v2"]),
            "user.id": f"user-{rng.randrange(1000)}",
            "session.id": f"session-{rng.randrange(5000)}",
        }
        if carry_cost:  # as llmtrace's SDK sends it: the server then skips the price book
            attrs["llmtrace.cost.usd"] = rng.uniform(1e-5, 1e-2)
        ss.spans.append(
            Span(
                trace_id=rng.randbytes(16),
                span_id=rng.randbytes(8),
                name=f"chat {model}",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=start,
                end_time_unix_nano=start + rng.randrange(200, 4000) * 10**6,
                attributes=[kv(k, v) for k, v in attrs.items()],
            )
        )
    return request.SerializeToString()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _code_path(decoder: str, work: Path, source: Path = ROOT) -> str | None:
    """The PYTHONPATH that makes the server import ``decoder``'s build (None: this environment's)."""
    if decoder == "python":
        return os.pathsep.join([str(source), str(source / "server")])
    if decoder == "compiled":
        wheels, site = work / "wheel", work / "site"
        pip = [sys.executable, "-m", "pip", "-q"]
        subprocess.run(
            [*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(wheels)], check=True
        )
        (wheel,) = wheels.glob("llmtrace-*.whl")
        subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
        return str(site)
    return None


def _export_revision(revision: str, work: Path) -> Path:
    """The source tree of git ``revision`` of this repository, extracted under ``work``."""
    work.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
    return work


def _server_env(code_path: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMTRACE_")}
    if code_path is not None:
        env["PYTHONPATH"] = code_path
    return env


def _decoder_build(code_path: str | None) -> str:
    """``compiled`` or ``python``: which ``llmtrace_server.otlp`` the server imports with this path."""
    code = "import llmtrace_server.otlp as m; print(m.__file__)"
    where = subprocess.run(
        [sys.executable, "-P", "-c", code],
        env=_server_env(code_path),
        capture_output=True,
        text=True,
        check=True,
    )
    return "python" if where.stdout.strip().endswith(".py") else "compiled"


def _start_server(
    store: Path, port: int, decode_workers: int | None, code_path: str | None
) -> subprocess.Popen[bytes]:
    cli = "from llmtrace.cli import main; raise SystemExit(main())"
    # -P: the working directory must not shadow the build that code_path names.
    command = [sys.executable, "-P", "-c", cli, "serve", "--store", f"chdb://{store}", "--port", str(port)]
    if decode_workers is not None:
        command += ["--decode-workers", str(decode_workers)]
    proc = subprocess.Popen([*command, "--log-level", "warning"], env=_server_env(code_path))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def _machine_reference_ms() -> float:
    """CPU milliseconds of a fixed pure-Python workload (best of five), measured next to each run.

    This VM's host lends it more or less CPU over the day: identical server code measured medians
    of 44.6k and 50.9k spans/s six minutes apart, while this workload took between 130 and 179 ms.
    Reported beside the throughput, it says how fast the machine was when the figures were taken.
    """
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        table = {}
        for i in range(300_000):
            table[str(i)] = (i, i * 2.5, "x" * (i % 7))
        best = min(best, time.process_time() - start)
    return round(best * 1000, 1)


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds used so far by ``pid`` and by its live child processes (the decode workers)."""
    own = children = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        if stat.parent.name == str(pid):
            own += seconds
        elif fields[1] == str(pid):  # fields[1] is the parent pid
            children += seconds
    return own, children


def _thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds so far of ``pid``'s threads by kind: chDB names its threads (``MergeMutate``:
    background merges; the thread that runs an INSERT shows as ``Unknown`` or ``QueryPipelineEx``);
    Python's own threads keep the process name. Decode workers are separate processes."""
    kinds: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (task / "comm").read_text().strip().rstrip("0123456789")
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kind = "python" if name.startswith("python") else name
        kinds[kind] = kinds.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return kinds


def _peak_rss_mib(pid: int) -> tuple[float, float]:
    """Peak resident memory (VmHWM) of ``pid`` and the sum of its live children's, in MiB."""
    own = children = 0.0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if "VmHWM" not in fields:
            continue
        mib = int(fields["VmHWM"].split()[0]) / 1024
        if status.parent.name == str(pid):
            own = mib
        elif fields.get("PPid", "").strip() == str(pid):
            children += mib
    return round(own, 1), round(children, 1)


class _MemorySampler:
    """Samples the resident memory of the server's process tree (server + decode workers) while it runs.

    VmHWM per process (:func:`_peak_rss_mib`) peaks at different moments and counts the pages the
    server and its workers share (the /dev/shm hand-off buffers, the same shared libraries) once
    in each process. So this also sums the tree at each sample: RSS (shared pages counted in every
    process that maps them, what ``ps`` and most dashboards add up) and PSS (each shared page
    divided among the processes that map it: the tree's honest share of the machine's memory), and
    reports the peak of each sum and the server's own peak at the end, the peak of PSS anon (heap)
    by process, and the RSS over time every ``interval_s``.
    """

    def __init__(self, pid: int, interval_s: float = 1.0) -> None:
        self._pid = pid
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.peak_rss_tree = self.peak_pss_tree = 0.0
        self.peak_server_pss = self.peak_server_anon = 0.0
        self.timeline: list[tuple[float, float, float]] = []  # (s, server RSS, workers RSS) in MiB
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _MemorySampler:
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._sample()

    def _sample(self) -> None:
        tree = [self._pid, *_children(self._pid)]
        rollups = {pid: _smaps_rollup_kib(pid) for pid in tree}
        rss = {pid: r.get("Rss", 0) / 1024 for pid, r in rollups.items()}
        pss = {pid: r.get("Pss", 0) / 1024 for pid, r in rollups.items()}
        self.peak_rss_tree = max(self.peak_rss_tree, sum(rss.values()))
        self.peak_pss_tree = max(self.peak_pss_tree, sum(pss.values()))
        self.peak_server_pss = max(self.peak_server_pss, pss.get(self._pid, 0.0))
        self.peak_server_anon = max(self.peak_server_anon, rollups[self._pid].get("Pss_Anon", 0) / 1024)
        server = rss.get(self._pid, 0.0)
        self.timeline.append((time.perf_counter() - self._t0, server, sum(rss.values()) - server))

    def report(self, points: int = 12) -> dict[str, Any]:
        step = max(1, len(self.timeline) // points)
        return {
            "peak_rss_tree_mib": round(self.peak_rss_tree),
            "peak_pss_tree_mib": round(self.peak_pss_tree),
            "server_peak_pss_mib": round(self.peak_server_pss),
            "server_peak_pss_anon_mib": round(self.peak_server_anon),
            "rss_over_time_s_server_workers_mib": [
                (round(t), round(server), round(workers)) for t, server, workers in self.timeline[::step]
            ],
        }


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid``."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if f"\nPPid:\t{pid}\n" in text:
            found.append(int(status.parent.name))
    return found


def _smaps_rollup_kib(pid: int) -> dict[str, int]:
    """``/proc/PID/smaps_rollup`` as {field: KiB} (empty for a process that is gone)."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    except OSError:
        return {}
    fields = {}
    for line in lines:
        name, _, value = line.partition(":")
        fields[name] = int(value.split()[0])
    return fields


def _send_all(
    port: int, bodies: Callable[[int], bytes], seqs: range, concurrency: int
) -> tuple[list[float], int, float]:
    """Post body ``seq`` for every ``seq`` once (retrying 503s as an exporter would).

    Returns the latencies of the 200s in ms, the retries, and the perf_counter time of the last
    acknowledgement.
    """
    latencies: list[float] = []
    retries = 0
    last_ack = 0.0
    lock = threading.Lock()
    queue = list(reversed(seqs))

    def worker() -> None:
        nonlocal retries, last_ack
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Content-Type": "application/x-protobuf"}
        while True:
            with lock:
                if not queue:
                    break
                seq = queue.pop()
            body = bodies(seq)
            while True:
                t0 = time.perf_counter()
                conn.request("POST", "/v1/traces", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                elapsed = (time.perf_counter() - t0) * 1000
                if response.status == 200:
                    with lock:
                        latencies.append(elapsed)
                        last_ack = max(last_ack, time.perf_counter())
                    break
                if response.status not in (429, 503):
                    raise RuntimeError(f"ingest answered {response.status}")
                with lock:
                    retries += 1
                time.sleep(float(response.getheader("Retry-After") or 1))
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, retries, last_ack


def _stored_calls(port: int) -> int:
    """LLM calls the store answers for (the metrics API over the last two days)."""
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2 * 86400))
    url = f"http://127.0.0.1:{port}/api/v1/metrics?interval=1d&since={since}"
    with urllib.request.urlopen(url, timeout=60) as response:
        return sum(p["calls"] for s in json.loads(response.read())["series"] for p in s["points"])


def _run_once(
    workload: _Workload, concurrency: int, decode_workers: int | None, code_path: str | None
) -> dict[str, Any]:
    """One fresh server and store: send the warm-up bodies, then measure the rest."""
    reference_ms = _machine_reference_ms()
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="llmtrace-bench-") as tmp:
        server = _start_server(Path(tmp) / "data", port, decode_workers, code_path)
        memory = _MemorySampler(server.pid)
        try:
            with memory:
                _send_all(port, workload.body, range(workload.warmup), concurrency)
                cpu0, threads0, t0 = (
                    _cpu_seconds(server.pid),
                    _thread_cpu_seconds(server.pid),
                    time.perf_counter(),
                )
                latencies, retries, last_ack = _send_all(
                    port, workload.body, range(workload.warmup, workload.total), concurrency
                )
                elapsed = last_ack - t0
                own1, workers1 = _cpu_seconds(server.pid)
                cpu = own1 + workers1 - sum(cpu0)
                threads1 = _thread_cpu_seconds(server.pid)
                # Acknowledged means written; this is how long until a query sees all of it.
                while (
                    stored := _stored_calls(port)
                ) < workload.llm_calls and time.perf_counter() - last_ack < 60:
                    time.sleep(0.05)
                queryable_s = time.perf_counter() - last_ack
            peak_rss, workers_peak_rss = _peak_rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait(30)
    quantiles = statistics.quantiles(latencies, n=100)
    spans = (workload.total - workload.warmup) * BATCH
    by_thread = {kind: (threads1[kind] - threads0.get(kind, 0.0)) / spans * 1e6 for kind in threads1}
    # Measured, not the remainder: threads that ended during the run (chDB starts and ends some
    # per INSERT) are missing from ``threads1`` but not from the process's own CPU time.
    by_thread["decode workers"] = (workers1 - cpu0[1]) / spans * 1e6
    by_thread["threads that ended"] = (own1 - cpu0[0]) / spans * 1e6 - sum(
        us for kind, us in by_thread.items() if kind != "decode workers"
    )
    return {
        "seconds": round(elapsed, 2),
        "spans_per_s": round(spans / elapsed),
        "latency_p50_ms": round(statistics.median(latencies), 1),
        "latency_p99_ms": round(quantiles[98], 1),
        "queryable_after_last_ack_s": round(queryable_s, 2),
        "retried_503": retries,
        "server_cpu_cores": round(cpu / elapsed, 2),
        # CPU the server (with its decode workers) spent per span: machine-load independent, and
        # 1e6 / this is the rate one fully available core would sustain.
        "server_cpu_us_per_span": round(cpu / spans * 1e6, 1),
        # Where it went (threads using under 0.5 µs per span left out).
        "server_cpu_us_per_span_by_thread": {
            kind: round(us, 1) for kind, us in sorted(by_thread.items(), key=lambda kv: -kv[1]) if us >= 0.5
        },
        "load_average_1m": round(os.getloadavg()[0], 2),
        "server_peak_rss_mib": peak_rss,
        "decode_workers_peak_rss_mib": workers_peak_rss,
        **memory.report(),
        "machine_reference_ms": reference_ms,
        "stored_exactly_once": stored == workload.llm_calls,
    }


class _Workload:
    """The batches of one benchmark run: ``body(seq)`` for seq in ``range(total)``; the first
    ``warmup`` are not measured; ``llm_calls`` is how many of all the spans are LLM calls."""

    def __init__(self, name: str, warmup: int, batches: int, seed: int, carry_cost: bool) -> None:
        self.warmup, self.total = warmup, warmup + batches
        rng = random.Random(seed)
        now_ns = time.time_ns()
        if name == "light":
            bodies = [_batch(rng, i, now_ns, carry_cost) for i in range(self.total)]
            self.body: Callable[[int], bytes] = bodies.__getitem__
            self.llm_calls = self.total * BATCH
            return
        if carry_cost:
            raise ValueError("the genai workload carries no cost: the server prices its spans")
        batches_of = GenAiBatches(seed, now_ns)
        self.llm_calls = sum(batches_of.llm_spans(seq) for seq in range(self.total))
        self.body = batches_of.body
        if self.total <= PREBUILT_BODIES:  # else built as sent: ~4 µs of the sender's CPU per span
            self.body = [batches_of.body(seq) for seq in range(self.total)].__getitem__


def main(
    batches: int = 200,
    concurrency: int = 8,
    warmup: int = 20,
    seed: int = 1,
    decode_workers: int | None = None,
    carry_cost: bool = False,
    repeats: int = 1,
    decoder: str = "installed",
    workload: str = "light",
    baseline: str | None = None,
) -> dict[str, Any]:
    """Ingest ``warmup`` + ``batches`` batches of 512 spans; return throughput and latency figures.

    ``carry_cost``: spans carry ``llmtrace.cost.usd`` (as the llmtrace SDK's do), so the server does
    not price them; without it the server computes every span's cost from the price book, as for
    spans from other instrumentations. ``decode_workers`` None leaves the server's default.
    ``repeats``: measure that many times, each on a fresh server and store; the figures are those of
    the run with the median throughput, and ``spans_per_s_runs`` lists every run's (identical code
    varies by ±10% and more between runs on this 2-core VM; see ``machine_reference_ms_runs``).
    ``decoder``: one of :data:`DECODERS` (module docstring); ``both`` makes ``repeats`` runs of each.
    ``workload``: one of :data:`WORKLOADS` (module docstring); ``both`` measures each, one after
    the other, and returns ``{"light": ..., "genai": ...}``. ``baseline``: a git revision whose
    compiled build runs interleaved with this tree's compiled build (``decoder`` must be
    ``compiled``); the result has both and their ratios.
    """
    from llmtrace_server.settings import default_decode_workers

    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}")
    if workload not in WORKLOADS:
        raise ValueError(f"workload must be one of {WORKLOADS}")
    if workload == "both":
        args = (batches, concurrency, warmup, seed, decode_workers)
        return {
            "light": main(*args, carry_cost, repeats, decoder, "light", baseline),
            "genai": main(*args, False, repeats, decoder, "genai", baseline),
        }
    if baseline is not None and decoder != "compiled":
        raise ValueError("a baseline revision is compared with decoder='compiled'")
    load = _Workload(workload, warmup, batches, seed, carry_cost)
    builds = ("python", "compiled") if decoder == "both" else (decoder,)
    with tempfile.TemporaryDirectory(prefix="llmtrace-bench-build-") as work:
        paths = {build: _code_path(build, Path(work) / build) for build in builds}
        imported = {build: _decoder_build(paths[build]) for build in builds}
        if baseline is not None:
            source = _export_revision(baseline, Path(work) / "baseline-source")
            paths["baseline"] = _code_path("compiled", Path(work) / "baseline", source)
            imported["baseline"] = _decoder_build(paths["baseline"])
            builds = ("baseline", "compiled")
        for build in builds:
            wanted = "compiled" if build == "baseline" else build
            if build != "installed" and imported[build] != wanted:  # e.g. a wheel built without a C compiler
                raise RuntimeError(
                    f"asked for the {wanted} decoding path, but the server would import {imported[build]}"
                )
        runs: dict[str, list[dict[str, Any]]] = {build: [] for build in builds}
        for _ in range(repeats):  # interleaved, so a slow spell of the VM hits both builds alike
            for build in builds:
                runs[build].append(_run_once(load, concurrency, decode_workers, paths[build]))
    result = {
        "workload": workload,
        "spans": batches * BATCH,
        "batch_size": BATCH,
        "concurrency": concurrency,
        "decode_workers": default_decode_workers() if decode_workers is None else decode_workers,
        "spans_carry_cost": carry_cost,
        "cpus": os.cpu_count(),
        "repeats": repeats,
    }
    if baseline is not None:
        base, compiled = _median(runs["baseline"]), _median(runs["compiled"])
        return {
            **result,
            "baseline_revision": baseline,
            "compiled_vs_baseline_spans_per_s": round(compiled["spans_per_s"] / base["spans_per_s"], 3),
            "compiled_vs_baseline_cpu_us_per_span": round(
                compiled["server_cpu_us_per_span"] / base["server_cpu_us_per_span"], 3
            ),
            "compiled": compiled,
            "baseline": base,
        }
    if decoder != "both":
        return {**result, "decoder": imported[decoder], **_median(runs[decoder])}
    python, compiled = _median(runs["python"]), _median(runs["compiled"])
    return {
        **result,
        "compiled_vs_python_spans_per_s": round(compiled["spans_per_s"] / python["spans_per_s"], 3),
        "compiled_vs_python_cpu_us_per_span": round(
            compiled["server_cpu_us_per_span"] / python["server_cpu_us_per_span"], 3
        ),
        "compiled": compiled,
        "python": python,
    }


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median throughput, and every run's throughput, memory, CPU and machine speed."""
    runs = sorted(runs, key=lambda run: run["spans_per_s"])
    return {
        **runs[len(runs) // 2],
        "spans_per_s_runs": [run["spans_per_s"] for run in runs],
        # Memory varies from run to run (±100 MiB at 1M spans) apart from the throughput: every run's.
        **{
            f"{figure}_runs": [run[figure] for run in runs]
            for figure in (
                "peak_pss_tree_mib",
                "peak_rss_tree_mib",
                "server_peak_rss_mib",
                "decode_workers_peak_rss_mib",
                "server_cpu_us_per_span",
                "queryable_after_last_ack_s",
                "load_average_1m",
            )
        },
        "machine_reference_ms_runs": [run["machine_reference_ms"] for run in runs],
        "stored_exactly_once": all(run["stored_exactly_once"] for run in runs),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=WORKLOADS, default="light", help="(docstring)")
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--decode-workers", type=int, help="default: the server's (one per CPU, at most 4)")
    parser.add_argument(
        "--carry-cost", action="store_true", help="spans carry their cost (llmtrace SDK spans)"
    )
    parser.add_argument("--repeats", type=int, default=1, help="fresh-server runs; the median is reported")
    parser.add_argument(
        "--decoder",
        choices=DECODERS,
        default="installed",
        help="which build of the decoding path (docstring)",
    )
    parser.add_argument("--baseline", metavar="REV", help="git revision compared with --decoder compiled")
    args = parser.parse_args()
    result = main(
        args.batches,
        args.concurrency,
        decode_workers=args.decode_workers,
        carry_cost=args.carry_cost,
        repeats=args.repeats,
        decoder=args.decoder,
        workload=args.workload,
        baseline=args.baseline,
    )
    print(json.dumps(result, indent=2))
