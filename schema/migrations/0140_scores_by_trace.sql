-- `scores_by_trace`: the scores again, sorted by trace (`trace_key`, cityHash64(trace_id)) in
-- small granules, so that attributing the scores of a block's scored traces
-- (`llmtrace.store.attribution`, after each span block the shared writer inserts) reads those
-- traces' scores by primary key. It read them from `scores FINAL WHERE trace_id IN ids`, whose
-- sort key is (project, name, trace_id, ...) in 8,192-row granules: a few hundred scattered
-- traces touched every granule, so the step scanned the project's whole score history (352 ms
-- of CPU per 32k-span block at 2.5M scores, 79 at 25k), and one project with a long history
-- slowed every project's ingest. Here a block's K scored traces read at most K granules of 256
-- rows per part (131 ms at 2.5M; docs/scaling.md, "Migration 0140").
--
-- Same rows and same replacing rule as `scores` (ReplacingMergeTree on `timestamp`, the same key
-- columns: `trace_key` is a function of `trace_id`), so a re-score replaces the value it follows;
-- attribution takes each score's latest row with argMax (FINAL over the ~1,500 key ranges of a
-- block, in more than one part, cost 4x the read). Written by `scores_by_trace_mv` in the
-- score's own insert, so a span writer that reads after the score's insert sees it. Only the
-- columns attribution reads (not `comment`). No TTL and no partitions by month: `scores` has no
-- TTL either, and a re-score in a later month meets the row it replaces in a merge.
--
-- Backfilled here from `scores`. The view comes first, so a score written during the backfill
-- is not missed (at worst written twice: the same row, which argMax and merges fold). Safe to
-- re-run after an interruption: the view and the table are dropped first.
DROP VIEW IF EXISTS {{database}}.scores_by_trace_mv {{on_cluster}};
DROP TABLE IF EXISTS {{database}}.scores_by_trace {{on_cluster}} SYNC;

CREATE TABLE IF NOT EXISTS {{database}}.scores_by_trace {{on_cluster}}
(
    project     LowCardinality(String),
    trace_key   UInt64,
    name        LowCardinality(String),
    trace_id    String CODEC(ZSTD(1)),
    span_id     String CODEC(ZSTD(1)),
    source      LowCardinality(String),
    value       Float64,
    label       String,
    timestamp   DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(timestamp)
ORDER BY (project, trace_key, name, trace_id, span_id, source)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.scores_by_trace_mv {{on_cluster}} TO {{database}}.scores_by_trace AS
SELECT project, cityHash64(trace_id) AS trace_key, name, trace_id, span_id, source, value, label, timestamp
FROM {{database}}.scores;

INSERT INTO {{database}}.scores_by_trace (project, trace_key, name, trace_id, span_id, source, value, label, timestamp)
SELECT project, cityHash64(trace_id), name, trace_id, span_id, source, value, label, timestamp
  FROM {{database}}.scores
SETTINGS distributed_foreground_insert = 1;
