"""Which LLM call each score counts for, decided when scores or calls are written (``scored_calls``).

The rule (docs/analytics.md, "Which call a score counts for"): a score on an LLM call counts for
that call; a score on the whole trace or on a span that is not an LLM call counts for the
trace's last LLM call that names a prompt, else its last LLM call. Reading it from every score
and every call of a time window cost 620-810 ms of CPU per analytics read at 10M spans, so
migration 0110 keeps the answer per score in ``scored_calls`` and this module keeps it current:

* :func:`scores_written` after scores are inserted (a new score, or a re-score);
* :func:`calls_written` after spans are inserted: the scores of the traces with LLM calls among
  them are attributed again (a score sent before its spans, or a later call that becomes the
  trace's last one).

Each write reads the store *after* its own insert, so of two writers racing (one inserting a
score, the other its trace's calls) at least one sees both, and its row wins: a row's version is
(score timestamp, number of the trace's calls seen). A trace's calls are looked for within
:data:`~llmtrace.store.queries._segment.TRACE_REACH` of the calls just written, enough for any
trace shorter than a day.

Which of a block's traces have scores is found from what the block's time needs, not from the
project's whole score history (migration 0130): the traces whose scores wait for a call
(``scores_pending``) and those already scored within a day of the block (``scored_calls``). Their
scores are then read by trace key from ``scores_by_trace`` (migration 0140), not from ``scores``,
which is sorted by score name first: a block's few hundred scored traces read a granule each
instead of every granule of the project's score history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from llmtrace.store.queries._segment import ATTRIBUTED_COLUMNS, SCORED_CALL_ORDER, TRACE_REACH

LLM_KINDS = frozenset({"llm", "embedding"})
# The calls a block's scored traces can have: within a trace's reach of the block's minutes.
NEAR_BLOCK = (
    f" AND start_time >= {{lo:DateTime64(6, 'UTC')}} - {TRACE_REACH}"
    f" AND start_time < {{hi:DateTime64(6, 'UTC')}} + {TRACE_REACH}"
)
_IDS_PER_QUERY = 4096  # ~150 KB of trace ids per query (as spans.stored_span_keys chunks span ids)


def attribution_sql(traces: str, calls_where: str = "", *, by_trace: bool = False) -> str:
    """``INSERT INTO scored_calls`` the current attribution of the scores of the traces ``traces``
    (an SQL condition on ``trace_id``, e.g. ``trace_id IN {ids:Array(String)}``).

    ``calls_where`` narrows the calls read (e.g. a time range around them). Each score's latest
    value is read, so a re-score replaces the value it follows: from ``scores`` with ``FINAL``,
    or, ``by_trace``, from migration 0140's ``scores_by_trace``, where the traces' keys computed
    from the bound ``ids`` select a granule of 256 rows per trace and part. Reading ``scores``,
    sorted by score name first, a block's few hundred traces touched every granule of the
    project's score history. There ``argMax`` over the few rows read replaces ``FINAL``, whose
    merge of the ~1,500 key ranges cost 4x the read (two writes of one score with the same
    timestamp: either value may count, as either row may be the one ``FINAL`` keeps). The
    ``traces`` condition is left to the calls: ``scored_calls`` gets a score only through the
    join on its trace id with calls of ``traces``, and on ``scores_by_trace``'s sort key it cost
    a 795-id block 70 ms of index analysis.
    """
    scores = (
        """SELECT project, name, trace_id, span_id, source, latest.1 AS value, latest.2 AS label,
                  latest.3 AS timestamp
             FROM (SELECT project, name, trace_id, span_id, source,
                          argMax((value, label, timestamp), timestamp) AS latest
                     FROM {db:Identifier}.scores_by_trace
                    WHERE project = {project:String}
                      AND trace_key IN (SELECT cityHash64(arrayJoin({ids:Array(String)})))
                    GROUP BY project, name, trace_id, span_id, source)"""
        if by_trace
        else f"""SELECT project, name, trace_id, span_id, source, value, label, timestamp
                   FROM {{db:Identifier}}.scores FINAL WHERE project = {{project:String}} AND {traces}"""
    )
    arrays = ", ".join(f"groupArray({c}) AS c_{c}" for c in ATTRIBUTED_COLUMNS)
    calls = f"""(SELECT trace_id AS c_trace_id, count() AS n, groupArray(span_id) AS call_ids,
                        {arrays}, argMax(span_id, {SCORED_CALL_ORDER}) AS last_id
                   FROM {{db:Identifier}}.llm_calls
                  WHERE project = {{project:String}} AND {traces} {calls_where}
                  GROUP BY trace_id) AS tr"""
    # By trace, the calls are the join's left side: ClickHouse builds a runtime filter from the
    # right side and applies it to the left's read, and on the scores' granules (525k rows for
    # 795 traces at 2.5M scores) that read every trace id the key had skipped: 129 -> 66 ms.
    first, second = (calls, f"({scores}) AS sc") if by_trace else (f"({scores}) AS sc", calls)
    picked = ", ".join(f"c_{c}[i]" for c in ATTRIBUTED_COLUMNS[1:])
    # One row in the hour of the chosen call, and a deleted one (same version) in every other
    # hour of the trace's calls: an earlier attribution of the score, to a call that is no
    # longer the one, lies in one of them, and FINAL drops it (the hour is in the sort key).
    return f"""
    INSERT INTO {{db:Identifier}}.scored_calls (project, name, trace_id, span_id, source, value, label,
                                              version, is_deleted, {", ".join(ATTRIBUTED_COLUMNS)})
    SELECT project, name, trace_id, span_id, source, value, label,
           bitShiftLeft(toUInt128(toUnixTimestamp64Micro(timestamp)), 32) + n,
           (arrayJoin(arrayDistinct(arrayMap(t -> toStartOfHour(t), c_start_time))) AS hour)
               != toStartOfHour(c_start_time[i]),
           if(hour = toStartOfHour(c_start_time[i]), c_start_time[i], toDateTime64(hour, 6, 'UTC')), {picked}
      FROM (SELECT sc.*, tr.*,
                   if(indexOf(tr.call_ids, sc.span_id) > 0, indexOf(tr.call_ids, sc.span_id),
                      indexOf(tr.call_ids, tr.last_id)) AS i
              FROM {first} INNER JOIN {second} ON sc.trace_id = tr.c_trace_id)
    SETTINGS max_partitions_per_insert_block = 0
    """


def scores_written(store: Any, scores: Sequence[Mapping[str, Any]]) -> None:
    """Attribute the scores of the traces just scored (any of their calls, however old)."""
    if not scores or not _migrated(store):
        return
    for project, ids in _by_project((s["project"], s["trace_id"]) for s in scores).items():
        _attribute(store, project, sorted(ids), "")


def calls_written(store: Any, calls: Iterable[tuple[str, datetime]]) -> None:
    """After LLM calls, (project, start_time), were inserted: attribute again the scores of their
    traces that have any."""
    minutes: dict[str, set[datetime]] = {}
    for project, start in calls:
        minutes.setdefault(project, set()).add(start.replace(second=0, microsecond=0))
    if not minutes or not _migrated(store):
        return
    find = _scored_traces if _has_table(store, "scores_pending") else _scored_traces_of_all_scores
    for project, stamps in minutes.items():
        scored = find(store, project, sorted(stamps))
        if not scored:
            continue
        _attribute(store, project, scored, NEAR_BLOCK, lo=min(stamps), hi=max(stamps) + timedelta(minutes=1))


def calls_in_table(table: Any) -> list[tuple[str, datetime]]:
    """(project, minute) of the LLM calls in a ``pyarrow.Table`` of spans, each pair once:
    :func:`calls_written` needs only the minutes, and a Python object per call of a 16k-call
    block cost more than the distinct pairs computed in Arrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    llm = table.filter(pc.is_in(table["kind"], value_set=_arrow_kinds()))
    if not llm.num_rows:
        return []
    minutes = (
        pa.table({"project": llm["project"], "minute": pc.floor_temporal(llm["start_time"], unit="minute")})
        .group_by(["project", "minute"])
        .aggregate([])
    )
    return list(zip(minutes["project"].to_pylist(), minutes["minute"].to_pylist(), strict=True))


