"""Thread pool jobs run in their submitter's context: they keep its span and ``llmtrace.context``.

Threads do not inherit context variables, so an LLM call made in a ``ThreadPoolExecutor`` job
(``pool.map(answer, questions)`` inside an ``@llmtrace.trace`` function) became a root trace of
its own, without the caller's user and session: the broken trace tree users of other tools
report most. While llmtrace is instrumented, ``ThreadPoolExecutor.submit`` (which ``map``,
asyncio's ``run_in_executor`` and ``to_thread`` go through) runs each job in a copy of the
submitter's context, as Logfire and OpenTelemetry's threading instrumentation do; a copy per job,
so jobs of one submitter may run at once.

A plain ``threading.Thread`` is left alone: such a thread is often a long-lived worker (a
connection pool's, an exporter's) whose later work does not belong to the span that happened to
start it. ``llmtrace.wrap_context`` carries the context there when it does.
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import wrapt


class _CarryingSubmit(wrapt.FunctionWrapper):  # type: ignore[misc]
    """Our wrapper of ``ThreadPoolExecutor.submit``, recognisable under a foreign one."""


_carrying = False


def _submit(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not _carrying or not args:
        return wrapped(*args, **kwargs)
    return wrapped(contextvars.copy_context().run, *args, **kwargs)


def _ours_in(method: Any) -> bool:
    for _ in range(8):  # a foreign wrapper (OTel's threading instrumentation, say) may sit on ours
        if isinstance(method, _CarryingSubmit):
            return True
        method = getattr(method, "__wrapped__", None)
        if method is None:
            return False
    return False


def carry_context() -> None:
    """Jobs submitted from now on run in their submitter's context (idempotent)."""
    global _carrying
    _carrying = True
    current = ThreadPoolExecutor.__dict__["submit"]
    if not _ours_in(current):
        ThreadPoolExecutor.submit = _CarryingSubmit(current, _submit)  # type: ignore[method-assign]


def stop_carrying() -> None:
    """Back to the standard library's ``submit``; under a foreign wrapper ours stays, inert."""
    global _carrying
    _carrying = False
    current = ThreadPoolExecutor.__dict__["submit"]
    if isinstance(current, _CarryingSubmit):
        ThreadPoolExecutor.submit = current.__wrapped__  # type: ignore[method-assign]
