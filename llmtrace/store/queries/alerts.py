"""Alert storage (rules, state, events, lease) and the series that alert rules evaluate.

The mutable tables are ReplacingMergeTree: an update inserts a new version and reads use FINAL.
Version timestamps are the writer's wall clock (not the evaluation's ``now``, which tests and
backfills may set in the past), so the latest write always wins.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from llmtrace.store import Store
from llmtrace.store.queries._segment import SEGMENT_COLUMNS, segment_where

ALERT_FILTERS: Mapping[str, str] = {
    k: SEGMENT_COLUMNS[k] for k in ("service", "model", "prompt", "environment")
}
KEY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("service", "service_name"),
    ("model", "model"),
    ("prompt", "prompt_name"),
)
THRESHOLD_METRICS: Mapping[str, str] = {
    "calls": "toFloat64(count())",
    "errors": "toFloat64(countIf(status = 'error'))",
    "error_rate": "countIf(status = 'error') / count()",
    "cost_usd": "sum(ifNull(cost_usd, 0))",
    "cost_per_call_usd": "avgIf(assumeNotNull(cost_usd), isNotNull(cost_usd))",
    "input_tokens": "toFloat64(sum(input_tokens))",
    "output_tokens": "toFloat64(sum(output_tokens))",
    "latency_p50_ms": "quantileTDigest(0.5)(duration_ms)",
    "latency_p95_ms": "quantileTDigest(0.95)(duration_ms)",
    "latency_p99_ms": "quantileTDigest(0.99)(duration_ms)",
    "ttft_p50_ms": "quantileTDigestIf(0.5)(assumeNotNull(ttft_ms), isNotNull(ttft_ms))",
    "ttft_p95_ms": "quantileTDigestIf(0.95)(assumeNotNull(ttft_ms), isNotNull(ttft_ms))",
}
GROUPABLE: Mapping[str, str] = {"service": "service_name", "model": "model", "prompt": "prompt_name"}


def _wall() -> datetime:
    return datetime.now(UTC)


# ---- rules ---------------------------------------------------------------------------------------


def insert_rule(store: Store, project: str, rule: Mapping[str, Any], *, deleted: bool = False) -> None:
    now = _wall()
    store.client.insert(
        "alert_rules",
        [
            [
                project,
                rule["id"],
                rule["name"],
                rule["type"],
                json.dumps(rule.get("filters") or {}, sort_keys=True),
                json.dumps(rule.get("params") or {}, sort_keys=True),
                rule.get("webhook_url") or "",
                rule.get("created_at") or now,
                now,
                1 if deleted else 0,
            ]
        ],
        column_names=[
            "project",
            "id",
            "name",
            "type",
            "filters",
            "params",
            "webhook_url",
            "created_at",
            "updated_at",
            "deleted",
        ],
        database=store.database,
    )


def list_rules(store: Store, project: str | None = None, rule_id: str | None = None) -> list[dict[str, Any]]:
    """Live rules (of one project, or all projects when ``project`` is None), oldest first."""
    params: dict[str, Any] = {"db": store.database}
    where = ""
    if project is not None:
        params["project"] = project
        where += " AND project = {project:String}"
    if rule_id is not None:
        params["id"] = rule_id
        where += " AND id = {id:String}"
    result = store.client.query(
        f"""SELECT project, id, name, type, filters, params, webhook_url, created_at
              FROM {{db:Identifier}}.alert_rules FINAL WHERE deleted = 0 {where} ORDER BY created_at, id""",
        parameters=params,
    )
    rules = []
    for row in result.result_rows:
        item = dict(zip(result.column_names, row, strict=True))
        item["filters"] = json.loads(item["filters"] or "{}")
        item["params"] = json.loads(item["params"] or "{}")
        rules.append(item)
    return rules


# ---- state and events ----------------------------------------------------------------------------


STATE_COLUMNS = [
    "rule_id",
    "key",
    "state",
    "breaches",
    "since",
    "clear_since",
    "last_notified",
    "resolved_at",
    "last_value",
]


def load_states(store: Store, rule_id: str) -> dict[str, dict[str, Any]]:
    result = store.client.query(
        f"SELECT {', '.join(STATE_COLUMNS)} FROM {{db:Identifier}}.alert_state FINAL WHERE rule_id = {{r:String}}",
        parameters={"db": store.database, "r": rule_id},
    )
    return {row[1]: dict(zip(result.column_names, row, strict=True)) for row in result.result_rows}


def save_states(store: Store, states: Sequence[Mapping[str, Any]]) -> None:
    if not states:
        return
    now = _wall()
    store.client.insert(
        "alert_state",
        [[s[c] for c in STATE_COLUMNS] + [now] for s in states],
        column_names=[*STATE_COLUMNS, "updated_at"],
        database=store.database,
    )


EVENT_COLUMNS = [
    "project",
    "id",
    "rule_id",
    "rule_name",
    "rule_type",
    "key",
    "state",
    "repeat",
    "ts",
    "values",
    "baseline",
    "delivered",
    "attempts",
    "error",
]


def save_event(store: Store, event: Mapping[str, Any]) -> None:
    row = [json.dumps(event[c], default=str) if c == "values" else event[c] for c in EVENT_COLUMNS]
    store.client.insert(
        "alert_events",
        [[*row, _wall()]],
        column_names=[*EVENT_COLUMNS, "updated_at"],
        database=store.database,
    )


def list_events(
    store: Store, project: str, *, rule_id: str | None = None, state: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"db": store.database, "project": project, "limit": limit}
    where = ""
    if rule_id:
        params["rule_id"] = rule_id
        where += " AND rule_id = {rule_id:String}"
    if state:
        params["state"] = state
        where += " AND state = {state:String}"
    result = store.client.query(
        f"""SELECT {", ".join(EVENT_COLUMNS)} FROM {{db:Identifier}}.alert_events FINAL
             WHERE project = {{project:String}} {where} ORDER BY ts DESC, id LIMIT {{limit:UInt32}}""",
        parameters=params,
    )
    events = []
    for row in result.result_rows:
        item = dict(zip(result.column_names, row, strict=True))
        item["values"] = json.loads(item["values"] or "{}")
        events.append(item)
    return events


# ---- lease ---------------------------------------------------------------------------------------


def lease_holder(store: Store, name: str) -> tuple[str, datetime] | None:
    rows = store.client.query(
        """SELECT holder, expires FROM {db:Identifier}.alert_lease FINAL WHERE name = {n:String}""",
        parameters={"db": store.database, "n": name},
    ).result_rows
    return (rows[0][0], rows[0][1]) if rows else None


def write_lease(store: Store, name: str, holder: str, expires: datetime) -> None:
    store.client.insert(
        "alert_lease",
        [[name, holder, expires, _wall()]],
        column_names=["name", "holder", "expires", "updated_at"],
        database=store.database,
    )


# ---- series the rules evaluate -------------------------------------------------------------------


def cost_windows(
    store: Store,
    project: str,
    filters: Mapping[str, str | None],
    now: datetime,
    window: timedelta,
    days: int,
) -> dict[tuple[str, str, str], dict[int, tuple[float, int]]]:
    """Cost and calls per key in the window ending at ``now`` (day 0) and the same window on each
    of the previous ``days`` days: ``{(service, model, prompt): {day: (cost, calls)}}``.

    One scan of ``cost_5m``: a bucket's age ``now - t`` in ((d * 1 day), d * 1 day + window]
    puts it in day d's window.
    """
    params: dict[str, Any] = {
        "db": store.database,
        "project": project,
        "now": now.replace(microsecond=0),
        "w": int(window.total_seconds()),
        "span": int(window.total_seconds()) + days * 86400,
    }
    where = segment_where(filters, params, allowed=ALERT_FILTERS)
    rows = store.client.query(
        f"""SELECT service_name, model, prompt_name, intDiv(age - 1, 86400) AS d, sum(cost) AS c, sum(calls) AS k
              FROM (SELECT service_name, model, prompt_name, cost, calls,
                           dateDiff('second', t, toDateTime({{now:DateTime64(6)}}, 'UTC')) AS age
                      FROM {{db:Identifier}}.cost_5m
                     WHERE project = {{project:String}} {where}
                       AND t >= toDateTime({{now:DateTime64(6)}}, 'UTC') - toIntervalSecond({{span:UInt32}})
                       AND t < toDateTime({{now:DateTime64(6)}}, 'UTC'))
             WHERE age > 0 AND (age - 1) % 86400 < {{w:UInt32}}
             GROUP BY service_name, model, prompt_name, d""",
        parameters=params,
    ).result_rows
    out: dict[tuple[str, str, str], dict[int, tuple[float, int]]] = {}
    for service, model, prompt, d, cost, calls in rows:
        out.setdefault((service, model, prompt), {})[int(d)] = (float(cost), int(calls))
    return out


def spend_today(
    store: Store, project: str, filters: Mapping[str, str | None], now: datetime, group_by: str | None
) -> list[tuple[str, float]]:
    """Spend since UTC midnight until ``now`` per group value (or one row '*')."""
    params: dict[str, Any] = {"db": store.database, "project": project, "now": now.replace(microsecond=0)}
    where = segment_where(filters, params, allowed=ALERT_FILTERS)
    col = GROUPABLE[group_by] if group_by else "'*'"
    rows = store.client.query(
        f"""SELECT {col} AS g, sum(cost) AS c FROM {{db:Identifier}}.cost_5m
             WHERE project = {{project:String}} {where}
               AND t >= toStartOfDay(toDateTime({{now:DateTime64(6)}}, 'UTC'))
               AND t < toDateTime({{now:DateTime64(6)}}, 'UTC')
             GROUP BY g""",
        parameters=params,
    ).result_rows
    return [(str(g), float(c)) for g, c in rows]


def window_metric(
    store: Store,
    project: str,
    filters: Mapping[str, str | None],
    now: datetime,
    window: timedelta,
    metric: str,
    group_by: str | None,
) -> list[tuple[str, float | None, int]]:
    """(group value or '*', metric value, calls) over LLM calls that started in (now - window, now]."""
    params: dict[str, Any] = {"db": store.database, "project": project, "now": now, "since": now - window}
    where = segment_where(filters, params, allowed=ALERT_FILTERS)
    col = GROUPABLE[group_by] if group_by else "'*'"
    rows = store.client.query(
        f"""SELECT {col} AS g, {THRESHOLD_METRICS[metric]} AS v, count() AS n FROM {{db:Identifier}}.llm_calls
             WHERE project = {{project:String}} {where}
               AND start_time >= {{since:DateTime64(6)}} AND start_time < {{now:DateTime64(6)}}
             GROUP BY g""",
        parameters=params,
    ).result_rows
    return [(str(g), None if v is None or v != v else float(v), int(n)) for g, v, n in rows]
