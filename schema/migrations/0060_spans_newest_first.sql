-- Newest first, per project: `spans` sorted by (project, hour of start, service, prompt, model,
-- start) instead of (project, service, prompt, model, start). With ~2,000 service/prompt/model
-- combinations a million spans hold only a few granules per combination, so the old order
-- scattered one page of newest spans over the whole table: listing read every row's start_time
-- and decompressed ~50 granules of content per page. Now the newest rows of a project are the
-- end of its key range: a page reads its last hour in reverse order and stops (ClickHouse's
-- read-in-order, ORDER BY toStartOfHour(start_time) DESC, start_time DESC), while a filter on
-- service, prompt or model still narrows the rows of each hour, and analytics over a time range
-- read only that range (see docs/scaling.md).
--
-- Granules of at most 2,048 rows and 1 MiB instead of 8,192 rows and 10 MiB (~500
-- content-carrying spans, not ~5,000): a page whose rows are scattered (a rare filter)
-- decompresses a tenth of the content, and once an hour holds a few granules, a filter on
-- service, prompt or model skips the others (analytics over days read what they read before).
--
-- idx_content_tokens: a token bloom filter over the lower-cased input and output, so `q=` (whole
-- words, see queries/spans.py) skips the granules that cannot contain a word.
--
-- The sort key of a table cannot be changed in place: the rows are copied into a new table
-- which then takes the place of the old one (EXCHANGE TABLES, an Atomic database), and the
-- materialized views that read `spans` are dropped before and created again after, with their
-- definitions from 0003, 0004, 0010 and 0011, so they read the new table. Safe to re-run after an
-- interruption: a half-copied `spans_rebuild` is dropped first. Stop ingest while it runs (the
-- server migrates before it accepts spans); spans written to the old table during the copy
-- would be lost.
DROP VIEW IF EXISTS {{database}}.spans_hourly_mv {{on_cluster}};
DROP VIEW IF EXISTS {{database}}.cost_5m_mv {{on_cluster}};
DROP VIEW IF EXISTS {{database}}.trace_summaries_mv {{on_cluster}};
DROP VIEW IF EXISTS {{database}}.session_summaries_mv {{on_cluster}};
DROP VIEW IF EXISTS {{database}}.user_summaries_mv {{on_cluster}};
DROP TABLE IF EXISTS {{database}}.spans_rebuild {{on_cluster}} SYNC;

