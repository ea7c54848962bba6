"""Sessions (spans sharing ``session.id``): the newest-first list, and one session's traces.

Which sessions are on a page comes from ``trace_summaries`` (newest activity first, see
:mod:`._summaries`); their totals over the whole session from ``session_summaries``, one
primary-key lookup per page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from llmtrace.store.queries._summaries import SESSION_ORDER, id_totals, newest_with_totals
from llmtrace.store.queries.spans import SpanQuery, utc
from llmtrace.store.queries.traces import traces_at

MAX_SESSION_TRACES = 10_000

SESSION_FIELDS: tuple[str, ...] = (
    "session_id",
    "user_id",
    "first_seen",
    "last_seen",
    "duration_ms",
    "traces",
    "spans",
    "llm_calls",
    "errors",
    "input_tokens",
    "output_tokens",
    "cost_usd",
)


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Position of a session in newest-first order (by last activity)."""

    last_seen: datetime
    session_id: str


def list_sessions(
    store: Any, project: str, query: SpanQuery, *, after: SessionKey | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Up to ``limit`` sessions of ``project``, most recently active first (see SESSION_FIELDS).

    Filters keep the sessions with a matching span in the period read; ``since``/``until`` bound
    the last activity. Totals cover the whole session. Raises ValueError for an unknown filter.
    """
    cursor = (after.last_seen, after.session_id) if after else None
    return newest_with_totals(store, project, query, SESSION_ORDER, session_totals, after=cursor, limit=limit)


def session_totals(store: Any, project: str, session_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``{session_id: row}`` over the whole life of each session."""
    leading = {
        "user_id": "max(user)",
        "first_seen": "min(first_seen)",
        "last_seen": "max(last_seen)",
        "traces": "uniqMerge(traces)",
    }
    out = {}
    for session_id, item in id_totals(
        store, project, "session_summaries", "session_id", leading, session_ids
    ).items():
        item["duration_ms"] = (item["last_seen"] - item["first_seen"]).total_seconds() * 1000
        out[session_id] = {name: item[name] for name in SESSION_FIELDS}
    return out


def get_session(store: Any, project: str, session_id: str) -> dict[str, Any] | None:
    """One session's totals, or None if ``project`` has no span with this ``session.id``."""
    return session_totals(store, project, [session_id]).get(session_id)


# Hours around a session-tagged span in which its trace's other spans are looked for.
TRACE_HOURS_AROUND = 1


def session_traces(
    store: Any, project: str, session_id: str, *, limit: int = MAX_SESSION_TRACES
) -> list[dict[str, Any]]:
    """The session's traces, oldest first, as :func:`~.traces.list_traces` rows (at most ``limit``).

    The session's spans come from ``spans_by_id`` (its bloom filter on session_id: a granule or two
    of its user's rows), and each trace's totals from
    its ``trace_summaries`` rows of the hours of those spans, widened by
    :data:`TRACE_HOURS_AROUND` on each side: a primary-key lookup, not a scan of the project.
    Spans of the trace that carry no session id and start further away are not counted.
    """
    sql = """
        SELECT trace_id, groupUniqArray(toStartOfHour(start_time)) FROM {db:Identifier}.spans_by_id
         WHERE project = {project:String} AND session_id = {session:String}
         GROUP BY trace_id ORDER BY min(start_time), trace_id LIMIT {limit:UInt32}"""
    params = {"db": store.database, "project": project, "session": session_id, "limit": limit}
    found = store.client.query(sql, parameters=params).result_rows
    around = [timedelta(hours=h) for h in range(-TRACE_HOURS_AROUND, TRACE_HOURS_AROUND + 1)]
    at = [(utc(hour) + d, trace_id) for trace_id, hours in found for hour in hours for d in around]
    return traces_at(store, project, at)
