"""``/traces/{trace_id}``: the span tree with a waterfall, each span's conversation and facts.

Reads ``trace_spans``/``trace_scores`` and nests them with the JSON route's ``build_tree``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import HTMLResponse

from llmtrace.store.queries import traces as q
from llmtrace_server.deps import StoreDep
from llmtrace_server.routes.traces import build_tree
from llmtrace_server.schemas import TRACE_ID_PATTERN, ScorePublic, SpanNodePublic
from llmtrace_server.ui.conversation import messages
from llmtrace_server.ui.render import render
from llmtrace_server.ui.session import ProjectPage

router = APIRouter()

CHAT_KINDS = ("llm", "embedding")  # spans whose plain-text input/output is a prompt/completion


@router.get("/traces/{trace_id}", response_class=HTMLResponse)
def trace_page(
    request: Request,
    store: StoreDep,
    project: ProjectPage,
    trace_id: Annotated[str, Path(max_length=64)],
) -> HTMLResponse:
    if not re.fullmatch(TRACE_ID_PATTERN, trace_id):
        raise HTTPException(400, f"{trace_id!r} is not a trace id: a trace id is 32 hex characters")
    trace_id = trace_id.lower()
    rows = q.trace_spans(store, project, trace_id)
    if not rows:
        raise HTTPException(404, f"trace {trace_id} was not found in project {project!r}")
    scores = [ScorePublic.model_validate(s) for s in q.trace_scores(store, project, trace_id)]
    tree = build_tree(trace_id, rows, scores)
    return render(request, "trace.html", **trace_view(tree.spans, tree.scores, tree.trace_id))


def trace_view(roots: list[SpanNodePublic], trace_scores: list[ScorePublic], trace_id: str) -> dict[str, Any]:
    """Rows of the tree in display order (depth-first) with their waterfall offsets in percent."""
    flat: list[tuple[SpanNodePublic, int]] = []

    def walk(node: SpanNodePublic, depth: int) -> None:
        flat.append((node, depth))
        for child in node.children:
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    start = min(n.start_time for n, _ in flat)
    end = max(n.end_time for n, _ in flat)
    total_ms = max((end - start).total_seconds() * 1000, 1e-3)
    spans: list[dict[str, Any]] = []
    for node, depth in flat:
        offset = (node.start_time - start).total_seconds() * 1000
        spans.append(
            {
                "node": node,
                "depth": depth,
                "left": 100 * offset / total_ms,
                "width": max(100 * node.duration_ms / total_ms, 0.3),
                "input": messages(node.input, "user" if node.kind in CHAT_KINDS else "input"),
                "output": messages(node.output, "assistant" if node.kind in CHAT_KINDS else "output"),
                "attributes": dict(sorted(node.attributes.items())),
            }
        )
    llm = [node for node, _ in flat if node.kind in CHAT_KINDS]
    return {
        "trace_id": trace_id,
        "spans": spans,
        "scores": trace_scores,
        "start": start,
        "duration_ms": total_ms,
        "root": flat[0][0],
        "totals": {
            "llm_calls": len(llm),
            "input_tokens": sum(n.input_tokens for n in llm),
            "output_tokens": sum(n.output_tokens for n in llm),
            "cost_usd": sum(n.cost_usd or 0 for n in llm),
            "errors": sum(1 for node, _ in flat if node.status == "error"),
        },
    }
