-- Hourly rollup of LLM calls: metrics, quantiles and fixed log2/4-bucket histograms, so drift
-- (PSI, JS, KS) and trends for any window come from a few thousand rows instead of raw spans.
CREATE TABLE IF NOT EXISTS {{database}}.spans_hourly {{on_cluster}}
(
    project         LowCardinality(String),
    hour            DateTime('UTC'),
    service_name    LowCardinality(String),
    environment     LowCardinality(String),
    model           LowCardinality(String),
    provider        LowCardinality(String),
    prompt_name     LowCardinality(String),
    prompt_version  LowCardinality(String),
    calls           AggregateFunction(count),
    errors          AggregateFunction(sum, UInt64),
    priced_calls    AggregateFunction(sum, UInt64),
    cost            AggregateFunction(sum, Float64),
    in_tokens       AggregateFunction(sum, UInt64),
    out_tokens      AggregateFunction(sum, UInt64),
    cached_tokens   AggregateFunction(sum, UInt64),
    cache_write     AggregateFunction(sum, UInt64),
    reasoning       AggregateFunction(sum, UInt64),
    latency_q       AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), Float64),
    ttft_q          AggregateFunction(quantilesTDigest(0.5, 0.9, 0.95, 0.99), Nullable(Float64)),
    latency_hist    AggregateFunction(sumMap, Array(UInt16), Array(UInt64)),
    ttft_hist       AggregateFunction(sumMap, Array(UInt16), Array(UInt64)),
    input_tokens_hist  AggregateFunction(sumMap, Array(UInt16), Array(UInt64)),
    output_tokens_hist AggregateFunction(sumMap, Array(UInt16), Array(UInt64)),
    cost_hist       AggregateFunction(sumMap, Array(UInt16), Array(UInt64)),
    output_chars_hist  AggregateFunction(sumMap, Array(UInt16), Array(UInt64)),
    finish_mix      AggregateFunction(sumMap, Array(String), Array(UInt64)),
    error_mix       AggregateFunction(sumMap, Array(String), Array(UInt64)),
    status_mix      AggregateFunction(sumMap, Array(String), Array(UInt64))
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (project, service_name, prompt_name, model, provider, prompt_version, environment, hour)
TTL hour + toIntervalDay({{rollup_ttl_days}})
-- A re-sent span batch (same insert_deduplication_token) must not be counted twice here either
-- (the store inserts with deduplicate_blocks_in_dependent_materialized_views = 1).
SETTINGS non_replicated_deduplication_window = 10000;

-- Histogram bucket b holds values v with floor(log2(max(v, 1)) * 4) = b, i.e. [2^(b/4), 2^((b+1)/4)).
-- Aliases never reuse a spans column name (ClickHouse would resolve the column to the alias).
-- cost_hist buckets micro-dollars. NULL ttft/cost are left out of their histograms.
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
