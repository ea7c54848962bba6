-- Whole-life totals per session and per user, kept by materialized views and sorted by their id,
-- so the rows of one page of sessions or users are a primary-key lookup. Which sessions or users
-- are on a page (newest activity first) is read from trace_summaries; see queries/sessions.py.
CREATE TABLE IF NOT EXISTS {{database}}.session_summaries {{on_cluster}}
(
    project         LowCardinality(String),
    session_id      String CODEC(ZSTD(1)),
    first_seen      SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_seen       SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    user            SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    traces          AggregateFunction(uniq, String),
    spans           SimpleAggregateFunction(sum, UInt64),
    llm_calls       SimpleAggregateFunction(sum, UInt64),
    errors          SimpleAggregateFunction(sum, UInt64),
    in_tokens       SimpleAggregateFunction(sum, UInt64),
    out_tokens      SimpleAggregateFunction(sum, UInt64),
    cost            SimpleAggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree()
ORDER BY (project, session_id)
TTL toDateTime(last_seen) + toIntervalDay({{span_ttl_days}})
SETTINGS non_replicated_deduplication_window = 10000;

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

CREATE TABLE IF NOT EXISTS {{database}}.user_summaries {{on_cluster}}
(
    project         LowCardinality(String),
    user_id         String CODEC(ZSTD(1)),
    first_seen      SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_seen       SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    sessions        AggregateFunction(uniq, String),
    traces          AggregateFunction(uniq, String),
    spans           SimpleAggregateFunction(sum, UInt64),
    llm_calls       SimpleAggregateFunction(sum, UInt64),
    errors          SimpleAggregateFunction(sum, UInt64),
    in_tokens       SimpleAggregateFunction(sum, UInt64),
    out_tokens      SimpleAggregateFunction(sum, UInt64),
    cost            SimpleAggregateFunction(sum, Float64)
)
ENGINE = AggregatingMergeTree()
ORDER BY (project, user_id)
TTL toDateTime(last_seen) + toIntervalDay({{span_ttl_days}})
SETTINGS non_replicated_deduplication_window = 10000;

-- Spans without a session add nothing to the session count (uniqIf skips them).
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
