"""Rewrite single-node DDL for a ClickHouse cluster (``llmtrace migrate --cluster NAME``).

For every table ``t`` the single-node DDL creates, a cluster gets:

* ``t_local`` on every node, ``ON CLUSTER``, with the engine made replicated:
  ``ReplicatedXMergeTree('/clickhouse/tables/{shard}/{database}/t', '{replica}', <original args>)``
  (``{shard}``, ``{replica}`` and ``{database}`` are server macros, filled in by each node);
* ``t`` as a ``Distributed`` table over ``t_local``: the name every query and insert uses, so the
  query modules run unchanged. Spans and scores are sharded by trace id (a trace stays on one
  shard, and a re-score meets the score it replaces); other tables by their sorting key.

A table rebuilt by a migration (0060: ``spans`` in a new order) is swapped on every node:
``EXCHANGE TABLES`` and ``DROP TABLE`` of a sharded table act on its ``_local`` tables (and a
drop on its ``Distributed`` front too); the fronts keep reading their ``_local`` name.

Materialized views are created on every node, read the *local* source table and write the
*local* rollup, so each shard aggregates its own spans and a ``Distributed`` read merges the
partial ``-State`` values. Small control tables (:data:`UNSHARDED_TABLES`: the migrations ledger
and the alert rules, state, events and lease) are not sharded but replicated whole to every node
under one Keeper path, so any replica reads them locally and sees the others' writes.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet

from llmtrace.store.errors import StoreError

_CLUSTER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
UNSHARDED_TABLES = frozenset(
    {"schema_migrations", "alert_rules", "alert_state", "alert_events", "alert_lease"}
)
_SHARDING_KEYS = {
    "spans": "cityHash64(trace_id)",
    "scores": "cityHash64(trace_id)",
    "trace_summaries": "cityHash64(trace_id)",
    "span_content": "cityHash64(trace_id)",  # beside the span it belongs to
    "spans_rebuild": "cityHash64(trace_id)",  # 0060's copy of spans, in a new order
    "spans_by_id": "cityHash64(trace_id)",  # 0090: written beside the span it points to
    "trace_summaries_rebuild": "cityHash64(trace_id)",  # 0091's copy of trace_summaries
    # 0100's narrow copy of the LLM calls: a trace's calls and its scores meet on one shard.
    "llm_calls": "cityHash64(trace_id)",
    # 0110's scores with their calls: written beside the scores and calls they are made from.
    "scored_calls": "cityHash64(trace_id)",
    # 0130's pending scored traces: `trace_key` is cityHash64(trace_id), so the same shard again.
    "scores_pending": "trace_key",
    # 0140's scores sorted by trace: `trace_key` again, beside the scores they copy.
    "scores_by_trace": "trace_key",
}
_CREATE_TABLE = re.compile(r"^CREATE TABLE (IF NOT EXISTS )?(\w+)\.(\w+)", re.IGNORECASE)
_CREATE_MV = re.compile(r"^CREATE MATERIALIZED VIEW ", re.IGNORECASE)
_ALTER_TABLE = re.compile(r"^ALTER TABLE (\w+)\.(\w+)", re.IGNORECASE)
_EXCHANGE_TABLES = re.compile(r"^EXCHANGE TABLES (\w+)\.(\w+) AND (\w+)\.(\w+)", re.IGNORECASE)
_DROP_TABLE = re.compile(r"^DROP TABLE (?:IF EXISTS )?(\w+)\.(\w+)", re.IGNORECASE)
_ENGINE = re.compile(r"ENGINE\s*=\s*(\w*)MergeTree\s*(?:\(([^)]*)\))?")
_ORDER_BY = re.compile(r"^ORDER BY (.+)$", re.MULTILINE)


def check_cluster_name(name: str) -> str:
    if not _CLUSTER_NAME.match(name):
        raise StoreError(f"invalid cluster name {name!r}: use letters, digits and underscores")
    return name


def on_cluster(cluster: str | None) -> str:
    """The ``ON CLUSTER name`` clause, or an empty string on a single node."""
    return f"ON CLUSTER {check_cluster_name(cluster)}" if cluster else ""


def rewrite(
    statements: list[str],
    *,
    database: str,
    cluster: str,
    unsharded: AbstractSet[str],
    known: AbstractSet[str] = frozenset(),
) -> list[str]:
    """Turn rendered single-node statements (already carrying ``ON CLUSTER``) into cluster DDL.

    ``known`` names the MergeTree tables created by *other* migrations, so a later ``ALTER TABLE``
    or view on them is pointed at their ``_local`` table too.
    """
    check_cluster_name(cluster)
    sharded = (_sharded_tables(statements, database, unsharded) | set(known)) - unsharded
    out: list[str] = []
    for statement in statements:
        create = _CREATE_TABLE.match(statement)
        alter = _ALTER_TABLE.match(statement)
        if create and create.group(2) == database and create.group(3) in sharded:
            out.extend(_sharded_table(statement, database, cluster, create.group(3)))
        elif create and create.group(2) == database and create.group(3) in unsharded:
            out.append(_replicated(statement, f"/clickhouse/tables/{{database}}/{create.group(3)}"))
        elif _CREATE_MV.match(statement):
            out.append(_to_local(statement, database, sharded))
        elif alter and alter.group(1) == database and alter.group(2) in sharded:
            # Columns and settings change on both the local table and its Distributed front.
            local = _to_local(statement, database, {alter.group(2)})
            out.extend([local, statement] if " COLUMN " in statement.upper() else [local])
        elif (exchange := _EXCHANGE_TABLES.match(statement)) and {
            exchange.group(2),
            exchange.group(4),
        } <= sharded:
            # The data changes places; each Distributed front keeps reading its `_local` name.
            out.append(_to_local(statement, database, {exchange.group(2), exchange.group(4)}))
        elif (
            (drop := _DROP_TABLE.match(statement)) and drop.group(1) == database and drop.group(2) in sharded
        ):
            out.extend([statement, _to_local(statement, database, {drop.group(2)})])
        else:
            out.append(statement)
    return out


def _sharded_tables(statements: list[str], database: str, unsharded: AbstractSet[str]) -> set[str]:
    names = set()
    for statement in statements:
        create = _CREATE_TABLE.match(statement)
        if (
            create
            and create.group(2) == database
            and _ENGINE.search(statement)
            and create.group(3) not in unsharded
        ):
            names.add(create.group(3))
    return names


def _sharded_table(statement: str, database: str, cluster: str, table: str) -> list[str]:
    local_stmt = re.sub(rf"\b{database}\.{table}\b", f"{database}.{table}_local", statement, count=1)
    local_stmt = _replicated(local_stmt, f"/clickhouse/tables/{{shard}}/{{database}}/{table}")
    order = _ORDER_BY.search(statement)
    key = _SHARDING_KEYS.get(table) or (f"sipHash64({order.group(1).strip()})" if order else "rand()")
    if_not_exists = "IF NOT EXISTS " if "IF NOT EXISTS" in statement.upper() else ""
    distributed = (
        f"CREATE TABLE {if_not_exists}{database}.{table} ON CLUSTER {cluster} AS {database}.{table}_local\n"
        f"ENGINE = Distributed('{cluster}', '{database}', '{table}_local', {key})"
    )
    return [local_stmt, distributed]


def _replicated(statement: str, zk_path: str) -> str:
    def engine(match: re.Match[str]) -> str:
        args = (match.group(2) or "").strip()
        extra = f", {args}" if args else ""
        return f"ENGINE = Replicated{match.group(1)}MergeTree('{zk_path}', '{{replica}}'{extra})"

    return _ENGINE.sub(engine, statement, count=1)


def _to_local(statement: str, database: str, tables: AbstractSet[str]) -> str:
    for table in sorted(tables, key=len, reverse=True):
        statement = re.sub(rf"\b{database}\.{table}\b", f"{database}.{table}_local", statement)
    return statement
