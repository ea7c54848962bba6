-- Wider merges for the tables every span block writes: `spans` and the tables its materialized
-- views fill. A part is rewritten at every merge level it passes through, and each rewrite of
-- `spans` recompresses the content (~1.5 KB a span) and rebuilds the token index over it
-- (`idx_content_tokens`, 0060). ClickHouse's merge selector merges parts once their sizes sum to
-- about `merge_selector_base` times the largest (default 5); at 10 each merge takes about twice as
-- many parts, so a span passes through fewer levels on its way to a large part. Measured on issue
-- 14's spans, 1M of them in the writer's 32k-span blocks, until every merge had run
-- (benchmarks/ingest_store.py --cycles 4, docs/scaling.md "Fewer merge levels"): rows read by
-- merges per span 8.5 -> 5.6, the store's CPU per span 0.80x, the same number of parts left.
-- Nothing is rewritten: the setting applies to the merges chosen from now on, so this runs in
-- milliseconds at any size and is safe to re-run. The summary tables' readers aggregate or use
-- FINAL already, so rows merged later change no answer.
ALTER TABLE {{database}}.spans {{on_cluster}} MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {{database}}.spans_by_id {{on_cluster}} MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {{database}}.llm_calls {{on_cluster}} MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {{database}}.call_samples {{on_cluster}} MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {{database}}.calls_hourly {{on_cluster}} MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {{database}}.spans_hourly {{on_cluster}} MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {{database}}.cost_5m {{on_cluster}} MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {{database}}.drift_hourly {{on_cluster}} MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {{database}}.trace_summaries {{on_cluster}} MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {{database}}.session_summaries {{on_cluster}} MODIFY SETTING merge_selector_base = 10;
ALTER TABLE {{database}}.user_summaries {{on_cluster}} MODIFY SETTING merge_selector_base = 10;
