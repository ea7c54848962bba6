"""An MCP server over stdio, instrumented with llmtrace: its spans are appended to ``$SPANS_OUT``."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import llmtrace


class FileExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(os.environ["SPANS_OUT"], "a") as out:
            for span in spans:
                record = {
                    "name": span.name,
                    "kind": span.kind.name,
                    "trace_id": format(span.context.trace_id, "032x"),
                    "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
                }
                out.write(json.dumps(record) + "\n")
        return SpanExportResult.SUCCESS


llmtrace.instrument(exporter=FileExporter(), service_name="mcp-server")

from mcp.server.mcpserver import MCPServer  # noqa: E402  (after instrument(), as an app would)

app = MCPServer("weather")


@app.tool()
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


if __name__ == "__main__":
    app.run()
