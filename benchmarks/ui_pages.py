"""Server time per UI page at scale, beside the JSON route that reads the same query.

Generates N spans over 28 days (``INSERT ... SELECT FROM numbers()``): traces of a service span
with one LLM call inside, ~1.5 KB of input and ~0.5 KB of output per call, 3 services, 3 models,
prompt v1 then v2, users and sessions, scores on 1 call in 20. Then requests each page in-process
(FastAPI TestClient: routing, queries, analytics and template rendering; no network) ``repeats``
times after one warm-up and reports p50/p95 (and the process CPU per request, p50), and for pages
that have one, the ratio to the JSON route of the same data measured in the same run. Goal
(issue 15): p95 <= 300 ms at 10M spans.

    nice python benchmarks/ui_pages.py --spans 1000000 [--repeats 20] [--store DIR] [--only banners ...]

``--store DIR`` keeps the generated store in DIR and reuses it on the next run (a 10M store takes a
long time to build); the data's clock is the moment it was generated, saved beside it.
``--against TREE --store DIR`` compares this tree with a baseline source tree on that store
(:func:`compare`), e.g. ``git archive main | tar -x -C /tmp/main``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from llmtrace.store import open_store
from llmtrace_server.app import create_app
from llmtrace_server.settings import Settings

DAYS = 28
WORDS = "['refund','invoice','warehouse','customer','upgrade','delay','renewal','support','ticket','plan','owner','risk']"
# Two spans per trace (numbers 2k and 2k+1): the service span and the LLM call nested in it.
GENERATE = """
INSERT INTO {db:Identifier}.spans (project, trace_id, span_id, parent_span_id, name, kind, service_name,
    environment, start_time, end_time, duration_ms, status, error_type, provider, operation, request_model,
    response_model, input_tokens, output_tokens, usage_source, cost_usd, ttft_ms, finish_reason, prompt_name,
    prompt_version, user_id, session_id, input, output, output_chars)
SELECT 'default', tid, lower(hex(cityHash64(number, 9))),
       if(is_llm, lower(hex(cityHash64(number - 1, 9))), ''),
       if(is_llm, 'chat ' || m, 'handle_request'), if(is_llm, 'llm', 'span'), svc, 'prod', ts,
       ts + toIntervalMillisecond(toUInt32(lat)), lat,
       if(cityHash64(t, 5) % 100 < 2, 'error', 'ok'), if(cityHash64(t, 5) % 100 < 2, 'RateLimitError', ''),
       if(is_llm, if(m = 'claude-sonnet-4', 'anthropic', 'openai'), ''), if(is_llm, 'chat', ''),
       if(is_llm, m, ''), if(is_llm, m, ''),
       if(is_llm, 200 + cityHash64(t, 3) % 2000, 0), if(is_llm, out_tok, 0), if(is_llm, 'reported', ''),
       if(is_llm, out_tok * 0.0000016 + 0.000003 * 1000, NULL), if(is_llm AND t % 2 = 0, lat * 0.2, NULL),
       if(is_llm, 'stop', ''), 'answer', pv, 'user-' || toString(cityHash64(t, 11) % 20000),
       'session-' || toString(intDiv(t, 4)),
       if(is_llm, '[{"role": "user", "parts": [{"type": "text", "content": "' || llmtrace_bench_text(t, 220) || '"}]}]', ''),
       if(is_llm, '[{"role": "assistant", "parts": [{"type": "text", "content": "' || llmtrace_bench_text(t + 7, 70) || '"}]}]', ''),
       if(is_llm, out_tok * 4, 0)
FROM (SELECT number, intDiv(number, 2) AS t, number % 2 = 1 AS is_llm,
             lower(hex(cityHash64(t, 7))) || lower(hex(cityHash64(t, 8))) AS tid,
             {start:DateTime64(6)} + toIntervalMicrosecond(t * 2 * intDiv({span_us:UInt64}, {n:UInt64})) AS ts,
             if(ts >= {v2_from:DateTime64(6)}, 'v2', 'v1') AS pv,
             ['claude-sonnet-4', 'gpt-4o', 'gpt-4.1-mini'][1 + cityHash64(t, 1) % 3] AS m,
             ['chat', 'search', 'agent'][1 + t % 3] AS svc,
             exp(6.9 + 0.6 * randNormal(0, 1, t)) AS lat,
             toUInt32(1 + cityHash64(t, 2) % 600) AS out_tok
        FROM numbers({n:UInt64}))
"""
TEXT_FUNCTION = (
    "CREATE FUNCTION IF NOT EXISTS llmtrace_bench_text AS (seed, words) -> "
    f"arrayStringConcat(arrayMap(i -> {WORDS}[1 + cityHash64(seed, i) % 12], range(words)), ' ')"
)
SCORES = """
INSERT INTO {db:Identifier}.scores (project, trace_id, span_id, name, value, label, source, comment, timestamp)
SELECT project, trace_id, span_id, 'quality', (cityHash64(span_id) % 1000) / 1000, '', 'bench', '', start_time
  FROM {db:Identifier}.spans WHERE kind = 'llm' AND cityHash64(span_id) % 20 = 0
