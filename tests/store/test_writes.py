"""Writes through the Store against real chDB: exact round trips, rollups equal raw, dedup tokens."""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from spans_factory import make_rows

from llmtrace.store import Store, StoreError
from llmtrace.store.arrow import span_table
from llmtrace.store.rows import SCORE_COLUMNS, SPAN_COLUMNS

_KEY = ("project", "service_name", "environment", "model", "provider", "prompt_name", "prompt_version")


def _bucket(value: float) -> int:
    return math.floor(math.log2(max(value, 1)) * 4)


def _model(row: dict[str, Any]) -> str:
    return row["request_model"] or row["response_model"]


def _llm_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["kind"] in ("llm", "embedding")]


def test_span_rows_round_trip_exactly(store: Store) -> None:
    rows = make_rows(60)
    assert any(r["cost_usd"] is None for r in rows) and any(r["cost_usd"] is not None for r in rows)
    assert any(r["ttft_ms"] is None for r in rows) and any(r["ttft_ms"] is not None for r in rows)
    store.insert_spans(rows)

    result = store.client.query(
        f"SELECT {', '.join(SPAN_COLUMNS)}, model FROM {{db:Identifier}}.spans ORDER BY span_id",
        parameters={"db": store.database},
    )
    back = [dict(zip((*SPAN_COLUMNS, "model"), r, strict=True)) for r in result.result_rows]
    expected = sorted(rows, key=lambda r: r["span_id"])
    assert [{k: v for k, v in r.items() if k != "model"} for r in back] == expected
    for row in back:
        assert row["start_time"].tzinfo is not None and row["start_time"].utcoffset() == timedelta(0)
        assert row["model"] == row["request_model"]
        assert isinstance(row["attributes"], dict) and row["attributes"]["app.request_id"].startswith("req-")
        assert row["tags"][0] == "test"


def test_rollups_equal_aggregates_over_the_raw_rows(store: Store) -> None:
    rows = make_rows(600, seed=11)
    for i in range(0, len(rows), 150):  # several blocks, so the rollups hold several partial states
        store.insert_spans(rows[i : i + 150])
    llm = _llm_rows(rows)
    assert 0 < len(llm) < len(rows)

    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in llm:
        hour = r["start_time"].replace(minute=0, second=0, microsecond=0)
        groups[
            (
                r["project"],
                hour,
                r["service_name"],
                r["environment"],
                _model(r),
                r["provider"],
                r["prompt_name"],
                r["prompt_version"],
            )
        ].append(r)

    result = store.client.query(
        """
        SELECT project, hour, service_name, environment, model, provider, prompt_name, prompt_version,
               calls, errors, priced, cost, tin, tout, lat_h, ttft_h, in_h, cost_h, chars_h, finish, status
        FROM (SELECT project, hour, service_name, environment, model, provider, prompt_name, prompt_version,
                     countMerge(calls) AS calls, sumMerge(errors) AS errors, sumMerge(priced_calls) AS priced,
                     sumMerge(cost) AS cost, sumMerge(in_tokens) AS tin, sumMerge(out_tokens) AS tout
                FROM {db:Identifier}.spans_hourly
               GROUP BY project, hour, service_name, environment, model, provider, prompt_name, prompt_version) AS m
        INNER JOIN
             (SELECT project, hour, service_name, environment, model, provider, prompt_name, prompt_version,
                     sumMap(latency_hist) AS lat_h, sumMap(ttft_hist) AS ttft_h, sumMap(input_tokens_hist) AS in_h,
                     sumMap(cost_hist) AS cost_h, sumMap(output_chars_hist) AS chars_h,
                     sumMap(finish_mix) AS finish, sumMap(status_mix) AS status
                FROM {db:Identifier}.drift_hourly
               GROUP BY project, hour, service_name, environment, model, provider, prompt_name, prompt_version) AS h
        USING (project, hour, service_name, environment, model, provider, prompt_name, prompt_version)
        """,
        parameters={"db": store.database},
    )
    got = {tuple(r[:8]): r[8:] for r in result.result_rows}
    assert set(got) == set(groups)

    def hist(values: list[float]) -> dict[int, int]:
        return dict(Counter(_bucket(v) for v in values))

    for key, members in groups.items():
        calls, errors, priced, cost, tin, tout, lat_h, ttft_h, in_h, cost_h, chars_h, finish, status = got[
            key
        ]
        assert calls == len(members)
        assert errors == sum(r["status"] == "error" for r in members)
        assert priced == sum(r["cost_usd"] is not None for r in members)
        assert cost == pytest.approx(sum(r["cost_usd"] or 0 for r in members), rel=1e-9)
        assert tin == sum(r["input_tokens"] for r in members)
        assert tout == sum(r["output_tokens"] for r in members)
        assert dict(zip(*lat_h, strict=True)) == hist([r["duration_ms"] for r in members])
        assert dict(zip(*ttft_h, strict=True)) == hist(
            [r["ttft_ms"] for r in members if r["ttft_ms"] is not None]
        )
        assert dict(zip(*in_h, strict=True)) == hist([r["input_tokens"] for r in members])
        assert dict(zip(*cost_h, strict=True)) == hist(
            [r["cost_usd"] * 1_000_000 for r in members if r["cost_usd"] is not None]
        )
        assert dict(zip(*chars_h, strict=True)) == hist([r["output_chars"] for r in members])
        assert dict(zip(*finish, strict=True)) == dict(Counter(r["finish_reason"] for r in members))
        assert dict(zip(*status, strict=True)) == dict(Counter(r["status"] for r in members))


