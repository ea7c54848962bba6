-- `spans_by_id` with one row per span instead of one per owner (0090 wrote a row for the user and
-- another for the session of nearly every span). Each row of that table is written at insert and
-- rewritten at each merge, and the second one cost ~4 µs per span of the store's ~60
-- (docs/scaling.md "One row per span in spans_by_id").
--
-- The row is sorted by (project, user_id, start, trace, span), so a user's spans are still one
-- short key range, newest first at its end (read in order). A session's spans are found by the
-- bloom filter on session_id: a session is one user's, so its spans sit in a granule or two of
-- that user's range (sessions without a user: in the time-sorted range of user_id '', close in
-- time). A user and a session together: the user's range, filtered. Rows of spans that carry
-- neither id are not written.
--
-- The filter columns of the span list and each span's location in `spans` (its sorting key) are
-- kept as in 0090 (see queries/spans.py); `owner` and `owner_id` are gone.
--
-- Rebuilt from `spans`: the old table is dropped and the new one filled before its view is
-- created, so a run cut short is simply run again (it drops and fills the table again). Stop
-- ingest while it runs (the server migrates before it accepts spans): spans written between the
-- copy and the view's creation would be missing here. It reads `spans`' narrow columns only.
DROP VIEW IF EXISTS {{database}}.spans_by_id_mv {{on_cluster}};
DROP TABLE IF EXISTS {{database}}.spans_by_id {{on_cluster}} SYNC;

CREATE TABLE {{database}}.spans_by_id {{on_cluster}}
(
    project         LowCardinality(String),
    user_id         String CODEC(ZSTD(1)),
    start_time      DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    trace_id        String CODEC(ZSTD(1)),
    span_id         String CODEC(ZSTD(1)),
    session_id      String CODEC(ZSTD(1)),
    service_name    LowCardinality(String),
    prompt_name     LowCardinality(String),
    model           LowCardinality(String),
    environment     LowCardinality(String),
    provider        LowCardinality(String),
    prompt_version  LowCardinality(String),
    status          LowCardinality(String),
    kind            LowCardinality(String),
    INDEX idx_session_id session_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(start_time)
ORDER BY (project, user_id, start_time, trace_id, span_id)
TTL toDateTime(start_time) + toIntervalDay({{span_ttl_days}})
SETTINGS non_replicated_deduplication_window = 10000;
-- 0135's wider merges, as the table had them.
ALTER TABLE {{database}}.spans_by_id {{on_cluster}} MODIFY SETTING merge_selector_base = 10;

INSERT INTO {{database}}.spans_by_id
SELECT project, user_id, start_time, trace_id, span_id, session_id, service_name, prompt_name, model,
       environment, provider, prompt_version, status, kind
FROM {{database}}.spans
WHERE user_id != '' OR session_id != ''
SETTINGS max_partitions_per_insert_block = 0, distributed_foreground_insert = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.spans_by_id_mv {{on_cluster}} TO {{database}}.spans_by_id AS
SELECT project, user_id, start_time, trace_id, span_id, session_id, service_name, prompt_name, model,
       environment, provider, prompt_version, status, kind
FROM {{database}}.spans
WHERE user_id != '' OR session_id != '';
