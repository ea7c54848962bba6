-- Message content (input, output, attributes) is most of a span's bytes, and each of its bytes is
-- compressed at insert and again by every merge that rewrites its part. ZSTD(1) compresses this
-- text ~2.5x faster than ZSTD(3) for ~13% more disk (measured on issue 14's ~2.1 KB spans:
-- benchmarks/genai_workload.py; see docs/scaling.md). A codec-only change rewrites nothing: parts
-- written before keep ZSTD(3) until a merge rewrites them.
ALTER TABLE {{database}}.spans {{on_cluster}}
    MODIFY COLUMN input String CODEC(ZSTD(1)),
    MODIFY COLUMN output String CODEC(ZSTD(1)),
    MODIFY COLUMN error_message String CODEC(ZSTD(1)),
    MODIFY COLUMN attributes Map(LowCardinality(String), String) CODEC(ZSTD(1));
