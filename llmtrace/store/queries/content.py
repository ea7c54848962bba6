"""Message content that arrived as GenAI events (``span_content``), attached to the spans it names.

The official OpenTelemetry instrumentations can send prompts and completions as OTLP log records
instead of span attributes. They are stored apart (see migration 0035) and joined here, when the
spans are read, so they attach whichever of span and events arrived first. A span's own
``input`` / ``output`` win; event content only fills what the span left empty.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

_CONTENT_KINDS = ("llm", "embedding")


def attach_event_content(store: Any, project: str, rows: Sequence[dict[str, Any]]) -> None:
    """Fill the empty ``input`` / ``output`` of LLM span ``rows`` (in place) from their GenAI events."""
    missing = {
        (row["trace_id"], row["span_id"]): row
        for row in rows
        if row.get("kind") in _CONTENT_KINDS and not (row.get("input") and row.get("output"))
    }
    if not missing:
        return
    for key, (input_text, output_text) in span_event_content(store, project, list(missing)).items():
        row = missing[key]
        if not row.get("input") and input_text:
            row["input"] = input_text
        if not row.get("output") and output_text:
            row["output"] = output_text
            row["output_chars"] = row.get("output_chars") or len(output_text)


def span_event_content(
    store: Any, project: str, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, str]]:
    """(trace_id, span_id) -> (input, output) JSON message lists from the spans' GenAI events.

    Events are read in time order; a record stored twice (a retried export not yet merged away)
    is read once (LIMIT 1 BY its whole key).
    """
    sql = (
        "SELECT trace_id, span_id, input, output FROM {db:Identifier}.span_content"
        " WHERE project = {project:String}"
        " AND has({trace_ids:Array(String)}, trace_id) AND has({span_ids:Array(String)}, span_id)"
        " ORDER BY trace_id, span_id, time, event_name, record_key"
        " LIMIT 1 BY trace_id, span_id, event_name, time, record_key"
    )
    params = {
        "db": store.database,
        "project": project,
        "trace_ids": sorted({t for t, _ in keys}),
        "span_ids": sorted({s for _, s in keys}),
    }
    wanted = set(keys)
    parts: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for trace_id, span_id, input_text, output_text in store.client.query(sql, parameters=params).result_rows:
        if (trace_id, span_id) in wanted:
            inputs, outputs = parts.setdefault((trace_id, span_id), ([], []))
            if input_text:
                inputs.append(input_text)
            if output_text:
                outputs.append(output_text)
    return {key: (_joined(inputs), _joined(outputs)) for key, (inputs, outputs) in parts.items()}


def _joined(lists: list[str]) -> str:
    """Several JSON message lists (one per older per-message event) as one list."""
    if len(lists) <= 1:
        return lists[0] if lists else ""
    messages: list[Any] = []
    for text in lists:
        try:
            value = json.loads(text)
        except ValueError:
            value = [text]
        messages += value if isinstance(value, list) else [value]
    return json.dumps(messages, ensure_ascii=False)
