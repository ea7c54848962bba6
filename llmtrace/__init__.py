"""llmtrace."""
