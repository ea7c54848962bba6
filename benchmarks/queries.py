"""Query latency on the embedded store: analytics, and trace exploration (issue 14).

Analytics: generates N spans over 28 days with ``INSERT ... SELECT FROM numbers()`` (3 services,
3 models, prompt v1 then v2 for the last 7 days, lognormal latency), then times each operation end
to end (SQL + statistics), median of 3 runs after one warm-up. Goal: each under 1 s at 1M and 10M.

Exploration (:mod:`exploration`): N realistic content-carrying spans (:mod:`genai_store`, checked
against the real row mapping), then p50/p95 of every listing the API answers, each beside the
pre-issue-14 query in the same run. Goal: p95 <= 300 ms (text search <= 1 s) at 1M and 10M.
``--store DIR`` keeps the exploration store there and reuses it when it already holds N spans.

    python benchmarks/queries.py --spans 1000000 10000000
    python benchmarks/queries.py --exploration-only --spans 1000000 --store /tmp/explore-1m
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import exploration
import genai_store

from llmtrace.store import Store, open_store
from llmtrace.store.queries import alerts as alert_q
from llmtrace.store.queries.metrics import MetricsQuery, metrics_series
from llmtrace_server.alerts.engine import evaluate
from llmtrace_server.routes.drift import compute_drift, resolve_windows
from llmtrace_server.routes.regressions import build_cohorts, compute_regressions

DAYS = 28
GENERATE = """
INSERT INTO {db:Identifier}.spans (project, trace_id, span_id, name, kind, service_name, environment, start_time,
    end_time, duration_ms, status, error_type, provider, operation, request_model, response_model, input_tokens,
    output_tokens, usage_source, cost_usd, ttft_ms, finish_reason, prompt_name, prompt_version, output_chars)
SELECT 'default', lower(hex(cityHash64(number, 7))) || lower(hex(cityHash64(number, 8))), lower(hex(cityHash64(number, 9))),
       'chat', 'llm', ['chat', 'search', 'agent'][1 + number % 3], 'prod', ts, ts + toIntervalMillisecond(toUInt32(lat)), lat,
       if(cityHash64(number, 5) % 100 < 2, 'error', 'ok'), if(cityHash64(number, 5) % 100 < 2, 'RateLimitError', ''),
       if(m = 'claude-sonnet-4', 'anthropic', 'openai'), 'chat', m, m, 200 + cityHash64(number, 3) % 2000, out_tok, 'reported',
       out_tok * if(m = 'gpt-4.1-mini', 0.0000016, 0.000015) + 0.000003 * 1000, if(number % 2 = 0, lat * 0.2, NULL),
       if(cityHash64(number, 4) % 100 < 5, 'length', 'stop'), 'answer', pv, out_tok * 4
FROM (SELECT number,
             {start:DateTime64(6)} + toIntervalMicrosecond(intDiv(number * {span_us:UInt64}, {n:UInt64})) AS ts,
             if(ts >= {v2_from:DateTime64(6)}, 'v2', 'v1') AS pv,
             ['claude-sonnet-4', 'gpt-4o', 'gpt-4.1-mini'][1 + cityHash64(number, 1) % 3] AS m,
             exp(6.9 + 0.6 * randNormal(0, 1, number)) * if(pv = 'v2', 1.08, 1.0) AS lat,
             toUInt32(1 + cityHash64(number, 2) % if(pv = 'v2', 660, 600)) AS out_tok
        FROM numbers({n:UInt64}))