CREATE TABLE {{database}}.spans_rebuild {{on_cluster}}
(
    project             LowCardinality(String),
    trace_id            String CODEC(ZSTD(1)),
    span_id             String CODEC(ZSTD(1)),
    parent_span_id      String DEFAULT '' CODEC(ZSTD(1)),
    name                String CODEC(ZSTD(1)),
    kind                LowCardinality(String),
    service_name        LowCardinality(String),
    environment         LowCardinality(String),
    start_time          DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    end_time            DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    duration_ms         Float64,
    status              LowCardinality(String),
    error_type          LowCardinality(String),
    error_message       String CODEC(ZSTD(1)),
    provider            LowCardinality(String),
    operation           LowCardinality(String),
    request_model       LowCardinality(String),
    response_model      LowCardinality(String),
    -- The model a user filters and groups by: what was requested, else what answered.
    model               LowCardinality(String) MATERIALIZED if(request_model != '', request_model, response_model),
    input_tokens        UInt32,
    output_tokens       UInt32,
    cached_input_tokens UInt32,
    cache_write_tokens  UInt32,
    reasoning_tokens    UInt32,
    usage_source        LowCardinality(String),
    cost_usd            Nullable(Float64),
    ttft_ms             Nullable(Float64),
    finish_reason       LowCardinality(String),
    prompt_name         LowCardinality(String),
    prompt_version      LowCardinality(String),
    user_id             String CODEC(ZSTD(1)),
    session_id          String CODEC(ZSTD(1)),
    tags                Array(LowCardinality(String)),
    input               String CODEC(ZSTD(1)),
    output              String CODEC(ZSTD(1)),
    output_chars        UInt32,
    attributes          Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_session_id session_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_user_id user_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_content_tokens lower(concat(input, ' ', output)) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 4
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(start_time)
ORDER BY (project, toStartOfHour(start_time), service_name, prompt_name, model, start_time)
TTL toDateTime(start_time) + toIntervalDay({{span_ttl_days}})
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 2048, index_granularity_bytes = 1048576;

-- Streamed in blocks of at most 256 MiB (memory stays bounded at any size); every month is one
-- partition, so a long retention writes to many partitions from one block.
INSERT INTO {{database}}.spans_rebuild (project, trace_id, span_id, parent_span_id, name, kind, service_name, environment, start_time, end_time, duration_ms, status, error_type, error_message, provider, operation, request_model, response_model, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, usage_source, cost_usd, ttft_ms, finish_reason, prompt_name, prompt_version, user_id, session_id, tags, input, output, output_chars, attributes, ingested_at)
SELECT project, trace_id, span_id, parent_span_id, name, kind, service_name, environment, start_time, end_time, duration_ms, status, error_type, error_message, provider, operation, request_model, response_model, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, usage_source, cost_usd, ttft_ms, finish_reason, prompt_name, prompt_version, user_id, session_id, tags, input, output, output_chars, attributes, ingested_at
FROM {{database}}.spans
SETTINGS max_partitions_per_insert_block = 0, min_insert_block_size_bytes = 268435456, distributed_foreground_insert = 1;

EXCHANGE TABLES {{database}}.spans AND {{database}}.spans_rebuild {{on_cluster}};
DROP TABLE {{database}}.spans_rebuild {{on_cluster}} SYNC;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.spans_hourly_mv {{on_cluster}} TO {{database}}.spans_hourly AS
SELECT
    project,
    toStartOfHour(start_time) AS hour,
    service_name, environment, model, provider, prompt_name, prompt_version,
    countState() AS calls,
    sumState(toUInt64(status = 'error')) AS errors,
    sumState(toUInt64(isNotNull(cost_usd))) AS priced_calls,
    sumState(ifNull(cost_usd, 0)) AS cost,
    sumState(toUInt64(input_tokens)) AS in_tokens,
    sumState(toUInt64(output_tokens)) AS out_tokens,
    sumState(toUInt64(cached_input_tokens)) AS cached_tokens,
    sumState(toUInt64(cache_write_tokens)) AS cache_write,
    sumState(toUInt64(reasoning_tokens)) AS reasoning,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(duration_ms) AS latency_q,
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(ttft_ms) AS ttft_q,
    sumMapState([toUInt16(floor(log2(greatest(duration_ms, 1)) * 4))], [toUInt64(1)]) AS latency_hist,
    sumMapState(if(isNull(ttft_ms), CAST([], 'Array(UInt16)'), [toUInt16(floor(log2(greatest(assumeNotNull(ttft_ms), 1)) * 4))]),
                if(isNull(ttft_ms), CAST([], 'Array(UInt64)'), [toUInt64(1)])) AS ttft_hist,
    sumMapState([toUInt16(floor(log2(greatest(input_tokens, 1)) * 4))], [toUInt64(1)]) AS input_tokens_hist,
    sumMapState([toUInt16(floor(log2(greatest(output_tokens, 1)) * 4))], [toUInt64(1)]) AS output_tokens_hist,
    sumMapState(if(isNull(cost_usd), CAST([], 'Array(UInt16)'), [toUInt16(floor(log2(greatest(assumeNotNull(cost_usd) * 1000000, 1)) * 4))]),
                if(isNull(cost_usd), CAST([], 'Array(UInt64)'), [toUInt64(1)])) AS cost_hist,
    sumMapState([toUInt16(floor(log2(greatest(output_chars, 1)) * 4))], [toUInt64(1)]) AS output_chars_hist,
    sumMapState([toString(finish_reason)], [toUInt64(1)]) AS finish_mix,
    sumMapState([toString(error_type)], [toUInt64(1)]) AS error_mix,
    sumMapState([toString(status)], [toUInt64(1)]) AS status_mix
FROM {{database}}.spans
WHERE kind IN ('llm', 'embedding')
GROUP BY project, hour, service_name, environment, model, provider, prompt_name, prompt_version;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.cost_5m_mv {{on_cluster}} TO {{database}}.cost_5m AS
SELECT
    project,
    toStartOfFiveMinutes(start_time) AS t,
    service_name, environment, model, provider, prompt_name,
    count() AS calls,
    countIf(status = 'error') AS errors,
    sum(ifNull(cost_usd, 0)) AS cost,
    sum(toUInt64(input_tokens)) AS in_tokens,
    sum(toUInt64(output_tokens)) AS out_tokens
FROM {{database}}.spans
WHERE kind IN ('llm', 'embedding')
GROUP BY project, t, service_name, environment, model, provider, prompt_name;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.trace_summaries_mv {{on_cluster}} TO {{database}}.trace_summaries AS
SELECT
    project,
    toStartOfHour(start_time) AS hour,
    trace_id,
    start_time AS first_start,
    end_time AS last_end,
    (toUInt8(parent_span_id != ''), start_time, name, toString(service_name), toString(environment)) AS root,
    toUInt64(1) AS spans,
    toUInt64(kind IN ('llm', 'embedding')) AS llm_calls,
    toUInt64(status = 'error') AS errors,
    toUInt64(input_tokens) AS in_tokens,
    toUInt64(output_tokens) AS out_tokens,
    ifNull(cost_usd, 0) AS cost,
    user_id AS user,
    session_id AS session,
    if(user_id != '', end_time, toDateTime64(0, 6, 'UTC')) AS user_end,
    if(session_id != '', end_time, toDateTime64(0, 6, 'UTC')) AS session_end,
    if(service_name != '', [toString(service_name)], []) AS services,
    if(environment != '', [toString(environment)], []) AS environments,
    [toString(kind)] AS kinds,
    if(model != '', [toString(model)], []) AS models,
    if(provider != '', [toString(provider)], []) AS providers,
    if(prompt_name != '', [toString(prompt_name)], []) AS prompt_names,
    if(prompt_version != '', [toString(prompt_version)], []) AS prompt_versions
FROM {{database}}.spans;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.session_summaries_mv {{on_cluster}} TO {{database}}.session_summaries AS
SELECT
    project,
    session_id,
    min(start_time) AS first_seen,
    max(end_time) AS last_seen,
    max(user_id) AS user,
    uniqState(trace_id) AS traces,
    toUInt64(count()) AS spans,
    toUInt64(countIf(kind IN ('llm', 'embedding'))) AS llm_calls,
    toUInt64(countIf(status = 'error')) AS errors,
    sum(toUInt64(input_tokens)) AS in_tokens,
    sum(toUInt64(output_tokens)) AS out_tokens,
    sum(ifNull(cost_usd, 0)) AS cost
FROM {{database}}.spans
WHERE session_id != ''
GROUP BY project, session_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.user_summaries_mv {{on_cluster}} TO {{database}}.user_summaries AS
SELECT
    project,
    user_id,
    min(start_time) AS first_seen,
    max(end_time) AS last_seen,
    uniqStateIf(session_id, session_id != '') AS sessions,
    uniqState(trace_id) AS traces,
    toUInt64(count()) AS spans,
    toUInt64(countIf(kind IN ('llm', 'embedding'))) AS llm_calls,
    toUInt64(countIf(status = 'error')) AS errors,
    sum(toUInt64(input_tokens)) AS in_tokens,
    sum(toUInt64(output_tokens)) AS out_tokens,
    sum(ifNull(cost_usd, 0)) AS cost
FROM {{database}}.spans
WHERE user_id != ''
GROUP BY project, user_id;
