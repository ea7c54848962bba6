-- `calls_hourly`: per hour and segment, the exact sums a regression report's means and variances
-- are made of (calls, errors, priced calls; cost, input and output tokens and their squares). A
-- report over whole hours - every range of the UI - reads a few thousand of these rows instead of
-- every call of its cohorts in `llm_calls` (1.25M calls for a week of a 10M-span store).
-- The sums are exact (costs as Decimal256 with 15 decimals, tokens as UInt256), as the report's
-- sums over `llm_calls` are, so adding up hours gives the same numbers in any order.
-- Same key columns as `drift_hourly` (0080) and the span TTL of `llm_calls` (0100), the table it
-- stands in for.
--
-- Filled by `calls_hourly_mv` from every insert into `spans`, and backfilled here from the calls
-- stored so far. Safe to re-run after an interruption: the view and a half-filled table are
-- dropped first, so the backfill never counts a call twice.
DROP VIEW IF EXISTS {{database}}.calls_hourly_mv {{on_cluster}};
DROP TABLE IF EXISTS {{database}}.calls_hourly {{on_cluster}} SYNC;

CREATE TABLE IF NOT EXISTS {{database}}.calls_hourly {{on_cluster}}
(
    project         LowCardinality(String),
    hour            DateTime('UTC'),
    service_name    LowCardinality(String),
    environment     LowCardinality(String),
    model           LowCardinality(String),
    provider        LowCardinality(String),
    prompt_name     LowCardinality(String),
    prompt_version  LowCardinality(String),
    calls           SimpleAggregateFunction(sum, UInt64),
    errors          SimpleAggregateFunction(sum, UInt64),
    priced          SimpleAggregateFunction(sum, UInt64),
    cost_sum        SimpleAggregateFunction(sum, Decimal(76, 15)),
    cost_sumsq      SimpleAggregateFunction(sum, Decimal(76, 30)),
    in_sum          SimpleAggregateFunction(sum, UInt256),
    in_sumsq        SimpleAggregateFunction(sum, UInt256),
    out_sum         SimpleAggregateFunction(sum, UInt256),
    out_sumsq       SimpleAggregateFunction(sum, UInt256)
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (project, service_name, prompt_name, model, provider, prompt_version, environment, hour)
TTL hour + toIntervalDay({{span_ttl_days}})
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO {{database}}.calls_hourly
SELECT project, toStartOfHour(start_time) AS hour, service_name, environment, model, provider,
       prompt_name, prompt_version,
       count(), countIf(status = 'error'), countIf(isNotNull(cost_usd)),
       sumIf(toDecimal256(assumeNotNull(cost_usd), 15), isNotNull(cost_usd)),
       sumIf(toDecimal256(assumeNotNull(cost_usd), 15) * toDecimal256(assumeNotNull(cost_usd), 15), isNotNull(cost_usd)),
       sum(toUInt256(input_tokens)), sum(toUInt256(input_tokens) * input_tokens),
       sum(toUInt256(output_tokens)), sum(toUInt256(output_tokens) * output_tokens)
FROM {{database}}.llm_calls
GROUP BY project, hour, service_name, environment, model, provider, prompt_name, prompt_version
SETTINGS max_partitions_per_insert_block = 0, distributed_foreground_insert = 1;

-- Aliases never reuse a spans column name (ClickHouse would resolve the column to the alias).
CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.calls_hourly_mv {{on_cluster}} TO {{database}}.calls_hourly AS
SELECT
    project,
    toStartOfHour(start_time) AS hour,
    service_name, environment, model, provider, prompt_name, prompt_version,
    count() AS calls,
    countIf(status = 'error') AS errors,
    countIf(isNotNull(cost_usd)) AS priced,
    sumIf(toDecimal256(assumeNotNull(cost_usd), 15), isNotNull(cost_usd)) AS cost_sum,
    sumIf(toDecimal256(assumeNotNull(cost_usd), 15) * toDecimal256(assumeNotNull(cost_usd), 15), isNotNull(cost_usd)) AS cost_sumsq,
    sum(toUInt256(input_tokens)) AS in_sum,
    sum(toUInt256(input_tokens) * input_tokens) AS in_sumsq,
    sum(toUInt256(output_tokens)) AS out_sum,
    sum(toUInt256(output_tokens) * output_tokens) AS out_sumsq
FROM {{database}}.spans
WHERE kind IN ('llm', 'embedding')
GROUP BY project, hour, service_name, environment, model, provider, prompt_name, prompt_version;