def test_rollup_quantiles_approximate_exact_quantiles(store: Store) -> None:
    rows = make_rows(800, seed=3)
    store.insert_spans(rows[:400])
    store.insert_spans(rows[400:])
    latency_q, ttft_q = store.client.query(
        "SELECT quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(latency_q), "
        "quantilesTDigestMerge(0.5, 0.9, 0.95, 0.99)(ttft_q) FROM {db:Identifier}.spans_hourly",
        parameters={"db": store.database},
    ).result_rows[0]
    llm = _llm_rows(rows)
    for approx, values in (
        (latency_q, [r["duration_ms"] for r in llm]),
        (ttft_q, [r["ttft_ms"] for r in llm if r["ttft_ms"] is not None]),
    ):
        exact = statistics.quantiles(values, n=100, method="inclusive")
        for got, level in zip(approx, (50, 90, 95), strict=False):
            assert got == pytest.approx(exact[level - 1], rel=0.05)


def test_cost_5m_equals_raw(store: Store) -> None:
    rows = make_rows(400, seed=5)
    store.insert_spans(rows)
    sums: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0, 0, 0.0, 0, 0])
    for r in _llm_rows(rows):
        t = r["start_time"]
        t = t.replace(minute=t.minute - t.minute % 5, second=0, microsecond=0)
        s = sums[(r["project"], t, r["service_name"], _model(r), r["prompt_name"])]
        s[0] += 1
        s[1] += r["status"] == "error"
        s[2] += r["cost_usd"] or 0
        s[3] += r["input_tokens"]
        s[4] += r["output_tokens"]
    result = store.client.query(
        "SELECT project, t, service_name, model, prompt_name, sum(calls), sum(errors), sum(cost), "
        "sum(in_tokens), sum(out_tokens) FROM {db:Identifier}.cost_5m "
        "GROUP BY project, t, service_name, model, prompt_name",
        parameters={"db": store.database},
    )
    got = {tuple(r[:5]): list(r[5:]) for r in result.result_rows}
    assert set(got) == set(sums)
    for key, (calls, errors, cost, tin, tout) in sums.items():
        assert got[key] == [calls, errors, pytest.approx(cost, rel=1e-9), tin, tout]


def _counts(store: Store) -> tuple[int, int, int]:
    return store.client.query(
        "SELECT (SELECT count() FROM {db:Identifier}.spans), "
        "(SELECT countMerge(calls) FROM {db:Identifier}.spans_hourly), "
        "(SELECT sum(calls) FROM {db:Identifier}.cost_5m)",
        parameters={"db": store.database},
    ).result_rows[0]