"""


def generate(store: Store, n: int, now: datetime) -> float:
    start = now - timedelta(days=DAYS)
    t0 = time.perf_counter()
    store.client.command(
        GENERATE,
        parameters={
            "db": store.database,
            "start": start,
            "span_us": DAYS * 86400 * 1_000_000,
            "n": n,
            "v2_from": now - timedelta(days=7),
        },
    )
    return time.perf_counter() - t0


def _timed(fn: Any) -> float:
    fn()  # warm-up
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def run(n: int, path: str) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    store = open_store(f"chdb://{path}", f"bench_{n}")
    store.migrate()
    store.client.command("TRUNCATE TABLE {db:Identifier}.spans", parameters={"db": store.database})
    load_s = generate(store, n, now)
    windows = resolve_windows(None, now, None, None)
    cohorts = build_cohorts(
        "prompt_version", "v1", "v2", now - timedelta(days=14), now, None, None, None, None
    )
    alert_q.insert_rule(
        store,
        "default",
        {"id": "bench-spike", "name": "spike", "type": "cost_spike", "filters": {}, "params": {}},
    )
    alert_q.insert_rule(
        store,
        "default",
        {
            "id": "bench-p95",
            "name": "p95",
            "type": "threshold",
            "filters": {},
            "params": {"metric": "latency_p95_ms", "value": 1e9},
        },
    )
    # GET /api/v1/metrics: a day of 5-minute points from raw spans, a week of hourly points from the rollup.
    metrics_raw = MetricsQuery("5m", now - timedelta(days=1), now, ("model",))
    metrics_rollup = MetricsQuery("1h", now - timedelta(days=7), now, ("service", "model"))
    result = {
        "spans": n,
        "load_s": round(load_s, 2),
        "metrics_24h_5m_by_model_s": _timed(lambda: metrics_series(store, "default", metrics_raw)),
        "metrics_7d_1h_by_service_model_s": _timed(lambda: metrics_series(store, "default", metrics_rollup)),
        "drift_latency_s": _timed(
            lambda: compute_drift(store, "default", ["latency_ms"], windows, {"service": "chat"})
        ),
        "drift_all_features_s": _timed(
            lambda: compute_drift(
                store,
                "default",
                [
                    "input_tokens",
                    "output_tokens",
                    "latency_ms",
                    "ttft_ms",
                    "cost_usd",
                    "output_chars",
                    "model",
                    "provider",
                    "finish_reason",
                    "error_type",
                    "status",
                ],
                windows,
                {},
            )
        ),
        "regression_s": _timed(lambda: compute_regressions(store, "default", cohorts, {})),
        "regression_chat_s": _timed(
            lambda: compute_regressions(store, "default", cohorts, {"service": "chat"})
        ),
        "alert_evaluation_s": _timed(lambda: evaluate(store, now, project="default")),
    }
    store.client.command("DROP DATABASE IF EXISTS {db:Identifier} SYNC", parameters={"db": store.database})
    store.close()
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}


def explore(n: int, path: str, *, keep: bool = False, baseline_runs: int = 1) -> dict[str, Any]:
    """The exploration benchmark on ``n`` realistic spans (reused if ``path`` already holds them)."""
    now = datetime.now(UTC).replace(microsecond=0)
    store = open_store(f"chdb://{path}", f"explore_{n}")
    store.migrate()
    held = store.client.query(
        "SELECT count() FROM {db:Identifier}.spans", parameters={"db": store.database}
    ).result_rows[0][0]
    load_s = None
    if held != n:
        for table in (
            "spans",
            "spans_hourly",
            "cost_5m",
            "trace_summaries",
            "session_summaries",
            "user_summaries",
        ):
            store.client.command(f"TRUNCATE TABLE {store.database}.{table}")
        load_s = round(genai_store.generate(store, n, now), 1)
    else:
        now = store.client.query(
            "SELECT max(end_time) FROM {db:Identifier}.spans", parameters={"db": store.database}
        ).result_rows[0][0]
    checked = genai_store.check_rows(store)
    sizes = store.client.query(
        "SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts"
        " WHERE database = {db:String} AND active GROUP BY table ORDER BY table",
        parameters={"db": store.database},
    ).result_rows
    result = {
        "spans": n,
        "load_s": load_s,
        "rows_checked_against_ingest_mapping": checked,
        "tables": {t: {"rows": int(r), "mb": round(b / 2**20, 1)} for t, r, b in sizes},
        "cases": exploration.measure(store, now, baseline_runs=baseline_runs),
        "summary_insert_cost": exploration.summary_insert_cost(store),
        "spans_by_id_insert_cost": exploration.summary_insert_cost(store, views=("spans_by_id_mv",)),
    }
    if not keep:
        store.client.command(
            "DROP DATABASE IF EXISTS {db:Identifier} SYNC", parameters={"db": store.database}
        )
    store.close()
    return result


def main(
    sizes: tuple[int, ...] = (1_000_000,),
    path: str | None = None,
    *,
    analytics: bool = True,
    store_path: str | None = None,
    baseline_runs: int = 1,
) -> dict[str, Any]:
    """Run the benchmarks at each size: ``{"queries": [...], "exploration": [...]}``."""
    path = path or tempfile.mkdtemp(prefix="llmtrace-bench-")
    out: dict[str, Any] = {}
    if analytics:
        out.update(queries=[run(n, path) for n in sizes], goal_s=1.0)
    out["exploration"] = [
        explore(n, store_path or path, keep=store_path is not None, baseline_runs=baseline_runs)
        for n in sizes
    ]
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--exploration-only", action="store_true", help="skip the analytics section")
    parser.add_argument("--store", help="keep (and reuse) the exploration store in this directory")
    parser.add_argument(
        "--baseline-runs", type=int, default=1, help="runs of each pre-issue-14 query (0: skip them)"
    )
    args = parser.parse_args()
    print(
        json.dumps(
            main(
                tuple(args.spans),
                analytics=not args.exploration_only,
                store_path=args.store,
                baseline_runs=args.baseline_runs,
            ),
            indent=2,
            default=str,
        )
    )
