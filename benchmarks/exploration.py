"""Trace exploration latency on a realistic store (issue 14): span, trace, session and user lists.

The store is filled by :mod:`genai_store` (~2 KB content-carrying GenAI spans over 28 days, many
services, models, prompts, users, sessions and a few smaller projects). Each case runs the query
function the API route calls, end to end (SQL and row conversion), ``runs`` times after one
warm-up; reported are the p50 and p95 in milliseconds. Each case also runs its *baseline*, the
query the store answered before issue 14 (the one-query span list that sorts every matching row
with its content; lists grouped over raw spans), once after a warm-up (``baseline_runs``), in the same
process on the same store, so the ratio is measured under the same machine load.

    python benchmarks/queries.py --exploration-only --spans 1000000
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import genai_store

from llmtrace.store import Store
from llmtrace.store.queries import sessions as session_q
from llmtrace.store.queries import spans as span_q
from llmtrace.store.queries import traces as trace_q
from llmtrace.store.queries import users as user_q
from llmtrace.store.queries.spans import SPAN_FIELDS, SpanKey, SpanQuery, where_clause

PROJECT = "default"
GOAL_MS = 300.0
TEXT_GOAL_MS = 1000.0


def old_list_spans(
    store: Store, query: SpanQuery, after: SpanKey | None = None, limit: int = 51
) -> list[Any]:
    """``list_spans`` as it was before issue 14: one query sorting every matching row, content included."""
    params: dict[str, Any] = {"db": store.database, "limit": limit}
    where = where_clause(PROJECT, replace(query, text=None), params)
    if query.text:  # a substring of input or output, without an index
        where += (
            " AND (positionCaseInsensitiveUTF8(input, {text:String}) > 0"
            " OR positionCaseInsensitiveUTF8(output, {text:String}) > 0)"
        )
        params["text"] = query.text
    if after is not None:
        where += (
            " AND (start_time, trace_id, span_id) <"
            " ({k_time:DateTime64(6, 'UTC')}, {k_trace:String}, {k_span:String})"
        )
        params.update(
            k_time=after.start_time.replace(tzinfo=None), k_trace=after.trace_id, k_span=after.span_id
        )
    sql = (
        f"SELECT {', '.join(SPAN_FIELDS)} FROM {{db:Identifier}}.spans WHERE {where}"
        " ORDER BY start_time DESC, trace_id DESC, span_id DESC"
        " LIMIT 1 BY trace_id, span_id LIMIT {limit:UInt32}"
    )
    return list(store.client.query(sql, parameters=params).result_rows)


def grouped_over_spans(
    store: Store, key: str, column: str = "", value: str = "", limit: int = 51
) -> list[Any]:
    """A trace/session/user list without summaries: GROUP BY over the raw spans at read time."""
    sql = f"""
        SELECT {key}, min(start_time) AS first, max(end_time) AS last, count(), countIf(kind = 'llm'),
               countIf(status = 'error'), sum(input_tokens), sum(output_tokens), sum(ifNull(cost_usd, 0)),
               argMin(name, (parent_span_id != '', start_time)), uniq(trace_id)
          FROM {{db:Identifier}}.spans WHERE project = {{project:String}}
           {f"AND {column} = {{value:String}}" if column else ""} {f"AND {key} != ''" if key != "trace_id" else ""}
         GROUP BY {key} ORDER BY {"first" if key == "trace_id" else "last"} DESC LIMIT {{limit:UInt32}}"""
    params = {"db": store.database, "project": PROJECT, "limit": limit, "value": value}
    return list(store.client.query(sql, parameters=params).result_rows)


def _samples(store: Store, column: str, count: int) -> list[str]:
    """``count`` pseudo-random non-empty values of ``column`` (typical users or sessions)."""
    rows = store.client.query(
        f"SELECT DISTINCT {column} FROM {{db:Identifier}}.spans WHERE project = {{p:String}} AND {column} != ''"
        f" ORDER BY cityHash64({column}) LIMIT {{n:UInt32}}",
        parameters={"db": store.database, "p": PROJECT, "n": count},
    ).result_rows
    return [str(r[0]) for r in rows]


Case = Callable[[int], Any]


@dataclass(frozen=True)
class QueryModules:
    """The query modules a case calls: this version's, or another version's (exploration_ab.py)."""

    spans: Any = span_q
    traces: Any = trace_q
    sessions: Any = session_q
    users: Any = user_q


def cases(
    store: Store, now: datetime, runs: int, q: QueryModules = QueryModules()
) -> dict[str, tuple[Case, Case | None]]:
    """``{name: (query as the API runs it, its pre-issue-14 baseline or None)}``; each takes the run
    number, so user, session and text cases ask for a different value every run (ClickHouse's
    query condition cache would otherwise answer a repeated filter from memory)."""
    span_q, trace_q, session_q, user_q = q.spans, q.traces, q.sessions, q.users
    users = _samples(store, "user_id", runs + 1)
    sessions = _samples(store, "session_id", runs + 1)
    trace_ids = [
        r[0]
        for r in store.client.query(
            "SELECT trace_id FROM {db:Identifier}.spans WHERE project = {p:String} AND kind = 'tool'"
            " ORDER BY cityHash64(trace_id) LIMIT {n:UInt32}",
            parameters={"db": store.database, "p": PROJECT, "n": runs + 1},
        ).result_rows
    ]
    day = (now - timedelta(days=10), now - timedelta(days=9))
    common_words = [s.split()[0].lower() for s in genai_store.sentences(count=runs + 1)]
    filters: dict[str, Callable[[int], SpanQuery]] = {
        "none": lambda i: SpanQuery(),
        "service": lambda i: SpanQuery(equals={"service": "svc-search"}),
        "model": lambda i: SpanQuery(equals={"model": "gpt-4o"}),
        "prompt": lambda i: SpanQuery(equals={"prompt": "prompt-07"}),
        "prompt_version": lambda i: SpanQuery(equals={"prompt": "prompt-07", "prompt_version": "v2"}),
        "user": lambda i: SpanQuery(equals={"user_id": users[i]}),
        "session": lambda i: SpanQuery(equals={"session_id": sessions[i]}),
        "status": lambda i: SpanQuery(equals={"status": "error"}),
        "kind": lambda i: SpanQuery(equals={"kind": "tool"}),
        "environment": lambda i: SpanQuery(equals={"environment": "prod"}),
        "time_range": lambda i: SpanQuery(since=day[0], until=day[1]),
        # A word no span contains, new every run: the whole project is searched.
        "text_search": lambda i: SpanQuery(text=f"walrus{i}"),
        # The same with a non-ASCII letter: looked for as UTF-8 and as a sender's JSON escapes.
        "text_search_non_ascii": lambda i: SpanQuery(text=f"zürich{i}"),
        # Words of the generator's vocabulary, new every run: most pages fill from the newest spans.
        "text_search_common": lambda i: SpanQuery(text=common_words[i]),
    }
    out: dict[str, tuple[Case, Case | None]] = {}
    for name, make in filters.items():
        out[f"spans_{name}"] = (
            lambda i, m=make: span_q.list_spans(store, PROJECT, m(i), limit=51),
            lambda i, m=make: old_list_spans(store, m(i)),
        )
    first = span_q.list_spans(store, PROJECT, SpanQuery(), limit=51)
    cursor = SpanKey(first[49]["start_time"], first[49]["trace_id"], first[49]["span_id"])
    out["spans_next_page"] = (
        lambda i: span_q.list_spans(store, PROJECT, SpanQuery(), after=cursor, limit=51),
        lambda i: old_list_spans(store, SpanQuery(), after=cursor),
    )
    out["one_trace"] = (lambda i: trace_q.trace_spans(store, PROJECT, trace_ids[i]), None)
    out["one_session"] = (
        lambda i: (
            session_q.get_session(store, PROJECT, sessions[i]),
            session_q.session_traces(store, PROJECT, sessions[i]),
        ),
        lambda i: grouped_over_spans(store, "trace_id", "session_id", sessions[i]),
    )
    out["trace_list"] = (
        lambda i: trace_q.list_traces(store, PROJECT, SpanQuery(), limit=51),
        lambda i: grouped_over_spans(store, "trace_id"),
    )
    out["trace_list_model"] = (
        lambda i: trace_q.list_traces(store, PROJECT, SpanQuery(equals={"model": "gpt-4o"}), limit=51),
        lambda i: grouped_over_spans(store, "trace_id", "model", "gpt-4o"),
    )
    out["trace_list_user"] = (
        lambda i: trace_q.list_traces(store, PROJECT, SpanQuery(equals={"user_id": users[i]}), limit=51),
        lambda i: grouped_over_spans(store, "trace_id", "user_id", users[i]),
    )
    out["sessions_list"] = (
        lambda i: session_q.list_sessions(store, PROJECT, SpanQuery(), limit=51),
        lambda i: grouped_over_spans(store, "session_id"),
    )
    out["users_list"] = (
        lambda i: user_q.list_users(store, PROJECT, SpanQuery(), limit=51),
        lambda i: grouped_over_spans(store, "user_id"),
    )
    return out


def _times_ms(fn: Case, runs: int, first: int = 0) -> list[float]:
    """Times of ``fn(first)``...``fn(first + runs - 1)`` after a warm-up with ``first + runs``."""
    fn(first + runs)
    out = []
    for i in range(first, first + runs):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(store: Store, now: datetime, *, runs: int = 10, baseline_runs: int = 1) -> dict[str, Any]:
    """``{case: {p50_ms, p95_ms, goal_ms, baseline_ms, speedup}}``: ``runs`` timed runs of each
    query (p95 of 10 runs is the second slowest) and ``baseline_runs`` of its baseline (0: none)."""
    results: dict[str, Any] = {}
    for name, (after, before) in cases(store, now, runs + 1 + baseline_runs).items():
        times = _times_ms(after, runs)
        row: dict[str, Any] = {
            "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(_p95(times), 1),
            "goal_ms": TEXT_GOAL_MS if "text" in name else GOAL_MS,
        }
        if before is not None and baseline_runs:
            base = _times_ms(before, baseline_runs, first=runs + 1)  # values the query did not see
            row["baseline_ms"] = round(statistics.median(base), 1)
            row["speedup"] = round(statistics.median(base) / max(statistics.median(times), 1e-3), 1)
        results[name] = row
    return results


SUMMARY_VIEWS = ("trace_summaries_mv", "session_summaries_mv", "user_summaries_mv")


def summary_insert_cost(
    store: Store, *, views: tuple[str, ...] = SUMMARY_VIEWS, rows: int = 131_072, repeats: int = 3
) -> dict[str, Any]:
    """What ``views`` (the summary views, or others) add to an INSERT of realistic spans, measured
    in this process.

    The same ``rows`` spans (from the store under test) are inserted in 32,768-span blocks, as the
    server's writer does, into two fresh databases: one with the full schema, one without
    ``views``; the two alternate ``repeats`` times. Reported: median seconds and
    microseconds per span of each, and their ratio. The OTLP decoding that comes before an INSERT
    is not in either, so the ratio is an upper bound on the views' share of real ingest.
    """
    staging = f"{store.database}.summary_cost_staging"
    store.client.command(
        f"CREATE TABLE {staging} ENGINE = MergeTree ORDER BY tuple() AS"
        f" SELECT * EXCEPT (model) FROM {store.database}.spans LIMIT {rows}"
    )
    targets = {"with_views": f"{store.database}_cost_with", "without_views": f"{store.database}_cost_without"}
    times: dict[str, list[float]] = {name: [] for name in targets}
    try:
        for _ in range(repeats):
            for name, database in targets.items():
                target = Store(store.client, database, store.dsn)  # one client: chDB has one path per process
                target.migrate()
                if name == "without_views":
                    for view in views:
                        target.client.command(f"DROP VIEW {database}.{view}")
                t0 = time.perf_counter()
                target.client.command(
                    f"INSERT INTO {database}.spans SELECT * FROM {staging}",
                    settings={"max_block_size": 32768, "min_insert_block_size_rows": 32768},
                )
                times[name].append(time.perf_counter() - t0)
                target.client.command(f"DROP DATABASE {database} SYNC")
    finally:
        store.client.command(f"DROP TABLE IF EXISTS {staging} SYNC")
    out: dict[str, Any] = {"views": list(views), "spans": rows, "repeats": repeats}
    for name, values in times.items():
        median = statistics.median(values)
        out[f"{name}_s"] = round(median, 3)
        out[f"{name}_us_per_span"] = round(median / rows * 1e6, 2)
    out["ratio"] = round(
        statistics.median(times["with_views"]) / statistics.median(times["without_views"]), 3
    )
    return out