def test_resent_batch_with_the_same_token_is_stored_once_in_spans_and_rollups(store: Store) -> None:
    rows = make_rows(50, seed=9)
    llm = len(_llm_rows(rows))
    store.insert_spans(rows, dedup_token="batch-1")
    assert _counts(store) == (50, llm, llm)
    store.insert_spans(rows, dedup_token="batch-1")  # an exporter retry
    assert _counts(store) == (50, llm, llm)
    store.insert_spans(rows, dedup_token="batch-2")  # a different batch token is a new insert
    assert _counts(store) == (100, 2 * llm, 2 * llm)


def _score(value: float, at: datetime, **extra: Any) -> dict[str, Any]:
    row = {
        "project": "p1",
        "trace_id": "a" * 32,
        "span_id": "b" * 16,
        "name": "helpfulness",
        "value": value,
        "label": "",
        "source": "api",
        "comment": "",
        "timestamp": at,
    }
    return row | extra


def test_scores_replace_on_rescore_and_dedup_by_token(store: Store) -> None:
    t0 = datetime.now(UTC).replace(microsecond=123456)
    store.insert_scores([_score(0.2, t0)], dedup_token="s-1")
    store.insert_scores([_score(0.2, t0)], dedup_token="s-1")
    store.insert_scores([_score(0.9, t0 + timedelta(seconds=1), label="good")])
    rows = store.client.query(
        f"SELECT {', '.join(SCORE_COLUMNS)} FROM {{db:Identifier}}.scores FINAL",
        parameters={"db": store.database},
    ).result_rows
    assert [dict(zip(SCORE_COLUMNS, r, strict=True)) for r in rows] == [
        _score(0.9, t0 + timedelta(seconds=1), label="good")
    ]
    raw = store.client.command(f"SELECT count() FROM {store.database}.scores")
    assert raw in (1, 2)  # 2 until a merge; never 3: the retried block was dropped


def test_empty_insert_is_a_no_op(store: Store) -> None:
    store.insert_spans([])
    assert _counts(store) == (0, 0, 0)


def _table(rows: list[dict[str, Any]]) -> Any:
    return span_table([tuple(r[c] for c in SPAN_COLUMNS) for r in rows])


def _stored_rows(store: Store) -> list[dict[str, Any]]:
    result = store.client.query(
        f"SELECT {', '.join(SPAN_COLUMNS)} FROM {{db:Identifier}}.spans ORDER BY span_id",
        parameters={"db": store.database},
    )
    return [dict(zip(SPAN_COLUMNS, r, strict=True)) for r in result.result_rows]


def test_arrow_span_table_round_trips_exactly(store: Store) -> None:
    rows = make_rows(60, seed=5)
    rows[0] |= {"input": "héllo ✓ 日本", "attributes": {}, "tags": [], "output_chars": 2**32 - 1}
    rows[1] |= {"error_message": "line 1\nline 2\ttab \\ 'quoted'", "cost_usd": 0.0, "ttft_ms": 0.0}
    store.insert_span_table(_table(rows))
    assert _stored_rows(store) == sorted(rows, key=lambda r: r["span_id"])


def test_arrow_inserts_feed_the_rollups_and_dedup_by_token(store: Store) -> None:
    rows = make_rows(50, seed=9)
    llm = len(_llm_rows(rows))
    store.insert_span_table(_table(rows), dedup_token="arrow-1")
    store.insert_span_table(_table(rows), dedup_token="arrow-1")  # a retried block
    assert _counts(store) == (50, llm, llm)
    store.insert_span_table(_table(rows), dedup_token="arrow-2")
    assert _counts(store) == (100, 2 * llm, 2 * llm)


def test_empty_span_table_is_a_no_op(store: Store) -> None:
    store.insert_span_table(span_table([]))
    assert _counts(store) == (0, 0, 0)


def test_a_failed_arrow_insert_is_one_store_error_line(store: Store) -> None:
    missing = Store(store.client, "no_such_database", store.dsn)
    with pytest.raises(StoreError, match=r"^insert into no_such_database\.spans at .* failed: ") as info:
        missing.insert_span_table(_table(make_rows(2)))
    assert "\n" not in str(info.value)
