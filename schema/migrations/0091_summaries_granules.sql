-- Smaller granules for the summaries: trace_summaries in granules of 1,024 rows (was 8,192),
-- session_summaries and user_summaries of 256. A page of traces, sessions or users looks up ~50
-- ids: in trace_summaries by (hour, trace id) and in the per-id tables by id. With 8,192-row
-- granules each id costs a granule of 8,192 rows to decompress and aggregate (uniq states
-- included), so a page read ~400k rows for 50 answers; with 256 rows, ~13k. The newest-first
-- windows of the trace list read whole hours either way, so they are not slowed down.
--
-- index_granularity cannot be changed in place: each table is copied into a new one which then
-- takes its place (EXCHANGE TABLES, as 0060 does for spans); the materialized views that write
-- them are dropped before and created again after (definitions from 0060), so no span is counted
-- twice or written to the old table. Safe to re-run after an interruption: a half-copied
-- `*_rebuild` table is dropped first. Stop ingest while it runs (the server migrates before it
-- accepts spans).
DROP VIEW IF EXISTS {{database}}.trace_summaries_mv {{on_cluster}};
DROP VIEW IF EXISTS {{database}}.session_summaries_mv {{on_cluster}};
DROP VIEW IF EXISTS {{database}}.user_summaries_mv {{on_cluster}};

DROP TABLE IF EXISTS {{database}}.trace_summaries_rebuild {{on_cluster}} SYNC;

CREATE TABLE {{database}}.trace_summaries_rebuild {{on_cluster}}
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
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 1024;

INSERT INTO {{database}}.trace_summaries_rebuild SELECT * FROM {{database}}.trace_summaries
SETTINGS max_partitions_per_insert_block = 0, distributed_foreground_insert = 1;

EXCHANGE TABLES {{database}}.trace_summaries AND {{database}}.trace_summaries_rebuild {{on_cluster}};
DROP TABLE {{database}}.trace_summaries_rebuild {{on_cluster}} SYNC;

DROP TABLE IF EXISTS {{database}}.session_summaries_rebuild {{on_cluster}} SYNC;

CREATE TABLE {{database}}.session_summaries_rebuild {{on_cluster}}
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
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 256;

INSERT INTO {{database}}.session_summaries_rebuild SELECT * FROM {{database}}.session_summaries
SETTINGS max_partitions_per_insert_block = 0, distributed_foreground_insert = 1;

EXCHANGE TABLES {{database}}.session_summaries AND {{database}}.session_summaries_rebuild {{on_cluster}};
DROP TABLE {{database}}.session_summaries_rebuild {{on_cluster}} SYNC;

DROP TABLE IF EXISTS {{database}}.user_summaries_rebuild {{on_cluster}} SYNC;

CREATE TABLE {{database}}.user_summaries_rebuild {{on_cluster}}
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
SETTINGS non_replicated_deduplication_window = 10000, index_granularity = 256;

INSERT INTO {{database}}.user_summaries_rebuild SELECT * FROM {{database}}.user_summaries
SETTINGS max_partitions_per_insert_block = 0, distributed_foreground_insert = 1;

EXCHANGE TABLES {{database}}.user_summaries AND {{database}}.user_summaries_rebuild {{on_cluster}};
DROP TABLE {{database}}.user_summaries_rebuild {{on_cluster}} SYNC;

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