"""


def generate(store: Any, n: int, now: datetime) -> float:
    t0 = time.perf_counter()
    store.client.command(TEXT_FUNCTION)
    params = {"db": store.database, "start": now - timedelta(days=DAYS), "span_us": DAYS * 86400 * 1_000_000}
    store.client.command(GENERATE, parameters={**params, "n": n, "v2_from": now - timedelta(days=7)})
    store.client.command(SCORES, parameters={"db": store.database})
    # The scores were not written through the Store. Imported here: an A/B's baseline tree (an
    # older package, on a store generated before) may not have it.
    from llmtrace.store import attribution

    attribution.rebuild(store, "default")
    return time.perf_counter() - t0


def _times(
    client: TestClient, urls: list[str], repeats: int
) -> tuple[list[float], list[list[float]], list[list[float]]]:
    """Milliseconds of each URL's first request (nothing of it cached yet), and per request after
    it, wall clock and process CPU; the URLs alternate, so a busy moment of a shared machine slows
    both sides of a ratio alike. CPU time (every thread of the process, chDB's included) is what
    a request costs, and barely moves with the load of other processes on the machine."""
    first = []
    for url in urls:
        t0 = time.perf_counter()
        response = client.get(url)  # also checks the page works
        first.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
    wall: list[list[float]] = [[] for _ in urls]
    cpu: list[list[float]] = [[] for _ in urls]
    for _ in range(repeats):
        for i, url in enumerate(urls):
            t0, c0 = time.perf_counter(), time.process_time()
            client.get(url)
            wall[i].append((time.perf_counter() - t0) * 1000)
            cpu[i].append((time.process_time() - c0) * 1000)
    return first, wall, cpu


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def _reuse_or_generate(store: Any, n: int, path: str) -> tuple[datetime, float | None]:
    """The data's clock and the load time (None when an earlier run's store is reused)."""
    marker = Path(path) / f"{store.database}.json"
    if marker.exists():
        return datetime.fromisoformat(json.loads(marker.read_text())["now"]), None
    now = datetime.now(UTC).replace(microsecond=0)
    load_s = generate(store, n, now)
    marker.write_text(json.dumps({"now": now.isoformat(), "spans": n, "load_s": load_s}))
    return now, load_s


def run(n: int, path: str, repeats: int, only: tuple[str, ...] = ()) -> dict[str, Any]:
    database = f"bench_ui_{n}"
    store = open_store(f"chdb://{path}", database)
    store.migrate()
    now, load_s = _reuse_or_generate(store, n, path)
    trace_id = store.client.query(
        "SELECT trace_id FROM {db:Identifier}.spans WHERE kind = 'llm' ORDER BY start_time DESC LIMIT 1",
        parameters={"db": database},
    ).result_rows[0][0]
    session = store.client.query(
        "SELECT session_id FROM {db:Identifier}.spans ORDER BY start_time DESC LIMIT 1",
        parameters={"db": database},
    ).result_rows[0][0]
    # The UI's 7-day range: whole hours, ending at the next one.
    week_start = (datetime.now(UTC) + timedelta(hours=1)).replace(
        minute=0, second=0, microsecond=0
    ) - timedelta(days=7)
    # (page or fragment, JSON route of the same query or None)
    pairs: list[tuple[str, str | None]] = [
        ("/?range=24h", None),
        ("/ui/overview/charts?range=24h", "/api/v1/metrics?interval=15m"),
        (
            "/ui/overview/charts?range=7d&group_by=model",
            "/api/v1/metrics?interval=1h&group_by=model&since="
            + (now - timedelta(days=7)).isoformat().replace("+00:00", "Z"),
        ),
        (
            "/ui/overview/quality?range=24h",
            "/api/v1/scores/trends?interval=1h&since="
            + (now - timedelta(days=1)).isoformat().replace("+00:00", "Z"),
        ),
        ("/ui/banners", "/api/v1/drift/report?segment_by=prompt&top=5"),
        ("/traces", "/api/v1/traces"),
        ("/traces?service=chat&status=error", "/api/v1/traces?service=chat&status=error"),
        ("/traces?q=refund%20invoice%20warehouse", "/api/v1/traces?q=refund%20invoice%20warehouse"),
        (f"/traces/{trace_id}", f"/api/v1/traces/{trace_id}"),
        ("/sessions", "/api/v1/sessions"),
        (f"/sessions/{session}", f"/api/v1/sessions/{session}"),
        ("/users", "/api/v1/users"),
        ("/prompts", None),
        ("/ui/prompts/quality?range=7d", None),
        ("/prompts/compare?prompt=answer&a=v1&b=v2", None),
        (
            "/ui/prompts/compare/report?prompt=answer&a=v1&b=v2",
            "/api/v1/regressions?dimension=prompt_version&a=v1&b=v2&prompt=answer&since="
            + week_start.isoformat().replace("+00:00", "Z"),
        ),
        # Two full cohorts (the default compare's v1 is older than the week, so its cohort A is empty).
        (
            "/ui/prompts/compare/report?prompt=answer&dimension=model&a=gpt-4o&b=claude-sonnet-4",
            "/api/v1/regressions?dimension=model&a=gpt-4o&b=claude-sonnet-4&prompt=answer&since="
            + week_start.isoformat().replace("+00:00", "Z"),
        ),
        ("/drift", None),
        ("/ui/drift/report", "/api/v1/drift/report?segment_by=prompt&top=5"),
        ("/alerts", "/api/v1/alerts/rules"),
    ]
    settings = Settings(store=f"chdb://{path}", database=database, evaluate_alerts=False)
    rows = []
    with TestClient(create_app(settings, store=store)) as client:
        for page, api in pairs:
            if only and not any(part in page for part in only):
                continue
            first, (times, *api_times), (cpu, *_) = _times(client, [page, *([api] if api else [])], repeats)
            row: dict[str, Any] = {
                "page": page,
                "first_ms": first[0],
                "p50_ms": statistics.median(times),
                "p95_ms": _p95(times),
                "cpu_p50_ms": statistics.median(cpu),
            }
            if api_times:
                row["json_p95_ms"] = _p95(api_times[0])
                row["page_over_json_p95"] = row["p95_ms"] / row["json_p95_ms"]
            rows.append({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()})
    return {"spans": n, "load_s": load_s and round(load_s, 1), "pages": rows}


def main(
    sizes: tuple[int, ...] = (1_000_000,),
    repeats: int = 20,
    path: str | None = None,
    only: tuple[str, ...] = (),
) -> dict[str, Any]:
    path = path or tempfile.mkdtemp(prefix="llmtrace-bench-ui-")
    return {"ui_pages": [run(n, path, repeats, only) for n in sizes], "goal_p95_ms": 300}


def compare(
    n: int, path: str, repeats: int, only: tuple[str, ...], baseline: str, rounds: int
) -> dict[str, Any]:
    """A/B against another source tree (e.g. ``git archive main | tar -x -C DIR``) on one store.

    Each round runs this script once with the baseline's packages and once with this tree's, in
    turn (one process per store at a time, as chDB requires), so both see the same moments of a
    shared machine. Per page: the median over rounds of each side's p50, wall and CPU, and their
    ratios (this / baseline).
    """
    here = Path(__file__).resolve().parent.parent
    trees = {"baseline": Path(baseline).resolve(), "this": here}
    runs: dict[str, list[list[dict[str, Any]]]] = {name: [] for name in trees}
    load = [os.getloadavg()[0]]
    for _ in range(rounds):
        for name, tree in trees.items():
            env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'server'}"}
            cmd = [sys.executable, __file__, "--spans", str(n), "--repeats", str(repeats), "--store", path]
            out = subprocess.run(
                [*cmd, *(["--only", *only] if only else [])],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs[name].append(json.loads(out)["ui_pages"][0]["pages"])
            load.append(os.getloadavg()[0])
    rows = []
    for i, page in enumerate(runs["this"][0]):
        row: dict[str, Any] = {"page": page["page"]}
        for key in ("p50_ms", "cpu_p50_ms"):
            a = statistics.median(r[i][key] for r in runs["baseline"])
            b = statistics.median(r[i][key] for r in runs["this"])
            row |= {
                f"baseline_{key}": round(a, 1),
                f"this_{key}": round(b, 1),
                f"{key}_ratio": round(b / a, 2),
            }
        rows.append(row)
    return {
        "spans": n,
        "rounds": rounds,
        "repeats": repeats,
        "load_1m": [round(x, 1) for x in load],
        "pages": rows,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--store", help="directory to keep the generated store in and reuse")
    parser.add_argument(
        "--only", nargs="+", default=[], help="measure only the pages whose URL contains one of these"
    )
    parser.add_argument("--against", help="a baseline source tree: run an interleaved A/B (needs --store)")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds (each runs both sides once)")
    args = parser.parse_args()
    if args.against and not args.store:
        parser.error("--against needs --store (both sides read the same store)")
    if args.store:
        Path(args.store).mkdir(parents=True, exist_ok=True)
    if args.against:
        ab = compare(args.spans[0], args.store, args.repeats, tuple(args.only), args.against, args.rounds)
        print(json.dumps(ab, indent=2))
        sys.exit()
    print(json.dumps(main(tuple(args.spans), args.repeats, args.store, tuple(args.only)), indent=2))
