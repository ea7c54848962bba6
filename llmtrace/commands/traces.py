"""``llmtrace traces``: recent traces, or one trace's span tree, from a running server.

Without an id: ``GET /api/v1/traces`` newest first, with its filters and text search, one line a
trace and the cursor of the next page. With one: ``GET /api/v1/traces/{id}`` as an indented tree,
each span with its kind, duration, status, model, tokens, cost and scores (``--content`` adds
what went in and came out).
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from llmtrace.commands._api import add_connection_args, call, filter_args, filters, fmt, rounded, run, table
from llmtrace.commands._time import add_time_args

CONTENT_CHARS = 400  # of a span's input and output with --content (the UI shows them whole)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("traces", help="recent traces (search, filters), or one trace's span tree")
    parser.add_argument("trace_id", nargs="?", type=_trace_id, help="show this trace's spans as a tree")
    parser.add_argument(
        "-q", "--query", dest="q", metavar="WORDS", help="words a span's input or output contains"
    )
    add_time_args(
        parser, "since", "until", what=lambda n: f"traces started {'from' if n == 'since' else 'before'}"
    )
    parser.add_argument("--status", choices=("ok", "error"), help="traces with an errored span, or without")
    parser.add_argument("--user", dest="user_id", help="only this user's traces")
    parser.add_argument("--session", dest="session_id", help="only this session's traces")
    parser.add_argument("--limit", type=int, default=20, help="traces per page (default: %(default)s)")
    parser.add_argument("--cursor", help="the next page (printed under a full page)")
    parser.add_argument(
        "--content", action="store_true", help="with a trace id: each span's input and output"
    )
    filter_args(parser)
    add_connection_args(parser)
    parser.set_defaults(func=lambda args: run(args, _traces))


def _traces(args: argparse.Namespace) -> int:
    if args.trace_id:
        trace = call(args, "GET", f"/api/v1/traces/{args.trace_id}")
        print(json.dumps(rounded(trace), indent=2) if args.json else "\n".join(_tree(trace, args.content)))
        return 0
    query = {
        "q": args.q,
        "since": args.since,
        "until": args.until,
        "status": args.status,
        "user_id": args.user_id,
        "session_id": args.session_id,
        "limit": args.limit,
        "cursor": args.cursor,
        **filters(args),
    }
    page = call(args, "GET", "/api/v1/traces", query=query)
    if args.json:
        print(json.dumps(rounded(page), indent=2))
        return 0
    if not page["data"]:
        print("no traces match")
        return 0
    rows = [
        [
            t["start_time"][:19].replace("T", " "),
            t["trace_id"],
            t["root_name"],
            t["model"] or "-",
            round(t["duration_ms"]),
            t["llm_calls"],
            f"{t['input_tokens']}/{t['output_tokens']}",
            t["cost_usd"],
            t["status"],
            t["user_id"] or "-",
        ]
        for t in page["data"]
    ]
    header = [
        "start (UTC)",
        "trace",
        "name",
        "model",
        "ms",
        "calls",
        "tokens in/out",
        "cost $",
        "status",
        "user",
    ]
    print(table(rows, header))
    if page.get("next_cursor"):
        print(f"\nmore: --cursor {page['next_cursor']}")
    return 0


def _trace_id(text: str) -> str:
    """argparse ``type=``: a trace id is 32 hex digits (the URL is built from it)."""
    if not re.fullmatch(r"[0-9a-fA-F]{32}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a trace id (32 hex digits)")
    return text.lower()


def _tree(trace: dict[str, Any], content: bool) -> list[str]:
    lines = [f"trace {trace['trace_id']}: {trace['span_count']} spans"]
    for root in trace["spans"]:
        _span_lines(root, "", "", lines, content)
    return lines


def _span_lines(span: dict[str, Any], lead: str, child_lead: str, lines: list[str], content: bool) -> None:
    facts = [span["kind"], f"{span['duration_ms']:.0f} ms", span["status"]]
    error = ": ".join(said for said in (span["error_type"], span["error_message"]) if said)
    if span["status"] == "error" and error:
        facts.append(error)
    if span["model"]:
        facts.append(span["model"])
    if span["input_tokens"] or span["output_tokens"]:
        facts.append(f"{span['input_tokens']}->{span['output_tokens']} tokens")
    if span["cost_usd"] is not None:
        facts.append(f"${fmt(span['cost_usd'])}")
    if span["ttft_ms"] is not None:
        facts.append(f"ttft {span['ttft_ms']:.0f} ms")
    for score in span.get("scores", []):
        label = f" {score['label']}" if score["label"] else ""
        facts.append(f"score {score['name']}={fmt(score['value'])}{label}")
    lines.append(f"{lead}{span['name']}  [{', '.join(facts)}]")
    if content:
        for what in ("input", "output"):
            for said in _readable(span.get(what) or ""):
                cut = said if len(said) <= CONTENT_CHARS else said[:CONTENT_CHARS] + "…"
                lines.append(f"{child_lead}  {what}: {cut}")
    children = span.get("children", [])
    for i, child in enumerate(children):
        last = i == len(children) - 1
        _span_lines(
            child,
            child_lead + ("└─ " if last else "├─ "),
            child_lead + ("   " if last else "│  "),
            lines,
            content,
        )


def _readable(raw: str) -> list[str]:
    """A span's input or output as lines: one ``role: text`` per message of GenAI messages JSON
    (text parts, tool calls and their results, reasoning), else the text on one line."""
    try:
        messages = json.loads(raw)
    except ValueError:
        messages = None
    if not (
        isinstance(messages, list) and messages and all(isinstance(m, dict) and "role" in m for m in messages)
    ):
        text = " ".join(raw.split())
        return [text] if text else []
    return [
        f"{m['role']}: " + " ".join(_part(p) for p in m.get("parts") or () if isinstance(p, dict))
        for m in messages
    ]


def _part(part: dict[str, Any]) -> str:
    kind = part.get("type")
    if kind == "text":
        return " ".join(str(part.get("content", "")).split())
    if kind == "tool_call":
        return f"{part.get('name')}({json.dumps(part.get('arguments'), ensure_ascii=False)})"
    if kind == "tool_call_response":
        return f"-> {json.dumps(part.get('response'), ensure_ascii=False)}"
    if kind == "reasoning":
        return f"(reasoning) {' '.join(str(part.get('content', '')).split())}"
    return f"({kind})"
