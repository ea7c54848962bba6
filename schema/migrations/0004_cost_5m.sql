-- Five-minute cost series per key, the cheap input of cost-spike and budget alerts.
CREATE TABLE IF NOT EXISTS {{database}}.cost_5m {{on_cluster}}
(
    project         LowCardinality(String),
    t               DateTime('UTC'),
    service_name    LowCardinality(String),
    environment     LowCardinality(String),
    model           LowCardinality(String),
    provider        LowCardinality(String),
    prompt_name     LowCardinality(String),
    calls           UInt64,
    errors          UInt64,
    cost            Float64,
    in_tokens       UInt64,
    out_tokens      UInt64
)
ENGINE = SummingMergeTree()
PARTITION BY toYYYYMM(t)
ORDER BY (project, service_name, model, prompt_name, environment, provider, t)
TTL t + toIntervalDay({{rollup_ttl_days}})
SETTINGS non_replicated_deduplication_window = 10000;

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
