"""llmtrace's server: OTLP ingest and the query API over the trace store (``llmtrace serve``)."""

from __future__ import annotations

__version__ = "0.1.0"
