-- Alerting: rules, per-(rule, key) state, fired/resolved events, and the evaluator lease.
-- Small tables; every mutable one is a ReplacingMergeTree read with FINAL, so a write is an insert
-- of the new version (updated_at is the wall clock of the writer) and state survives restarts.
CREATE TABLE IF NOT EXISTS {{database}}.alert_rules {{on_cluster}}
(
    project      LowCardinality(String),
    id           String,
    name         String,
    type         LowCardinality(String),
    filters      String,   -- JSON object: service, model, prompt, environment
    params       String,   -- JSON object: the type's parameters as given (defaults applied at evaluation)
    webhook_url  String,
    created_at   DateTime64(6, 'UTC'),
    updated_at   DateTime64(6, 'UTC'),
    deleted      UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (project, id);

CREATE TABLE IF NOT EXISTS {{database}}.alert_state {{on_cluster}}
(
    rule_id        String,
    key            String,   -- "service=...,model=...,prompt=..."; "*" for rules without keys
    state          LowCardinality(String),   -- ok | pending | firing
    breaches       UInt32,   -- consecutive breaching evaluations
    since          Nullable(DateTime64(6, 'UTC')),   -- when the current pending/firing episode began
    clear_since    Nullable(DateTime64(6, 'UTC')),   -- firing, but below the resolve threshold since
    last_notified  Nullable(DateTime64(6, 'UTC')),
    resolved_at    Nullable(DateTime64(6, 'UTC')),
    last_value     Nullable(Float64),
    updated_at     DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (rule_id, key);

CREATE TABLE IF NOT EXISTS {{database}}.alert_events {{on_cluster}}
(
    project      LowCardinality(String),
    id           String,
    rule_id      String,
    rule_name    String,
    rule_type    LowCardinality(String),
    key          String,
    state        LowCardinality(String),   -- firing | resolved
    repeat       UInt8,                    -- a re-notification of a still-firing alert
    ts           DateTime64(6, 'UTC'),     -- evaluation time
    values       String,                   -- JSON
    baseline     Nullable(Float64),
    delivered    UInt8,
    attempts     UInt8,
    error        String,
    updated_at   DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (project, ts, id);

-- One row per lease name; the evaluator that holds an unexpired lease is the only one evaluating.
CREATE TABLE IF NOT EXISTS {{database}}.alert_lease {{on_cluster}}
(
    name        String,
    holder      String,
    expires     DateTime64(6, 'UTC'),
    updated_at  DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY name;
