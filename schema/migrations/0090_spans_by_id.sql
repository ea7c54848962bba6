-- Spans by user and by session: one narrow row per span that carries a user.id and one per span
-- that carries a session.id, sorted by (project, owner kind, owner id, start), so the newest spans
-- of one user or session are the end of one short key range.
--
-- `spans` is sorted by time first (0060): a user's ~500 spans over 28 days are scattered over
-- every hour, and the bloom filters on user_id / session_id still leave thousands of granules to
-- read (with their content) at 10M spans. Here a page of a user's or session's spans reads a few
-- granules of this table, newest first in key order, and then fetches exactly those rows from
-- `spans` by their primary key (hour, service, prompt, model, start: the location columns kept
-- here), so content is read only for the page (see queries/spans.py).
--
-- The filter columns of the span list are kept too, so a user's or session's page with another
-- filter (model, status, ...) is decided here. Text search (`q=`) is not: it reads `spans`.
--
-- The view writes one row per owner (ARRAY JOIN over the non-empty ids). Existing spans are copied
-- in (backfill). Safe to re-run after an interruption: the table is dropped and filled again
-- before the view is created. Stop ingest while it runs (the server migrates before it accepts
-- spans); spans written between the copy and the view's creation would be missing here.
DROP VIEW IF EXISTS {{database}}.spans_by_id_mv {{on_cluster}};
DROP TABLE IF EXISTS {{database}}.spans_by_id {{on_cluster}} SYNC;

CREATE TABLE {{database}}.spans_by_id {{on_cluster}}
(
    project         LowCardinality(String),
    owner           Enum8('user' = 1, 'session' = 2),
    owner_id        String CODEC(ZSTD(1)),
    start_time      DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    trace_id        String CODEC(ZSTD(1)),
    span_id         String CODEC(ZSTD(1)),
    service_name    LowCardinality(String),
    prompt_name     LowCardinality(String),
    model           LowCardinality(String),
    environment     LowCardinality(String),
    provider        LowCardinality(String),
    prompt_version  LowCardinality(String),
    status          LowCardinality(String),
    kind            LowCardinality(String),
    user_id         String CODEC(ZSTD(1)),
    session_id      String CODEC(ZSTD(1))
)
ENGINE = MergeTree()
PARTITION BY toYYYYMM(start_time)
ORDER BY (project, owner, owner_id, start_time, trace_id, span_id)
TTL toDateTime(start_time) + toIntervalDay({{span_ttl_days}})
SETTINGS non_replicated_deduplication_window = 10000;

INSERT INTO {{database}}.spans_by_id
SELECT project, o.1 AS owner, o.2 AS owner_id, start_time, trace_id, span_id, service_name, prompt_name, model,
       environment, provider, prompt_version, status, kind, user_id, session_id
FROM {{database}}.spans
ARRAY JOIN arrayFilter(x -> x.2 != '', [('user', user_id), ('session', session_id)]) AS o
SETTINGS max_partitions_per_insert_block = 0, distributed_foreground_insert = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{database}}.spans_by_id_mv {{on_cluster}} TO {{database}}.spans_by_id AS
SELECT project, o.1 AS owner, o.2 AS owner_id, start_time, trace_id, span_id, service_name, prompt_name, model,
       environment, provider, prompt_version, status, kind, user_id, session_id
FROM {{database}}.spans
ARRAY JOIN arrayFilter(x -> x.2 != '', [('user', user_id), ('session', session_id)]) AS o;
