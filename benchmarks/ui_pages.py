"""Server time per UI page at scale, beside the JSON route that reads the same query.

Generates N spans over 28 days (``INSERT ... SELECT FROM numbers()``): traces of a service span
with one LLM call inside, ~1.5 KB of input and ~0.5 KB of output per call, 3 services, 3 models,
prompt v1 then v2, users and sessions, scores on 1 call in 20. Then requests each page in-process
(FastAPI TestClient: routing, queries, analytics and template rendering; no network) ``repeats``
times after one warm-up and reports p50/p95, and for pages that have one, the ratio to the JSON
route of the same data measured in the same run. Goal (issue 15): p95 <= 300 ms at 10M spans.

    nice python benchmarks/ui_pages.py --spans 1000000 [--repeats 20] [--store DIR]

``--store DIR`` keeps the generated store in DIR and reuses it on the next run (a 10M store takes a
long time to build); the data's clock is the moment it was generated, saved beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
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
    return time.perf_counter() - t0


def _times(client: TestClient, urls: list[str], repeats: int) -> tuple[list[float], list[list[float]]]:
    """Milliseconds of each URL's first request (nothing of it cached yet), and per request after
    it; the URLs alternate, so a busy moment of a shared machine slows both sides of a ratio alike."""
    first = []
    for url in urls:
        t0 = time.perf_counter()
        response = client.get(url)  # also checks the page works
        first.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
    out: list[list[float]] = [[] for _ in urls]
    for _ in range(repeats):
        for i, url in enumerate(urls):
            t0 = time.perf_counter()
            client.get(url)
            out[i].append((time.perf_counter() - t0) * 1000)
    return first, out


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


def run(n: int, path: str, repeats: int) -> dict[str, Any]:
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
        ("/drift", None),
        ("/ui/drift/report", "/api/v1/drift/report?segment_by=prompt&top=5"),
        ("/alerts", "/api/v1/alerts/rules"),
    ]
    settings = Settings(store=f"chdb://{path}", database=database, evaluate_alerts=False)
    rows = []
    with TestClient(create_app(settings, store=store)) as client:
        for page, api in pairs:
            first, (times, *api_times) = _times(client, [page, *([api] if api else [])], repeats)
            row: dict[str, Any] = {
                "page": page,
                "first_ms": first[0],
                "p50_ms": statistics.median(times),
                "p95_ms": _p95(times),
            }
            if api_times:
                row["json_p95_ms"] = _p95(api_times[0])
                row["page_over_json_p95"] = row["p95_ms"] / row["json_p95_ms"]
            rows.append({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()})
    return {"spans": n, "load_s": load_s and round(load_s, 1), "pages": rows}


def main(sizes: tuple[int, ...] = (1_000_000,), repeats: int = 20, path: str | None = None) -> dict[str, Any]:
    path = path or tempfile.mkdtemp(prefix="llmtrace-bench-ui-")
    return {"ui_pages": [run(n, path, repeats) for n in sizes], "goal_p95_ms": 300}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--store", help="directory to keep the generated store in and reuse")
    args = parser.parse_args()
    if args.store:
        Path(args.store).mkdir(parents=True, exist_ok=True)
    print(json.dumps(main(tuple(args.spans), args.repeats, args.store), indent=2))
