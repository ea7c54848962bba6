from llmtrace.testing import capture_spans

__all__ = ["capture_spans"]
