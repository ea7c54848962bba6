-- `scores_pending`: the traces with a score that no LLM call has been found for yet, so that the
-- writer's check after each span block ("which of these traces have scores?",
-- `llmtrace.store.attribution`) no longer reads every score of the project: its cost grew with the
-- project's score history (41 ms per 16k-call block at 250k scores), and the writer is shared by
-- every project. A block's scored traces are those found here (a score written before its
-- trace's calls) and those in `scored_calls` (0110) within a day of the block's calls (a trace
-- already scored whose later call arrives): both are about the block's time, not the history.
--
-- A row per trace key: a score written adds it (`scores_pending_mv`, in the same insert, so a
-- span writer that reads after the score's insert sees it), and the score's attribution to a
-- call removes it (`scores_attributed_mv` writes a deleted row, `is_deleted`, with a later
-- version, whenever `scored_calls` is written). Read with FINAL. Deleted rows are dropped a day
-- after they were written (the TTL), once merges have folded them into the rows they delete; a
-- row they did not meet in time comes back as pending, which costs one more attribution of a
-- trace that has calls, never a missed one. No span TTL: scores are kept as long as `scores`
-- keeps them.
--
-- Backfilled here with the scores that `scored_calls` has no row for. The views come first, so a
-- score written during the backfill is not missed (at worst counted pending twice, one row).
-- Safe to re-run after an interruption: the views and the table are dropped first.
DROP VIEW IF EXISTS {{database}}.scores_pending_mv {{on_cluster}};
DROP VIEW IF EXISTS {{database}}.scores_attributed_mv {{on_cluster}};
DROP TABLE IF EXISTS {{database}}.scores_pending {{on_cluster}} SYNC;

CREATE TABLE IF NOT EXISTS {{database}}.scores_pending {{on_cluster}}
(
    project     LowCardinality(String),
    trace_key   UInt64,
    version     DateTime64(6, 'UTC'),
    is_deleted  UInt8
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (project, trace_key)
TTL toDateTime(version) + INTERVAL 1 DAY DELETE WHERE is_deleted = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.scores_pending_mv {{on_cluster}} TO {{database}}.scores_pending AS
SELECT project, cityHash64(trace_id) AS trace_key, now64(6, 'UTC') AS version, toUInt8(0) AS is_deleted
FROM {{database}}.scores;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.scores_attributed_mv {{on_cluster}} TO {{database}}.scores_pending AS
SELECT project, cityHash64(trace_id) AS trace_key, now64(6, 'UTC') AS version, toUInt8(1) AS is_deleted
FROM {{database}}.scored_calls;

INSERT INTO {{database}}.scores_pending (project, trace_key, version, is_deleted)
SELECT DISTINCT project, cityHash64(trace_id), now64(6, 'UTC'), toUInt8(0)
  FROM {{database}}.scores
 WHERE (project, cityHash64(trace_id)) GLOBAL NOT IN (SELECT project, cityHash64(trace_id) FROM {{database}}.scored_calls)
SETTINGS distributed_foreground_insert = 1;
