"""What the fake provider sends back, independent of HTTP: a JSON reply or a paced SSE stream."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Reply:
    """A JSON answer sent after ``delay_s``, or an SSE stream of ``(sleep_before_s, bytes)`` events."""

    status: int = 200
    body: Any = None
    delay_s: float = 0.0
    events: list[tuple[float, bytes]] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event carrying ``data`` as JSON (or a literal string such as ``[DONE]``)."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def split_words(text: str, parts: int) -> list[str]:
    """``text`` cut into at most ``parts`` pieces at word boundaries, concatenating back to it."""
    words = text.split(" ")
    parts = max(1, min(parts, len(words)))
    size = -(-len(words) // parts)
    pieces = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return [p if i == 0 else " " + p for i, p in enumerate(pieces)]


def stream_schedule(ttft_s: float, total_s: float, pieces: int, head_fraction: float = 0.3) -> list[float]:
    """Sleeps before each of ``pieces + 1`` events: a head event, the first piece at the time to
    first token, the rest spread evenly until the total latency."""
    head = ttft_s * head_fraction
    first = ttft_s - head
    rest = max(total_s - ttft_s, 0.0) / max(pieces - 1, 1)
    return [head, first] + [rest] * (pieces - 1)


def text_of(content: Any) -> str:
    """The text inside a message ``content`` (a string, or a list of text/input_text blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        out = []
        for block in content:
            if isinstance(block, dict):
                out.append(str(block.get("text") or block.get("content") or ""))
            else:
                out.append(str(block))
        return "\n".join(out)
    return "" if content is None else json.dumps(content)
