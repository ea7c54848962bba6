"""Statistics for llmtrace's analytics: pure Python, no database, no scipy at run time.

Query modules in ``llmtrace.store.queries`` aggregate in ClickHouse (histograms, counts, means,
variances, quantiles); the functions here turn those aggregates into tests, intervals and
verdicts. Every function is checked against scipy/numpy in ``tests/analytics``.
"""