def calls_in_rows(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, datetime]]:
    """(project, start_time) of the LLM calls among ``spans`` rows."""
    return [(r["project"], r["start_time"]) for r in rows if r["kind"] in LLM_KINDS]


def _arrow_kinds() -> Any:
    import pyarrow as pa

    return pa.array(sorted(LLM_KINDS))


def _scored_traces(store: Any, project: str, minutes: list[datetime]) -> list[str]:
    """The scored traces among those with LLM calls in ``minutes``: those of the calls just
    written, and perhaps a few more (harmless: attributed again, to the same calls).

    A trace of the block has scores that its calls may change only if one of them waits for a
    call (``scores_pending``: written before any of the trace's calls), or if they count for a
    call of the trace already (``scored_calls``, in the hours within a day of the block's: a
    trace is shorter than a day). Both are read by their sort keys, so the cost follows the
    block's time, not the project's score history (:func:`_scored_traces_of_all_scores`).
    Every row of ``scored_calls`` there counts, deleted ones too (no FINAL): a superset, cheaper.

    The block's traces come from ``llm_calls`` by the minutes' hours (its sort key) rather than
    from a list of the block's trace ids: at 10M spans, 25 instead of 285 ms of CPU for a
    16k-call block, most of which went to formatting the ids into the query and probing the
    bloom filter with each. GLOBAL: on a cluster, the calls of every shard are matched against
    the scored traces of each.
    """
    hours = sorted({m.replace(minute=0) for m in minutes})
    rows = store.client.query(
        f"""SELECT DISTINCT trace_id FROM {{db:Identifier}}.llm_calls
            WHERE project = {{project:String}} AND toStartOfHour(start_time) IN {{hours:Array(DateTime('UTC'))}}
              AND toStartOfMinute(start_time) IN {{minutes:Array(DateTime('UTC'))}}
              AND trace_key GLOBAL IN
                  (SELECT trace_key FROM {{db:Identifier}}.scores_pending FINAL WHERE project = {{project:String}}
                   UNION ALL
                   SELECT cityHash64(trace_id) FROM {{db:Identifier}}.scored_calls
                    WHERE project = {{project:String}}
                      AND toStartOfHour(start_time) >= {{first:DateTime('UTC')}} - {TRACE_REACH}
                      AND toStartOfHour(start_time) <= {{last:DateTime('UTC')}} + {TRACE_REACH})""",
        parameters={
            "db": store.database,
            "project": project,
            "hours": hours,
            "minutes": minutes,
            "first": hours[0],
            "last": hours[-1],
        },
    ).result_rows
    return [r[0] for r in rows]


