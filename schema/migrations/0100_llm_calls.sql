-- `llm_calls`: one narrow row per LLM or embedding call, without content. The analytics that need
-- one value per call (which call a score counts for, regression samples and Mann-Whitney inputs,
-- rank correlations, totals over a window that is not whole hours) read it instead of `spans`:
-- `spans` keeps every traced function too (about half the rows) and its granules are cut for
-- ~500 content-carrying rows, so a column read there touches twice the rows and many more marks.
-- Same sort order, partitioning and TTL as `spans` (0060): a time range reads only its hours, a
-- service, prompt or model narrows each hour.
--
-- Filled by `llm_calls_mv` from every insert into `spans`, and backfilled here from the spans
-- stored so far. Safe to re-run after an interruption: the view and a half-filled table are
-- dropped first, so the backfill never counts a call twice. Like 0060, it runs before the server
-- accepts spans (the server migrates before it ingests).
DROP VIEW IF EXISTS {{database}}.llm_calls_mv {{on_cluster}};
DROP TABLE IF EXISTS {{database}}.llm_calls {{on_cluster}} SYNC;

CREATE TABLE IF NOT EXISTS {{database}}.llm_calls {{on_cluster}}
(
    project             LowCardinality(String),
    trace_id            String CODEC(ZSTD(1)),
    -- The trace id as a number: "the calls of these traces" (which call a score counts for)
    -- tests 8 bytes per call instead of a 32-character string, about half the cost of that read.
    trace_key           UInt64 MATERIALIZED cityHash64(trace_id),
    span_id             String CODEC(ZSTD(1)),
    start_time          DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    kind                LowCardinality(String),
    service_name        LowCardinality(String),
    environment         LowCardinality(String),
    provider            LowCardinality(String),
    model               LowCardinality(String),
    prompt_name         LowCardinality(String),
    prompt_version      LowCardinality(String),
    user_id             String CODEC(ZSTD(1)),
    session_id          String CODEC(ZSTD(1)),
    status              LowCardinality(String),
    error_type          LowCardinality(String),
    finish_reason       LowCardinality(String),
    duration_ms         Float64,
    ttft_ms             Nullable(Float64),
    cost_usd            Nullable(Float64),
    input_tokens        UInt32,
    output_tokens       UInt32,
    cached_input_tokens UInt32,
    reasoning_tokens    UInt32,
    output_chars        UInt32,
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(start_time)
ORDER BY (project, toStartOfHour(start_time), service_name, prompt_name, model, start_time)
TTL toDateTime(start_time) + toIntervalDay({{span_ttl_days}})
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO {{database}}.llm_calls (project, trace_id, span_id, start_time, kind, service_name, environment, provider, model, prompt_name, prompt_version, user_id, session_id, status, error_type, finish_reason, duration_ms, ttft_ms, cost_usd, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, output_chars)
SELECT project, trace_id, span_id, start_time, kind, service_name, environment, provider, model, prompt_name, prompt_version, user_id, session_id, status, error_type, finish_reason, duration_ms, ttft_ms, cost_usd, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, output_chars
FROM {{database}}.spans
WHERE kind IN ('llm', 'embedding')
SETTINGS max_partitions_per_insert_block = 0, distributed_foreground_insert = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.llm_calls_mv {{on_cluster}} TO {{database}}.llm_calls AS
SELECT project, trace_id, span_id, start_time, kind, service_name, environment, provider, model, prompt_name, prompt_version, user_id, session_id, status, error_type, finish_reason, duration_ms, ttft_ms, cost_usd, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, output_chars
FROM {{database}}.spans
WHERE kind IN ('llm', 'embedding');
