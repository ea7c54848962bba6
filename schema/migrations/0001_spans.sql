-- One row per span: every LLM call and every traced function.
-- Text ids (lowercase hex) keep the API and ad-hoc SQL readable; ids compress well under ZSTD.
CREATE TABLE IF NOT EXISTS {{database}}.spans {{on_cluster}}
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
    error_message       String CODEC(ZSTD(3)),
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
    input               String CODEC(ZSTD(3)),
    output              String CODEC(ZSTD(3)),
    output_chars        UInt32,
    attributes          Map(LowCardinality(String), String) CODEC(ZSTD(3)),
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_session_id session_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_user_id user_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(start_time)
ORDER BY (project, service_name, prompt_name, model, start_time)
TTL toDateTime(start_time) + toIntervalDay({{span_ttl_days}})
-- Exporter retries re-send identical batches; ingest passes an insert_deduplication_token.
SETTINGS non_replicated_deduplication_window = 10000;
