"""The benchmark's fast generator writes the rows real ingest makes (benchmarks/genai_store.py)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from llmtrace.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import genai_store


def test_generated_spans_are_what_the_row_mapping_makes(store: Store) -> None:
    genai_store.generate(store, 5300, datetime.now(UTC).replace(microsecond=0))
    assert genai_store.check_rows(store, sample=400) == 400
    shape = store.client.query(
        "SELECT count(), countIf(kind = 'llm'), countIf(kind = 'tool'), uniqExact(trace_id),"
        " avg(length(input) + length(output)), countIf(status = 'error'), uniqExact(project)"
        " FROM {db:Identifier}.spans",
        parameters={"db": store.database},
    ).result_rows[0]
    spans, llm, tools, traces, content, errors, projects = shape
    assert (spans, tools, traces) == (5300, 100, 5000)  # one trace in 50 is an agent trace of 4 spans
    assert llm == 5300 - 200 and 1500 < content < 2100 and 20 < errors < 100 and projects > 1
    # The summary views saw the same INSERT.
    summarized = store.client.query(
        "SELECT sum(spans), uniqExact(trace_id) FROM {db:Identifier}.trace_summaries",
        parameters={"db": store.database},
    ).result_rows[0]
    assert summarized == (5300, 5000)
