"""LangChain's values in llmtrace's terms: messages and parts as OTel GenAI messages, usage, run
names, retrieved documents' scores. Pure functions of LangChain's objects (read duck-typed, so
this module imports nothing of LangChain), used by the callback handler in ``langchain.py``.
"""

from __future__ import annotations

from typing import Any

from llmtrace._internal.config import Settings
from llmtrace._internal.content import capture_json
from llmtrace.integrations._common import TokenUsage

# A message's ``type`` -> its role; a streamed result is made of chunks, whose types are the classes'.
_ROLES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "HumanMessageChunk": "user",
    "AIMessageChunk": "assistant",
    "SystemMessageChunk": "system",
    "ToolMessageChunk": "tool",
    "FunctionMessageChunk": "tool",
}


def is_number(value: Any) -> bool:
    kind = type(value)
    return kind is int or kind is float  # (not bool, whose type is bool)


def as_json(value: Any, config: Settings) -> str:
    """``llmtrace.input`` / ``llmtrace.output`` are JSON, as for ``@llmtrace.trace`` functions."""
    return capture_json(plain(value), config)


def plain(value: Any) -> Any:
    """Inputs and outputs as JSON-able data: messages and documents as dicts, the rest as is."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "page_content"):
        return {"id": getattr(value, "id", None), "content": value.page_content, "metadata": value.metadata}
    if hasattr(value, "content") and hasattr(value, "type"):
        return message_of(value)
    return value


def parts_of(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    parts: list[dict[str, Any]] = []
    for block in content or ():
        if isinstance(block, str):
            parts.append({"type": "text", "content": block})
        elif isinstance(block, dict):
            kind = block.get("type")
            if kind == "text":
                parts.append({"type": "text", "content": block.get("text", "")})
            elif kind in ("thinking", "reasoning"):
                parts.append(
                    {"type": "reasoning", "content": block.get("thinking") or block.get("reasoning") or ""}
                )
            else:
                parts.append({"type": str(kind or "blob")})
    return parts


def message_of(message: Any) -> dict[str, Any]:
    """A LangChain message in the OTel GenAI message schema."""
    kind = getattr(message, "type", "human")
    out: dict[str, Any] = {"role": _ROLES.get(kind, kind), "parts": parts_of(getattr(message, "content", ""))}
    for call in getattr(message, "tool_calls", None) or ():
        out["parts"].append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": call.get("name"),
                "arguments": call.get("args"),
            }
        )
    if kind == "tool" or kind == "ToolMessageChunk":
        out["parts"] = [
            {
                "type": "tool_call_response",
                "id": getattr(message, "tool_call_id", None),
                "response": message.content,
            }
        ]
    return out


def usage_of(message: Any, llm_output: dict[str, Any] | None) -> TokenUsage | None:
    """``AIMessage.usage_metadata`` (LangChain's standard: input includes cache reads, output
    includes reasoning, as in OTel), else an OpenAI-style ``llm_output["token_usage"]``."""
    meta = getattr(message, "usage_metadata", None)
    if meta:
        details_in = meta.get("input_token_details") or {}
        details_out = meta.get("output_token_details") or {}
        return TokenUsage(
            input=int(meta.get("input_tokens") or 0),
            output=int(meta.get("output_tokens") or 0),
            cached=int(details_in.get("cache_read") or 0),
            cache_write=int(details_in.get("cache_creation") or 0),
            reasoning=int(details_out.get("reasoning") or 0),
        )
    usage = (llm_output or {}).get("token_usage") or (llm_output or {}).get("usage")
    if isinstance(usage, dict) and ("prompt_tokens" in usage or "completion_tokens" in usage):
        return TokenUsage(
            input=int(usage.get("prompt_tokens") or 0), output=int(usage.get("completion_tokens") or 0)
        )
    return None


def run_name(serialized: dict[str, Any] | None, kwargs: dict[str, Any], default: str) -> str:
    """The run's name: given by the caller, else the class (``ChatOpenAI``), else ``default``."""
    name = kwargs.get("name") or (serialized or {}).get("name")
    if not name:
        ident = (serialized or {}).get("id")
        name = ident[-1] if isinstance(ident, list) and ident else default
    return str(name)


def score_of(document: Any) -> float | None:
    """A retrieved document's relevance score, where the vector store put one in its metadata."""
    metadata = getattr(document, "metadata", None) or {}
    for key in ("score", "relevance_score", "similarity_score", "score_of"):
        value = metadata.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None
