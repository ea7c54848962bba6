"""The one internal-error guard: llmtrace's own failures never reach the host application.

Every piece of llmtrace-side work (attribute extraction, context stamping, content capture,
export bookkeeping) runs inside :func:`guarded`. An exception there is logged once per place
("your code is unaffected"), counted, and swallowed; the user's own call always runs outside the
guard so its result or exception is untouched.

Under pytest the guard re-raises instead, so our bugs fail our tests loudly, except inside
:func:`llmtrace.testing.allow_internal_errors`, which fault-injection tests use.
``LLMTRACE_RAISE_INTERNAL_ERRORS=1`` forces re-raising outside pytest (debugging).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

logger = logging.getLogger("llmtrace")

_lock = threading.Lock()
_logged: set[str] = set()
_counts: dict[str, int] = {}
# Process-wide (not a ContextVar): fault tests must also cover work done on the export thread.
_allow_depth = 0


def _should_raise() -> bool:
    if _allow_depth > 0:
        return False
    if os.environ.get("LLMTRACE_RAISE_INTERNAL_ERRORS", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    return "PYTEST_CURRENT_TEST" in os.environ and "pytest" in sys.modules


def internal_error(where: str, exc: BaseException) -> None:
    """Record an llmtrace-internal failure at ``where``: count it, log it once, swallow it.

    Re-raises ``exc`` under pytest (outside ``allow_internal_errors``) so our bugs are loud.
    """
    with _lock:
        _counts[where] = _counts.get(where, 0) + 1
        first = where not in _logged
        if first and len(_logged) < 1000:
            _logged.add(where)
    if _should_raise():
        raise exc
    if first:
        logger.warning(
            "llmtrace: internal error in %s (your code is unaffected; further errors here are counted, "
            "not logged)",
            where,
            exc_info=exc,
        )


class guarded:  # lowercase: used like a function, `with guarded("where"):`
    """Run llmtrace-side work; an ``Exception`` inside is handed to :func:`internal_error`.

    Only ``Exception`` is caught: ``KeyboardInterrupt``/``SystemExit`` belong to the user. A class
    rather than ``@contextmanager``: it sits on every span's hot path, and this is several times cheaper.
    """

    __slots__ = ("where",)

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        internal_error(self.where, exc)  # re-raises under pytest
        return True


def error_count() -> int:
    """Total internal errors swallowed since start (exposed through ``llmtrace.stats()``)."""
    with _lock:
        return sum(_counts.values())


@contextmanager
def allow_internal_errors() -> Iterator[None]:
    """Swallow internal errors even under pytest (public as ``llmtrace.testing.allow_internal_errors``)."""
    global _allow_depth
    with _lock:
        _allow_depth += 1
    try:
        yield
    finally:
        with _lock:
            _allow_depth -= 1
