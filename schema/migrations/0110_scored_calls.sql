-- `scored_calls`: each score with the LLM call it counts for (docs/analytics.md, "Which call a
-- score counts for"), so that the score charts, prompt quality, drift and regressions read the
-- few scores of their time window instead of every score of the project joined to every call of
-- the window (620-810 ms of CPU per read at 10M spans). Read with FINAL.
--
-- Written when a score is written and again when LLM calls of a scored trace arrive
-- (`llmtrace.store.attribution`). A row's `version` is (the score's timestamp, the number of the
-- trace's calls seen): a re-score wins over the value it replaces, and an attribution that saw
-- more of the trace's calls wins over an earlier one. The sort key holds the call's hour, so a
-- score that moves to a call in another hour (a later call of its trace) would leave its old row
-- behind: each attribution therefore also writes a deleted row (`is_deleted`) with its version
-- in every other hour of the trace's calls, where any earlier attribution of the score must lie.
-- Same partitions and TTL as `llm_calls`: a time window reads only its hours.
--
-- Backfilled here from the scores and calls stored so far. Safe to re-run after an interruption:
-- a half-filled table is dropped first.
DROP TABLE IF EXISTS {{database}}.scored_calls {{on_cluster}} SYNC;

CREATE TABLE IF NOT EXISTS {{database}}.scored_calls {{on_cluster}}
(
    project         LowCardinality(String),
    name            LowCardinality(String),
    trace_id        String CODEC(ZSTD(1)),
    span_id         String CODEC(ZSTD(1)),
    source          LowCardinality(String),
    value           Float64,
    label           String,
    version         UInt128,
    is_deleted      UInt8,
    start_time      DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    service_name    LowCardinality(String),
    environment     LowCardinality(String),
    provider        LowCardinality(String),
    model           LowCardinality(String),
    prompt_name     LowCardinality(String),
    prompt_version  LowCardinality(String)
)
ENGINE = ReplacingMergeTree(version, is_deleted)
PARTITION BY toYYYYMM(start_time)
ORDER BY (project, toStartOfHour(start_time), name, trace_id, span_id, source)
TTL toDateTime(start_time) + toIntervalDay({{span_ttl_days}})
;  -- on a line of its own: with --span-ttl-days 0 the TTL line is left out

INSERT INTO {{database}}.scored_calls (project, name, trace_id, span_id, source, value, label, version, is_deleted, start_time, service_name, environment, provider, model, prompt_name, prompt_version)
SELECT project, name, trace_id, span_id, source, value, label,
       bitShiftLeft(toUInt128(toUnixTimestamp64Micro(timestamp)), 32) + n,
       (arrayJoin(arrayDistinct(arrayMap(t -> toStartOfHour(t), c_start_time))) AS hour)
           != toStartOfHour(c_start_time[i]),
       if(hour = toStartOfHour(c_start_time[i]), c_start_time[i], toDateTime64(hour, 6, 'UTC')),
       c_service_name[i], c_environment[i], c_provider[i], c_model[i], c_prompt_name[i], c_prompt_version[i]
  FROM (SELECT sc.*, tr.*,
               if(indexOf(tr.call_ids, sc.span_id) > 0, indexOf(tr.call_ids, sc.span_id),
                  indexOf(tr.call_ids, tr.last_id)) AS i
          FROM (SELECT project, name, trace_id, span_id, source, value, label, timestamp
                  FROM {{database}}.scores FINAL) AS sc
         INNER JOIN (SELECT project AS c_project, trace_id AS c_trace_id, count() AS n,
                            groupArray(span_id) AS call_ids, groupArray(start_time) AS c_start_time,
                            groupArray(service_name) AS c_service_name, groupArray(environment) AS c_environment,
                            groupArray(provider) AS c_provider, groupArray(model) AS c_model,
                            groupArray(prompt_name) AS c_prompt_name, groupArray(prompt_version) AS c_prompt_version,
                            argMax(span_id, (prompt_name != '', start_time, span_id)) AS last_id
                       FROM {{database}}.llm_calls
                      WHERE (project, trace_key) GLOBAL IN (SELECT project, cityHash64(trace_id) FROM {{database}}.scores)
                      GROUP BY project, trace_id) AS tr
            ON sc.project = tr.c_project AND sc.trace_id = tr.c_trace_id)
SETTINGS max_partitions_per_insert_block = 0, distributed_foreground_insert = 1;
