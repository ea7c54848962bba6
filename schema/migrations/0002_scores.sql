-- Quality signals attached to a span or a whole trace (span_id = ''), possibly long after it ended.
-- A re-score (same project, name, trace, span and source) replaces the earlier value: read with FINAL.
CREATE TABLE IF NOT EXISTS {{database}}.scores {{on_cluster}}
(
    project     LowCardinality(String),
    trace_id    String,
    span_id     String DEFAULT '',
    name        LowCardinality(String),
    value       Float64,
    label       String DEFAULT '',
    source      LowCardinality(String) DEFAULT 'api',
    comment     String DEFAULT '' CODEC(ZSTD(3)),
    timestamp   DateTime64(6, 'UTC'),
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(timestamp)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project, name, trace_id, span_id, source)
SETTINGS non_replicated_deduplication_window = 10000;
