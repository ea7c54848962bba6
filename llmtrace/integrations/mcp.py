"""MCP (``mcp``) integration: client ``call_tool`` / ``read_resource`` / ``get_prompt`` spans.

Patched: ``ClientSession.call_tool``, ``read_resource`` and ``get_prompt`` (``mcp.Client`` calls
through them). Each is a CLIENT span — ``execute_tool {name}`` (kind ``tool``, arguments and
result captured, a result with ``isError`` recorded as an error), ``read_resource {uri}``,
``get_prompt {name}`` — current while the request is sent.

Propagation and the server side are the SDK's own (mcp ≥ 2): its request span, a child of ours,
injects W3C ``traceparent`` into the request's ``_meta``, and every MCP server runs an OpenTelemetry
middleware that continues that context in a SERVER span per handler (``tools/call {name}`` with
``gen_ai.operation.name=execute_tool``). Both use the global tracer provider, which
``instrument()`` sets up, so an MCP server instrumented with llmtrace continues the client's trace.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from llmtrace._internal import active
from llmtrace._internal import semconv as sc
from llmtrace._internal.config import settings
from llmtrace._internal.content import capture_json
from llmtrace._internal.guard import guarded
from llmtrace.integrations._common import STATE, patch


def _dump(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json", exclude_none=True, by_alias=True) if dump is not None else value


def _start(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Span | None:
    with guarded(f"mcp.{method}.start"):
        config = settings()
        target = args[0] if args else kwargs.get("name", kwargs.get("uri"))
        attrs: dict[str, Any] = {sc.MCP_METHOD_NAME: method}
        if method == "tools/call":
            attrs.update(
                {
                    sc.LLMTRACE_SPAN_KIND: sc.KIND_TOOL,
                    sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
                    sc.GEN_AI_TOOL_NAME: str(target),
                }
            )
            name = f"execute_tool {target}"
        elif method == "resources/read":
            attrs.update({sc.LLMTRACE_SPAN_KIND: sc.KIND_SPAN, sc.MCP_RESOURCE_URI: str(target)})
            name = f"read_resource {target}"
        else:
            attrs.update({sc.LLMTRACE_SPAN_KIND: sc.KIND_SPAN, sc.GEN_AI_PROMPT_NAME: str(target)})
            name = f"get_prompt {target}"
        arguments = args[1] if len(args) > 1 else kwargs.get("arguments")
        if config.capture_content and arguments is not None:
            attrs[sc.LLMTRACE_INPUT] = capture_json(arguments, config)
        return active.tracer().start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
    return None


def _end(span: Span, method: str, result: Any) -> None:
    with guarded(f"mcp.{method}.end"):
        config = settings()
        if config.capture_content:
            content = getattr(result, "content", None)
            if content is None:
                content = getattr(result, "contents", None) or getattr(result, "messages", None)
            if content is not None:
                span.set_attribute(sc.LLMTRACE_OUTPUT, capture_json([_dump(c) for c in content], config))
        if getattr(result, "is_error", None) is True or getattr(result, "isError", None) is True:
            span.set_attribute(sc.ERROR_TYPE, "tool_error")
            span.set_status(Status(StatusCode.ERROR))
    span.end()


def _wrapper(method: str) -> Any:
    async def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        span = _start(method, args, kwargs) if STATE.active else None
        if span is None:
            return await wrapped(*args, **kwargs)
        try:
            with trace.use_span(
                span, end_on_exit=False, record_exception=False, set_status_on_exception=False
            ):
                result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            with guarded(f"mcp.{method}.error"):
                span.set_attribute(sc.ERROR_TYPE, type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR, str(exc)[:2048]))
            span.end()
            raise
        _end(span, method, result)
        return result

    return wrapper


def instrument() -> None:
    """Patch the MCP client session (called once ``mcp`` is imported)."""
    from mcp.client.session import ClientSession

    patch(ClientSession, "call_tool", _wrapper("tools/call"))
    patch(ClientSession, "read_resource", _wrapper("resources/read"))
    patch(ClientSession, "get_prompt", _wrapper("prompts/get"))
