"""Turn a span's stored ``input``/``output`` into messages a person can read.

The store keeps what the instrumentation captured: OTel GenAI messages (``role`` + ``parts`` of
``text``, ``tool_call``, ``tool_call_response``, ``reasoning``...), OpenAI-style messages
(``content`` + ``tool_calls``), or plain text. Anything unrecognised is shown as it was stored.
"""

from __future__ import annotations

import json
from typing import Any

Message = dict[str, Any]


def messages(text: str, default_role: str) -> list[Message]:
    """``[{"role", "parts": [{"type", "text"?, "name"?, "arguments"?, "id"?}]}]``; [] for empty text."""
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return [{"role": default_role, "parts": [{"type": "text", "text": text}]}]
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        data = data["messages"]
    elif isinstance(data, dict) and ("role" in data or "parts" in data or "content" in data):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(m, dict) for m in data):
        # A traced function's arguments or result: shown as stored, not as a chat message.
        return [{"role": default_role, "parts": [{"type": "text", "text": _show(data)}]}]
    return [_message(m, default_role) for m in data]


def _message(item: Any, default_role: str) -> Message:
    if not isinstance(item, dict):
        return {"role": default_role, "parts": [{"type": "text", "text": _show(item)}]}
    role = str(item.get("role") or default_role)
    parts: list[dict[str, Any]] = []
    for part in item.get("parts") or []:
        parts.append(_part(part))
    content = item.get("content")
    if isinstance(content, str) and content:
        parts.append({"type": "text", "text": content})
    elif isinstance(content, list):
        parts.extend(_part(p) for p in content)
    for call in item.get("tool_calls") or []:
        fn = call.get("function", call) if isinstance(call, dict) else {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id", "") if isinstance(call, dict) else "",
                "name": fn.get("name", ""),
                "arguments": _show(fn.get("arguments", "")),
            }
        )
    if role == "tool" and item.get("tool_call_id"):
        parts = [{**p, "id": item["tool_call_id"]} for p in parts]
    finish = item.get("finish_reason")
    return {"role": role, "parts": parts, "finish_reason": finish}


def _part(part: Any) -> dict[str, Any]:
    if not isinstance(part, dict):
        return {"type": "text", "text": _show(part)}
    kind = part.get("type", "text")
    if kind in ("text", "input_text", "output_text") or ("text" in part and kind not in ("tool_use",)):
        return {"type": "text", "text": _show(part.get("content", part.get("text", "")))}
    if kind in ("tool_call", "tool_use", "function_call"):
        return {
            "type": "tool_call",
            "id": part.get("id", ""),
            "name": part.get("name", ""),
            "arguments": _show(part.get("arguments", part.get("input", ""))),
        }
    if kind in ("tool_call_response", "tool_result", "function_call_output"):
        return {
            "type": "tool_result",
            "id": part.get("id", part.get("tool_use_id", "")),
            "text": _show(part.get("response", part.get("content", part.get("output", "")))),
        }
    if kind in ("reasoning", "thinking"):
        return {"type": "reasoning", "text": _show(part.get("content", part.get("thinking", "")))}
    return {"type": "other", "text": _show(part)}


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
