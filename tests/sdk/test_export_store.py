"""Direct store export (``store=DSN``) into the real embedded ClickHouse (chDB), read back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import llmtrace
from llmtrace._internal import semconv as sc
from llmtrace.store import Store, open_store


@pytest.fixture
def fresh_database(chdb_dsn: str) -> Iterator[str]:
    """A database name that does not exist yet: the exporter must create the schema itself."""
    name = f"sdk_{uuid.uuid4().hex[:10]}"
    yield name
    llmtrace.shutdown(timeout_s=5.0)
    with open_store(chdb_dsn) as s:
        s.client.command(f"DROP DATABASE IF EXISTS {name} SYNC")


def test_spans_and_scores_written_directly_creating_the_schema(chdb_dsn: str, fresh_database: str) -> None:
    llmtrace.instrument(
        store=chdb_dsn,
        database=fresh_database,
        service_name="svc",
        project="proj",
        environment="prod",
        prices={"my-model": {"input": 1.0, "output": 2.0}},
    )

    @llmtrace.trace
    def answer(q: str) -> str:
        tracer = llmtrace._internal.config.settings().tracer()
        with tracer.start_as_current_span("chat my-model") as llm:
            llm.set_attributes(
                {
                    sc.GEN_AI_OPERATION_NAME: "chat",
                    sc.GEN_AI_PROVIDER_NAME: "openai",
                    sc.GEN_AI_REQUEST_MODEL: "my-model",
                    sc.GEN_AI_USAGE_INPUT_TOKENS: 1000,
                    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 500,
                }
            )
        llmtrace.score("helpfulness", 0.5, comment="meh")
        return q.upper()

    with llmtrace.context(user_id="u1", session_id="s1", prompt="qa", prompt_version="3", tags=["t"]):
        answer("hi")
    assert llmtrace.flush(30.0) is True

    store = open_store(chdb_dsn, fresh_database)
    try:
        rows = store.client.query(
            "SELECT name, kind, service_name, environment, project, user_id, session_id, prompt_name, "
            "prompt_version, tags, input, output, cost_usd, parent_span_id = '' AS root, trace_id, span_id "
            "FROM {db:Identifier}.spans ORDER BY start_time",
            parameters={"db": fresh_database},
        ).named_results()
        rows = list(rows)
        scores = list(
            store.client.query(
                "SELECT trace_id, span_id, name, value, comment, source, project FROM {db:Identifier}.scores",
                parameters={"db": fresh_database},
            ).named_results()
        )
        trace_ids = store.client.query(
            "SELECT uniqExact(trace_id) FROM {db:Identifier}.spans", parameters={"db": fresh_database}
        ).result_rows[0][0]
    finally:
        store.close()
    assert trace_ids == 1
    assert [r["name"] for r in rows] == ["answer", "chat my-model"]
    outer, llm = rows
    for r in rows:
        assert (r["service_name"], r["environment"], r["project"], r["user_id"], r["session_id"]) == (
            "svc",
            "prod",
            "proj",
            "u1",
            "s1",
        )
        assert (r["prompt_name"], r["prompt_version"], r["tags"]) == ("qa", "3", ["t"])
    assert outer["kind"] == "span" and outer["root"] == 1
    assert outer["input"] == '{"q": "hi"}' and outer["output"] == '"HI"'
    assert llm["kind"] == "llm" and llm["root"] == 0
    assert llm["cost_usd"] == pytest.approx((1000 * 1.0 + 500 * 2.0) / 1e6)
    (score,) = scores
    assert (score["trace_id"], score["span_id"]) == (outer["trace_id"], outer["span_id"])
    assert (score["name"], score["value"], score["comment"], score["source"], score["project"]) == (
        "helpfulness",
        0.5,
        "meh",
        "sdk",
        "proj",
    )


def test_store_backend_into_an_existing_schema(chdb_dsn: str, store: Store) -> None:
    llmtrace.instrument(store=chdb_dsn, database=store.database)
    for i in range(50):
        with llmtrace.span(f"s{i}"):
            pass
    assert llmtrace.flush(30.0) is True
    count = store.client.query(
        "SELECT count() FROM {db:Identifier}.spans", parameters={"db": store.database}
    ).result_rows[0][0]
    llmtrace.shutdown(timeout_s=5.0)
    assert count == 50
    assert llmtrace.stats().exported == 50
