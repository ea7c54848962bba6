-- Drift histograms per hour and segment as plain (keys, counts) arrays, moved out of
-- `spans_hourly`. There they were sumMap -State values, which ClickHouse turns into a map of
-- generic values per row on every read: merging a week of them took longer than all the drift
-- statistics (~40 µs per row and feature). Here a read is plain arrays that an ARRAY JOIN and a
-- GROUP BY add up; merges still sum them (SimpleAggregateFunction(sumMap)).
-- Histogram bucket b holds values v with floor(log2(max(v, 1)) * 4) = b, i.e. [2^(b/4), 2^((b+1)/4));
-- cost buckets micro-dollars; NULL ttft/cost are left out of their histograms.
CREATE TABLE IF NOT EXISTS {{database}}.drift_hourly {{on_cluster}}
(
    project         LowCardinality(String),
    hour            DateTime('UTC'),
    service_name    LowCardinality(String),
    environment     LowCardinality(String),
    model           LowCardinality(String),
    provider        LowCardinality(String),
    prompt_name     LowCardinality(String),
    prompt_version  LowCardinality(String),
    latency_hist       SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(UInt64))),
    ttft_hist          SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(UInt64))),
    input_tokens_hist  SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(UInt64))),
    output_tokens_hist SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(UInt64))),
    cost_hist          SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(UInt64))),
    output_chars_hist  SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(UInt64))),
    finish_mix      SimpleAggregateFunction(sumMap, Tuple(Array(String), Array(UInt64))),
    error_mix       SimpleAggregateFunction(sumMap, Tuple(Array(String), Array(UInt64))),
    status_mix      SimpleAggregateFunction(sumMap, Tuple(Array(String), Array(UInt64)))
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (project, service_name, prompt_name, model, provider, prompt_version, environment, hour)
TTL hour + toIntervalDay({{rollup_ttl_days}})
SETTINGS non_replicated_deduplication_window = 10000;

-- The rollup's histograms so far, as plain arrays (the server migrates before it ingests).
INSERT INTO {{database}}.drift_hourly
SELECT project, hour, service_name, environment, model, provider, prompt_name, prompt_version,
       sumMapMerge(latency_hist), sumMapMerge(ttft_hist), sumMapMerge(input_tokens_hist),
       sumMapMerge(output_tokens_hist), sumMapMerge(cost_hist), sumMapMerge(output_chars_hist),
       sumMapMerge(finish_mix), sumMapMerge(error_mix), sumMapMerge(status_mix)
FROM {{database}}.spans_hourly
GROUP BY project, hour, service_name, environment, model, provider, prompt_name, prompt_version;

-- spans_hourly keeps its metrics and quantiles; its view stops filling the histograms (their
-- columns are dropped), so each span is bucketed once, here.
DROP VIEW IF EXISTS {{database}}.spans_hourly_mv {{on_cluster}};

ALTER TABLE {{database}}.spans_hourly {{on_cluster}}
    DROP COLUMN IF EXISTS latency_hist, DROP COLUMN IF EXISTS ttft_hist,
    DROP COLUMN IF EXISTS input_tokens_hist, DROP COLUMN IF EXISTS output_tokens_hist,
    DROP COLUMN IF EXISTS cost_hist, DROP COLUMN IF EXISTS output_chars_hist,
    DROP COLUMN IF EXISTS finish_mix, DROP COLUMN IF EXISTS error_mix, DROP COLUMN IF EXISTS status_mix;

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
    quantilesTDigestState(0.5, 0.9, 0.95, 0.99)(ttft_ms) AS ttft_q
FROM {{database}}.spans
WHERE kind IN ('llm', 'embedding')
GROUP BY project, hour, service_name, environment, model, provider, prompt_name, prompt_version;

-- Aliases never reuse a spans column name (ClickHouse would resolve the column to the alias).
CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.drift_hourly_mv {{on_cluster}} TO {{database}}.drift_hourly AS
SELECT
    project,
    toStartOfHour(start_time) AS hour,
    service_name, environment, model, provider, prompt_name, prompt_version,
    sumMap(([toUInt16(floor(log2(greatest(duration_ms, 1)) * 4))], [toUInt64(1)])) AS latency_hist,
    sumMap(if(isNull(ttft_ms), (CAST([], 'Array(UInt16)'), CAST([], 'Array(UInt64)')),
              ([toUInt16(floor(log2(greatest(assumeNotNull(ttft_ms), 1)) * 4))], [toUInt64(1)]))) AS ttft_hist,
    sumMap(([toUInt16(floor(log2(greatest(input_tokens, 1)) * 4))], [toUInt64(1)])) AS input_tokens_hist,
    sumMap(([toUInt16(floor(log2(greatest(output_tokens, 1)) * 4))], [toUInt64(1)])) AS output_tokens_hist,
    sumMap(if(isNull(cost_usd), (CAST([], 'Array(UInt16)'), CAST([], 'Array(UInt64)')),
              ([toUInt16(floor(log2(greatest(assumeNotNull(cost_usd) * 1000000, 1)) * 4))], [toUInt64(1)]))) AS cost_hist,
    sumMap(([toUInt16(floor(log2(greatest(output_chars, 1)) * 4))], [toUInt64(1)])) AS output_chars_hist,
    sumMap(([toString(finish_reason)], [toUInt64(1)])) AS finish_mix,
    sumMap(([toString(error_type)], [toUInt64(1)])) AS error_mix,
    sumMap(([toString(status)], [toUInt64(1)])) AS status_mix
FROM {{database}}.spans
WHERE kind IN ('llm', 'embedding')
GROUP BY project, hour, service_name, environment, model, provider, prompt_name, prompt_version;
