"""Property test (issue 13): whatever mix of valid and invalid span values, injected INSERT
failures and exporter retries goes through the real ingest path into a real store,

* every request is answered 200 with the invalid spans (and only those) in partial success, once
  the store takes writes again;
* the raw table holds each valid span exactly once (raw rows == unique span ids);
* every rollup agrees with the raw table.

Failures are injected at the driver boundary: a proxy of clickhouse-connect's client that fails
INSERTs before writing, or after writing (a dropped connection), or refuses any block carrying a
marked span (a value the store cannot take that validation did not catch).
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmtrace.store import Store, open_store
from llmtrace_server.app import create_app
from llmtrace_server.settings import Settings
from tests.server.test_writer import inserted_table

DAY_NS = 86400 * 10**9
REFUSED_NAME = "the store refuses this span"
_ids = itertools.count(1)


class FlakyDriver:
    """clickhouse-connect's client, with INSERT outcomes taken from ``schedule`` while it lasts."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.schedule: deque[str] = deque()

    def raw_insert(self, table: str, columns: Any, block: Any, **kwargs: Any) -> Any:
        data = inserted_table(block)
        if REFUSED_NAME in data["name"].to_pylist():
            raise DatabaseError("Code: 70. Unexpected inf or nan to integer conversion")
        outcome = self.schedule.popleft() if self.schedule else "ok"
        if outcome == "fail_before":
            raise OperationalError("connection refused")
        result = self._client.raw_insert(table, columns, block, **kwargs)
        if outcome == "fail_after":
            raise OperationalError("connection reset by peer after the INSERT was sent")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture(scope="module")
def app(chdb_dsn: str) -> Iterator[tuple[TestClient, FlakyDriver, Store]]:
    """One app for every example (span ids never repeat across examples, so the checks hold)."""
    dsn = chdb_dsn
    database = f"prop_{uuid.uuid4().hex[:12]}"
    real = open_store(dsn, database)
    driver = FlakyDriver(real.client)
    store = Store(driver, database, dsn)
    # Acknowledged means written (no spool): a request the store refuses is answered 503. The
    # spool's answers under load are checked in test_writer_spool.py.
    settings = Settings(store=dsn, database=database, decode_workers=0, ingest_spool=False)
    client = TestClient(create_app(settings, store=store))
    client.__enter__()
    try:
        yield client, driver, real
    finally:
        client.__exit__(None, None, None)
        with open_store(dsn, database) as cleanup:
            cleanup.client.command(f"DROP DATABASE IF EXISTS {database} SYNC")


# --- span values --------------------------------------------------------------------------------

VALID = st.fixed_dictionaries(
    {
        "cost": st.one_of(st.none(), st.floats(0, 50, allow_nan=False)),
        "input": st.integers(0, 2**32 - 1),
        "output": st.integers(0, 100_000),
        "ttft": st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False)),
        "age_s": st.integers(0, 80 * 86400),
        "text": st.text(max_size=40),
    }
)
INVALID = st.sampled_from(
    [
        "cost_inf",
        "cost_nan",
        "ttft_nan",
        "ttft_inf",
        "tokens_nan",
        "tokens_over_uint32",
        "cost_over_int64",
        "surrogate",
        "too_old",
        "future",
        "negative_cost",
    ]
)


def _attr(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "value": value}


def _span(
    values: dict[str, Any] | None, invalid: str | None, name: str = "chat"
) -> tuple[str, dict[str, Any]]:
    n = next(_ids)
    trace_id, span_id = f"{0xFEED0000 + n:032x}", f"{0xC0DE0000 + n:016x}"
    values = values or {"cost": 0.01, "input": 10, "output": 5, "ttft": None, "age_s": 60, "text": ""}
    start = time.time_ns() - values["age_s"] * 10**9 - 10**9
    attrs = [
        _attr("gen_ai.operation.name", {"stringValue": "chat"}),
        _attr("gen_ai.request.model", {"stringValue": "gpt-4o-mini"}),
        _attr("gen_ai.usage.input_tokens", {"intValue": str(values["input"])}),
        _attr("gen_ai.usage.output_tokens", {"intValue": str(values["output"])}),
        _attr("note", {"stringValue": values["text"]}),
    ]
    if values["cost"] is not None:
        attrs.append(_attr("llmtrace.cost.usd", {"doubleValue": values["cost"]}))
    if values["ttft"] is not None:
        attrs.append(_attr("llmtrace.ttft_ms", {"doubleValue": values["ttft"]}))
    bad = {
        "cost_inf": _attr("llmtrace.cost.usd", {"doubleValue": "Infinity"}),
        "cost_nan": _attr("llmtrace.cost.usd", {"doubleValue": "NaN"}),
        "ttft_nan": _attr("llmtrace.ttft_ms", {"doubleValue": "NaN"}),
        "ttft_inf": _attr("llmtrace.ttft_ms", {"doubleValue": "-Infinity"}),
        "tokens_nan": _attr("gen_ai.usage.input_tokens", {"doubleValue": "NaN"}),
        "tokens_over_uint32": _attr("gen_ai.usage.input_tokens", {"intValue": str(2**32)}),
        "cost_over_int64": _attr("llmtrace.cost.usd", {"intValue": str(2**64)}),
        "negative_cost": _attr("llmtrace.cost.usd", {"doubleValue": -1.5}),
    }
    if invalid in bad:
        attrs = [a for a in attrs if a["key"] != bad[invalid]["key"]] + [bad[invalid]]
    if invalid == "surrogate":
        name = "chat \ud800"
    if invalid == "too_old":
        start = time.time_ns() - 100 * DAY_NS
    if invalid == "future":
        start = time.time_ns() + 3 * DAY_NS
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 250_000_000),
        "attributes": attrs,
    }
    return span_id, span


