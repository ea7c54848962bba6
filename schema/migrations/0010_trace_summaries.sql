-- One row per trace and hour of span start, kept by a materialized view, so the trace list reads a
-- few thousand narrow rows per hour instead of grouping raw spans (and their ~2 KB of content).
-- Sorted by hour first: the newest-first list reads the latest hours of one project only. A trace
-- whose spans start in two hours has two rows, merged by the reader's GROUP BY trace_id.
-- Dimension arrays (services, models, ...) let "traces that contain a call to model X" be a row
-- filter; they are sets (groupUniqArrayArray), so a merge never grows them past the distinct values.
CREATE TABLE IF NOT EXISTS {{database}}.trace_summaries {{on_cluster}}
(
    project         LowCardinality(String),
    hour            DateTime('UTC'),
    trace_id        String CODEC(ZSTD(1)),
    first_start     SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_end        SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    -- The root span (no parent) wins, else the earliest: (name, service_name, environment).
    root            AggregateFunction(argMin, Tuple(String, String, String), Tuple(UInt8, DateTime64(6, 'UTC'))),
    spans           SimpleAggregateFunction(sum, UInt64),
    llm_calls       SimpleAggregateFunction(sum, UInt64),
    errors          SimpleAggregateFunction(sum, UInt64),
    in_tokens       SimpleAggregateFunction(sum, UInt64),
    out_tokens      SimpleAggregateFunction(sum, UInt64),
    cost            SimpleAggregateFunction(sum, Float64),
    user            SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    session         SimpleAggregateFunction(max, String) CODEC(ZSTD(1)),
    -- Last end of the spans that carry a user.id / session.id: the users' and sessions' last activity.
    user_end        SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    session_end     SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    services        SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    environments    SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    kinds           SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    models          SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    providers       SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    prompt_names    SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    prompt_versions SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    -- Lookups by id (a user's or session's traces, wherever they fall in time) skip most granules.
    INDEX idx_trace_id trace_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_user user TYPE bloom_filter(0.01) GRANULARITY 2,
    INDEX idx_session session TYPE bloom_filter(0.01) GRANULARITY 2
)
ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(hour)
ORDER BY (project, hour, trace_id)
TTL hour + toIntervalDay({{span_ttl_days}})
SETTINGS non_replicated_deduplication_window = 10000;

-- Empty strings are left out of the dimension sets (a plain span has no model or prompt).
CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.trace_summaries_mv {{on_cluster}} TO {{database}}.trace_summaries AS
SELECT
    project,
    toStartOfHour(start_time) AS hour,
    trace_id,
    min(start_time) AS first_start,
    max(end_time) AS last_end,
    argMinState((name, toString(service_name), toString(environment)), (toUInt8(parent_span_id != ''), start_time)) AS root,
    toUInt64(count()) AS spans,
    toUInt64(countIf(kind IN ('llm', 'embedding'))) AS llm_calls,
    toUInt64(countIf(status = 'error')) AS errors,
    sum(toUInt64(input_tokens)) AS in_tokens,
    sum(toUInt64(output_tokens)) AS out_tokens,
    sum(ifNull(cost_usd, 0)) AS cost,
    max(user_id) AS user,
    max(session_id) AS session,
    maxIf(end_time, user_id != '') AS user_end,
    maxIf(end_time, session_id != '') AS session_end,
    groupUniqArrayIf(toString(service_name), service_name != '') AS services,
    groupUniqArrayIf(toString(environment), environment != '') AS environments,
    groupUniqArray(toString(kind)) AS kinds,
    groupUniqArrayIf(toString(model), model != '') AS models,
    groupUniqArrayIf(toString(provider), provider != '') AS providers,
    groupUniqArrayIf(toString(prompt_name), prompt_name != '') AS prompt_names,
    groupUniqArrayIf(toString(prompt_version), prompt_version != '') AS prompt_versions
FROM {{database}}.spans
GROUP BY project, hour, trace_id;
