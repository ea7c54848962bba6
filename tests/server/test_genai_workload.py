"""The ingest benchmark's content-carrying workload (benchmarks/genai_workload.py) through the
real decode path into a real store: the shape issue 14 describes, every span new, rollups agreeing."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

from llmtrace.store import Store
from llmtrace_server import otlp
from llmtrace_server.ingest import prepare

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _workload() -> ModuleType:
    spec = importlib.util.spec_from_file_location("genai_workload", BENCHMARKS / "genai_workload.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("genai_workload", module)
    spec.loader.exec_module(module)
    return module


def _count(store: Store, sql: str) -> int:
    return int(store.client.query(sql.format(db=store.database)).result_rows[0][0])


def test_genai_batches_have_the_issue_shape_and_store_every_span_once(store: Store) -> None:
    workload = _workload()
    batches = workload.GenAiBatches(3, time.time_ns(), templates=2)
    bodies = [batches.body(seq) for seq in range(4)]  # two copies of each template, new ids each
    assert all(2000 <= len(body) / workload.BATCH <= 2300 for body in bodies)  # ~2.1 KB a span
    for body in bodies:
        prepared = prepare(otlp.decode(body, otlp.PROTOBUF), "bench")
        assert not prepared.rejected and prepared.duplicates == 0
        store.insert_span_table(prepared.spans)

    spans = 4 * workload.BATCH
    chats = sum(batches.llm_spans(seq) for seq in range(4))
    assert _count(store, "SELECT uniqExact(trace_id, span_id) FROM {db}.spans") == spans
    assert _count(store, "SELECT countIf(kind = 'llm') FROM {db}.spans") == chats
    # Every chat carries both messages as content, and its other attributes: 14 in all.
    assert (
        _count(
            store,
            "SELECT countIf(kind = 'llm' AND length(input) >= 600 AND length(output) >= 350"
            " AND JSONExtractString(input, 1, 'role') = 'system') FROM {db}.spans",
        )
        == chats
    )
    # One trace in 50 is an agent trace: invoke_agent over two chats and one execute_tool.
    agents = _count(store, "SELECT countIf(operation = 'invoke_agent') FROM {db}.spans")
    assert agents >= 4 * (workload.BATCH // 53) - 4
    children = store.client.query(
        f"SELECT a.span_id, groupArray(c.operation) FROM {store.database}.spans AS a"
        f" INNER JOIN {store.database}.spans AS c ON c.trace_id = a.trace_id AND c.parent_span_id = a.span_id"
        " WHERE a.operation = 'invoke_agent' GROUP BY a.span_id"
    ).result_rows
    assert len(children) == agents
    assert all(sorted(ops) == ["chat", "chat", "execute_tool"] for _, ops in children)
    errors = _count(store, "SELECT countIf(status = 'error') FROM {db}.spans")
    assert 0 < errors < 0.03 * spans
    # The rollup views saw exactly the stored LLM calls.
    assert _count(store, "SELECT countMerge(calls) FROM {db}.spans_hourly") == chats
    assert _count(store, "SELECT sum(calls) FROM {db}.cost_5m") == chats