REQUEST = st.lists(
    st.one_of(VALID.map(lambda v: (v, None)), INVALID.map(lambda i: (None, i))), min_size=1, max_size=6
)


def _body(spans: list[dict[str, Any]]) -> bytes:
    doc = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": spans}]}]}
    return json.dumps(doc).encode()  # lone surrogates become \\udXXX escapes, as a sender would write


def _post_until_answered(client: TestClient, body: bytes, tries: int = 4) -> Any:
    for _ in range(tries):
        response = client.post("/v1/traces", content=body, headers={"Content-Type": "application/json"})
        if response.status_code != 503:
            return response
    return response


def _scalar(store: Store, sql: str) -> int:
    return int(store.client.query(sql.format(db=store.database)).result_rows[0][0] or 0)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    requests=st.lists(REQUEST, min_size=1, max_size=5),
    refused=st.lists(st.sampled_from([False, False, False, True]), min_size=5, max_size=5),
    resend=st.lists(st.booleans(), min_size=5, max_size=5),
    failures=st.lists(st.sampled_from(["ok", "fail_before", "fail_after"]), max_size=8),
)
def test_any_mix_of_bad_values_failures_and_retries_keeps_the_store_exact(
    app: tuple[TestClient, FlakyDriver, Store],
    requests: list[list[tuple[dict[str, Any] | None, str | None]]],
    refused: list[bool],
    resend: list[bool],
    failures: list[str],
) -> None:
    client, driver, store = app
    driver.schedule = deque(failures)
    bodies, expected, invalid_counts, refused_requests = [], set(), [], set()
    for number, spans in enumerate(requests):
        objects, ids = [], []
        for values, invalid in spans:
            span_id, obj = _span(values, invalid)
            objects.append(obj)
            if invalid is None:
                ids.append(span_id)
        if refused[number]:  # one extra span the driver refuses: this request cannot be written
            objects.append(_span(None, None, REFUSED_NAME)[1])
            refused_requests.add(number)
        else:
            expected.update(ids)
        bodies.append(_body(objects))
        invalid_counts.append(sum(invalid is not None for _, invalid in spans))
    # Sent concurrently, so requests share INSERT blocks; some are re-sent afterwards (a retry).
    with ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda body: _post_until_answered(client, body), bodies))
    for number, body in enumerate(bodies):
        if resend[number]:
            answers[number] = _post_until_answered(client, body)

    for number, response in enumerate(answers):
        if number in refused_requests:
            assert response.status_code == 503
            continue
        assert response.status_code == 200, response.text
        rejected = int(response.json().get("partialSuccess", {}).get("rejectedSpans", 0))
        assert rejected == invalid_counts[number], response.json()

    ids = sorted(
        {
            obj["spanId"]
            for body in bodies
            for obj in json.loads(body)["resourceSpans"][0]["scopeSpans"][0]["spans"]
        }
    )
    stored = store.client.query(
        f"SELECT span_id FROM {store.database}.spans WHERE span_id IN {{ids:Array(String)}}",
        parameters={"ids": ids},
    ).result_rows
    stored_ids = [row[0] for row in stored]
    assert sorted(stored_ids) == sorted(expected)  # each valid span exactly once, nothing else

    raw = _scalar(store, "SELECT count() FROM {db}.spans")
    assert raw == _scalar(store, "SELECT uniqExact(project, trace_id, span_id) FROM {db}.spans")
    llm = _scalar(store, "SELECT count() FROM {db}.spans WHERE kind IN ('llm', 'embedding')")
    assert llm == raw
    assert _scalar(store, "SELECT countMerge(calls) FROM {db}.spans_hourly") == llm
    assert _scalar(store, "SELECT sum(calls) FROM {db}.cost_5m") == llm
    tokens = _scalar(store, "SELECT sum(input_tokens) FROM {db}.spans")
    assert _scalar(store, "SELECT sumMerge(in_tokens) FROM {db}.spans_hourly") == tokens
    assert _scalar(store, "SELECT sum(in_tokens) FROM {db}.cost_5m") == tokens
