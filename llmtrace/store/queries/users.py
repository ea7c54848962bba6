"""Users (spans sharing ``user.id``): the newest-first list with each user's whole-life totals.

Which users are on a page comes from ``trace_summaries`` (most recently active first, see
:mod:`._summaries`); their totals from ``user_summaries``, one primary-key lookup per page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llmtrace.store.queries._summaries import USER_ORDER, as_utc, newest_groups
from llmtrace.store.queries.spans import MAX_LIMIT, SpanQuery

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
    keys = newest_groups(
        store,
        project,
        query,
        USER_ORDER,
        after=(after.last_seen, after.user_id) if after else None,
        limit=max(1, min(limit, MAX_LIMIT + 1)),
    )
    totals = user_totals(store, project, [k[0] for k in keys])
    return [totals[k[0]] for k in keys if k[0] in totals]


def user_totals(store: Any, project: str, user_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``{user_id: row}`` over each user's whole history (sessions and traces are distinct counts)."""
    if not user_ids:
        return {}
    sql = """
        SELECT user_id, min(first_seen), max(last_seen), uniqMerge(sessions), uniqMerge(traces), sum(spans),
               sum(llm_calls), sum(errors), sum(in_tokens), sum(out_tokens), sum(cost)
          FROM {db:Identifier}.user_summaries
         WHERE project = {project:String} AND user_id IN {ids:Array(String)}
         GROUP BY user_id"""
    params = {"db": store.database, "project": project, "ids": user_ids}
    out = {}
    for row in store.client.query(sql, parameters=params).result_rows:
        item = dict(zip(USER_FIELDS, row, strict=True))
        item.update(
            first_seen=as_utc(item["first_seen"]),
            last_seen=as_utc(item["last_seen"]),
            cost_usd=float(item["cost_usd"]),
        )
        out[item["user_id"]] = item
    return out