def _scored_traces_of_all_scores(store: Any, project: str, minutes: list[datetime]) -> list[str]:
    """:func:`_scored_traces` on a store without migration 0130: reads the trace of every score
    of the project, so its cost grows with the project's score history."""
    rows = store.client.query(
        """SELECT DISTINCT trace_id FROM {db:Identifier}.scores
            WHERE project = {project:String}
              AND cityHash64(trace_id) GLOBAL IN
                  (SELECT trace_key FROM {db:Identifier}.llm_calls
                    WHERE project = {project:String} AND toStartOfHour(start_time) IN {hours:Array(DateTime('UTC'))}
                      AND toStartOfMinute(start_time) IN {minutes:Array(DateTime('UTC'))})
           SETTINGS use_skip_indexes = 0""",
        parameters={
            "db": store.database,
            "project": project,
            "hours": sorted({m.replace(minute=0) for m in minutes}),
            "minutes": minutes,
        },
    ).result_rows
    return [r[0] for r in rows]


def rebuild(store: Any, project: str) -> None:
    """Attribute every score of ``project`` (what migration 0110 does once): for stores filled
    with SQL rather than through :class:`~llmtrace.store.Store`, such as the benchmarks'."""
    scored = (  # GLOBAL: on a cluster, the scored traces of every shard
        "trace_key GLOBAL IN (SELECT cityHash64(trace_id) FROM {db:Identifier}.scores"
        " WHERE project = {project:String})"
    )
    store.client.command(
        attribution_sql("1 = 1", f"AND {scored}"), parameters={"db": store.database, "project": project}
    )


def _migrated(store: Any) -> bool:
    """Whether the store has ``scored_calls``: a store written before migration 0110 gets its
    scores attributed by that migration's backfill instead."""
    return _has_table(store, "scored_calls")


def _has_table(store: Any, name: str) -> bool:
    """Whether the store has the table ``name`` of migration 0110, 0130 or 0140. Asked until it is
    there, then remembered on the store (a table is never dropped again): this runs after every
    block the writer inserts."""
    if name not in store.attribution_tables:
        found = store.client.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {name:String}",
            parameters={"db": store.database, "name": name},
        ).result_rows[0][0]
        if found:
            store.attribution_tables.add(name)
    return name in store.attribution_tables


def _attribute(store: Any, project: str, ids: list[str], calls_where: str, **bound: Any) -> None:
    by_trace = _has_table(store, "scores_by_trace")
    sql = attribution_sql("trace_id IN {ids:Array(String)}", calls_where, by_trace=by_trace)
    for first in range(0, len(ids), _IDS_PER_QUERY):
        params = {"db": store.database, "project": project, "ids": ids[first : first + _IDS_PER_QUERY]}
        store.client.command(sql, parameters={**params, **bound})


def _by_project(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for project, trace_id in pairs:
        out.setdefault(project, set()).add(trace_id)
    return out
