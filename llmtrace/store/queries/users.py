"""Users (spans sharing ``user.id``): the newest-first list with each user's whole-life totals.

Which users are on a page comes from ``trace_summaries`` (most recently active first, see
:mod:`._summaries`); their totals from ``user_summaries``, one primary-key lookup per page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llmtrace.store.queries._summaries import USER_ORDER, id_totals, newest_with_totals
from llmtrace.store.queries.spans import SpanQuery

USER_FIELDS: tuple[str, ...] = (
    "user_id",
    "first_seen",
    "last_seen",
    "sessions",
    "traces",
    "spans",
    "llm_calls",
    "errors",
    "input_tokens",
    "output_tokens",
    "cost_usd",
)


@dataclass(frozen=True, slots=True)
class UserKey:
    """Position of a user in newest-first order (by last activity)."""

    last_seen: datetime
    user_id: str


def list_users(
    store: Any, project: str, query: SpanQuery, *, after: UserKey | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Up to ``limit`` users of ``project``, most recently active first (see USER_FIELDS).

    Filters keep the users with a matching span in the period read; ``since``/``until`` bound the
    last activity. Totals cover the user's whole history. Raises ValueError for an unknown filter.
    """
    cursor = (after.last_seen, after.user_id) if after else None
    return newest_with_totals(store, project, query, USER_ORDER, user_totals, after=cursor, limit=limit)


def user_totals(store: Any, project: str, user_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``{user_id: row}`` over each user's whole history (sessions and traces are distinct counts)."""
    leading = {
        "first_seen": "min(first_seen)",
        "last_seen": "max(last_seen)",
        "sessions": "uniqMerge(sessions)",
        "traces": "uniqMerge(traces)",
    }
    found = id_totals(store, project, "user_summaries", "user_id", leading, user_ids)
    return {user_id: {name: item[name] for name in USER_FIELDS} for user_id, item in found.items()}
