-- `call_samples`: every LLM call's latency and TTFT, sorted by its sample key first. A regression
-- report's quantiles and Mann-Whitney test use a deterministic hash sample of at most 50,000
-- calls per cohort (`cityHash64(span_id) % 1000000 < keep`); in `llm_calls` (0100) that meant
-- reading and hashing every call of the cohorts to keep 4% of them (a week of a 10M-span store).
-- Here the calls of sample keys [0, keep) are one key range per 1% bucket and hour, so a report
-- reads about the calls it keeps - the same calls, so the same sample and the same answers.
-- Granules of 1,024 rows (narrow ones): a bucket holds its whole time range, so smaller granules
-- let a week's report skip the other weeks of each bucket. Same partitions and span TTL as
-- `llm_calls`.
--
-- Filled by `call_samples_mv` from every insert into `spans`, and backfilled here from the calls
-- stored so far. Safe to re-run after an interruption: the view and a half-filled table are
-- dropped first, so the backfill never counts a call twice.
DROP VIEW IF EXISTS {{database}}.call_samples_mv {{on_cluster}};
DROP TABLE IF EXISTS {{database}}.call_samples {{on_cluster}} SYNC;

CREATE TABLE IF NOT EXISTS {{database}}.call_samples {{on_cluster}}
(
    project         LowCardinality(String),
    sample_key      UInt32,
    start_time      DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    service_name    LowCardinality(String),
    environment     LowCardinality(String),
    model           LowCardinality(String),
    provider        LowCardinality(String),
    prompt_name     LowCardinality(String),
    prompt_version  LowCardinality(String),
    duration_ms     Float64,
    ttft_ms         Nullable(Float64)
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(start_time)
ORDER BY (project, intDiv(sample_key, 10000), toStartOfHour(start_time), service_name, prompt_name, model)
TTL toDateTime(start_time) + toIntervalDay({{span_ttl_days}})
SETTINGS index_granularity = 1024, non_replicated_deduplication_window = 10000;

INSERT INTO {{database}}.call_samples
SELECT project, toUInt32(cityHash64(span_id) % 1000000), start_time, service_name, environment, model,
       provider, prompt_name, prompt_version, duration_ms, ttft_ms
FROM {{database}}.llm_calls
SETTINGS max_partitions_per_insert_block = 0, distributed_foreground_insert = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.call_samples_mv {{on_cluster}} TO {{database}}.call_samples AS
SELECT project, toUInt32(cityHash64(span_id) % 1000000) AS sample_key, start_time, service_name, environment,
       model, provider, prompt_name, prompt_version, duration_ms, ttft_ms
FROM {{database}}.spans
WHERE kind IN ('llm', 'embedding');
