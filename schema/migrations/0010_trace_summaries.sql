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
    -- The least (has a parent, start, name, service, environment): the root span, else the earliest.
    root            SimpleAggregateFunction(min, Tuple(UInt8, DateTime64(6, 'UTC'), String, String, String)),
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

-- One row per span, no GROUP BY: in a block nearly every span is a trace of its own, so grouping
-- at insert would cost a hash table and save no rows; merges (and readers) add the rows up.
-- Empty strings are left out of the dimension sets (a plain span has no model or prompt).
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
