"""Captured text: redact first, then cap with a visible marker.

Integrations and ``@trace`` call these only when ``settings().capture_content`` is on, so with
content off no text is even serialised (which also keeps the hot path cheap).
"""

from __future__ import annotations

import base64
import dataclasses
import json
from json.encoder import encode_basestring as json_string  # a JSON string literal (ensure_ascii=False)
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
    limit = active.max_content_chars
    return text if len(text) <= limit else truncate(text, limit)  # (the check inline: a frame fewer)


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


# The common message shapes written as JSON text directly: the same text ``to_json`` gives for the
# equivalent lists of dicts, without building the dicts or running the encoder (hot paths).


# What JSON escapes in a string (``ensure_ascii=False``): control characters, quote, backslash.
_ESCAPED = bytes(range(32)) + b'"\\'
# A translation table that changes exactly those bytes (each to the next byte value): a text's
# bytes come back as the very same object from ``translate`` when none of them is escaped, and
# a table alone takes the bytes loop without deletions, a third fewer instructions a byte.
_FLAG_ESCAPED = bytes((b + 1) if b in _ESCAPED else b for b in range(256))


def text_json(text: str) -> str:
    """``json_string(text)`` (a JSON string literal), for a message's text: a text with nothing
    to escape, the common case, is quoted as it is after one C-level pass over its UTF-8 bytes,
    where the escaper spends ~30 instructions a character (a prompt's kilobyte on every call).
    (UTF-8 encodes every non-ASCII character, a lone surrogate too with ``surrogatepass``, in
    bytes above 0x7F, which nothing escapes; the escaper leaves those characters as they are.)"""
    raw = text.encode("utf-8", "surrogatepass")
    if raw.translate(_FLAG_ESCAPED) is raw:
        return '"' + text + '"'
    return json_string(text)


def text_parts_json(text: str) -> str:
    """JSON of ``[{"type": "text", "content": text}]``."""
    return '[{"type": "text", "content": ' + text_json(text) + "}]"


# id(text) -> (text, its `text_parts_json`): holding the text keeps its id from being reused.
_PARTS_JSON: dict[int, tuple[str, str]] = {}


def constant_text_parts_json(text: str) -> str:
    """`text_parts_json` of a text that is usually the very same object call after call (a system
    instruction an app keeps in a constant or a config it reuses): escaped once per object, where
    escaping costs ~30 instructions a character. A new object is escaped anew (a bounded cache)."""
    entry = _PARTS_JSON.get(id(text))
    if entry is None or entry[0] is not text:
        if len(_PARTS_JSON) >= 64:
            _PARTS_JSON.clear()
        entry = _PARTS_JSON[id(text)] = (text, text_parts_json(text))
    return entry[1]


def user_text_json(text: str) -> str:
    """JSON of ``[{"role": "user", "parts": [{"type": "text", "content": text}]}]``."""
    return '[{"role": "user", "parts": [{"type": "text", "content": ' + text_json(text) + "}]}]"


def text_message_json(text: str | None, finish_reason: str | None) -> str:
    """JSON of ``[{"role": "assistant", "parts": [<text part if text>], "finish_reason": ...}]``."""
    parts = '{"type": "text", "content": ' + text_json(text) + "}" if text else ""
    reason = "null" if finish_reason is None else json_string(finish_reason)
    return '[{"role": "assistant", "parts": [' + parts + '], "finish_reason": ' + reason + "}]"
