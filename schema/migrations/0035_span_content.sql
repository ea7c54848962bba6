-- Message content that reaches llmtrace as OTLP log records (GenAI events on POST /v1/logs)
-- rather than as span attributes, keyed by the span it belongs to. Kept apart from `spans` so
-- that it attaches whether it arrives before or after its span (reads join the two by
-- trace_id + span_id). A retried record has the same sorting key, including `record_key` (a hash
-- of its content), and collapses on merge; reads take one row per key (LIMIT 1 BY), so they do
-- not depend on merges having run.
CREATE TABLE IF NOT EXISTS {{database}}.span_content {{on_cluster}}
(
    project     LowCardinality(String),
    trace_id    String CODEC(ZSTD(1)),
    span_id     String CODEC(ZSTD(1)),
    event_name  LowCardinality(String),
    time        DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    record_key  UInt64,
    input       String CODEC(ZSTD(3)),
    output      String CODEC(ZSTD(3)),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_span_id span_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(time)
ORDER BY (project, trace_id, span_id, event_name, time, record_key)
TTL toDateTime(time) + toIntervalDay({{span_ttl_days}})
SETTINGS non_replicated_deduplication_window = 10000;
