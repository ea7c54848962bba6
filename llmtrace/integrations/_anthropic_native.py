"""Keeping the anthropic SDK's own OpenTelemetry span out, so each call has exactly one LLM span.

anthropic >= 1.14 starts its own CLIENT span (scope ``com.anthropic.sdk.python``) for every API
call whenever a tracer provider exists; with llmtrace's span that would be two spans and doubled
tokens. Clients read ``ANTHROPIC_OPEN_TELEMETRY`` when they are constructed, so ``instrument()``
sets it to ``false`` (unless the user set it); clients that already existed are silenced on their
first traced call by clearing their lazily created tracer. ``uninstrument()`` undoes both.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

_ENV = "ANTHROPIC_OPEN_TELEMETRY"
_lock = threading.Lock()
_we_set_env = False
_silenced: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def disable_native_tracing() -> None:
    global _we_set_env
    if _ENV not in os.environ:
        os.environ[_ENV] = "false"
        _we_set_env = True


def restore_native_tracing() -> None:
    global _we_set_env
    if _we_set_env:
        os.environ.pop(_ENV, None)
        _we_set_env = False
    with _lock:
        clients = list(_silenced.items())
        _silenced.clear()
    for client, original in clients:
        client._lazy_tracer = original


def silence(client: Any) -> None:
    """Make this client's native tracer inert (cheap after the first call: one attribute read)."""
    if client.__dict__.get("_lazy_tracer", None) is None:
        return
    with _lock:
        _silenced.setdefault(client, client._lazy_tracer)
    client._lazy_tracer = None
