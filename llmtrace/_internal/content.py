"""Captured text: redact first, then cap with a visible marker.

Integrations and ``@trace`` call these only when ``settings().capture_content`` is on, so with
content off no text is even serialised (which also keeps the hot path cheap).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import TYPE_CHECKING, Any

from llmtrace._internal.config import settings

if TYPE_CHECKING:
    from llmtrace._internal.config import Settings


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters plus ``…[truncated N chars]`` when longer."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[truncated {len(text) - limit} chars]"


def capture_text(text: str, active: Settings | None = None) -> str:
    """``text`` as it may be recorded: redacted by the configured redactor, then capped.

    Hot paths pass the ``active`` settings they already hold (one lookup per call, not per text).
    """
    if active is None:
        active = settings()
    if not isinstance(text, str):
        text = str(text)
    if active.redact is not None:
        text = active.redact(text)
    return truncate(text, active.max_content_chars)


def capture_json(obj: Any, active: Settings | None = None) -> str:
    """``obj`` as JSON text (anything non-JSON becomes a readable stand-in), redacted and capped."""
    return capture_text(to_json(obj), active)


def to_json(obj: Any) -> str:
    """JSON for any value: pydantic models, dataclasses, bytes, sets and cycles included."""
    try:
        return _ENCODER.encode(obj)
    except (ValueError, TypeError, RecursionError):  # circular references, exotic keys
        return json.dumps(_safe_repr(obj), ensure_ascii=False)


def _json_default(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)  # pydantic v2 (provider SDK response types)
    if callable(dump):
        try:
            return dump(mode="json")
        except Exception:
            return _safe_repr(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        raw = bytes(obj)
        return {"bytes": len(raw), "base64": base64.b64encode(raw[:64]).decode()} if raw else {"bytes": 0}
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return _safe_repr(obj)


def _safe_repr(obj: Any) -> str:
    try:
        text = repr(obj)
    except Exception:
        text = f"<{type(obj).__name__} (repr failed)>"
    return truncate(text, 1000)


# One encoder for every capture: ``json.dumps`` with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_json_default)
