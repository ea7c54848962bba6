"""``llmtrace.context(...)``: user, session, prompt, tags and metadata for every span inside.

Values live in one ``ContextVar``, so they follow ``await`` and are copied into asyncio tasks at
creation. Threads start with an empty context: thread pool jobs get their submitter's while
llmtrace is instrumented (``thread_pools``), and :func:`wrap_context` carries the caller's into a
function run elsewhere (``threading.Thread(target=llmtrace.wrap_context(fn))``). The span
processor (``processor.ContextSpanProcessor``) stamps the values on every span at start, including
spans made by provider integrations, which therefore do nothing for them.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class ContextValues:
    """The merged values of all enclosing ``llmtrace.context`` blocks."""

    user_id: str | None = None
    session_id: str | None = None
    prompt: str | None = None
    prompt_version: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def merged(self, other: ContextValues) -> ContextValues:
        """Inner values win; tags accumulate (outer first, no duplicates); metadata merges by key."""
        return ContextValues(
            user_id=other.user_id if other.user_id is not None else self.user_id,
            session_id=other.session_id if other.session_id is not None else self.session_id,
            prompt=other.prompt if other.prompt is not None else self.prompt,
            prompt_version=other.prompt_version if other.prompt_version is not None else self.prompt_version,
            tags=tuple(dict.fromkeys((*self.tags, *other.tags))),
            metadata=MappingProxyType({**self.metadata, **other.metadata}),
        )


_current: contextvars.ContextVar[ContextValues | None] = contextvars.ContextVar(
    "llmtrace_context", default=None
)


def current() -> ContextValues | None:
    """The values in effect here, or ``None`` outside any ``llmtrace.context`` block."""
    return _current.get()


class context:  # lowercase: used like a function: `with llmtrace.context(user_id=...)`
    """Attach user/session/prompt/tags/metadata to every span started inside the block.

    Nested blocks merge (inner values win, tags and metadata accumulate). Works with ``with`` and
    ``async with`` and as a decorator of sync functions.

        with llmtrace.context(user_id="u1", session_id="s1", tags=["beta"], metadata={"tenant": "acme"}):
            answer(question)
    """

    __slots__ = ("_tokens", "_values")

    def __init__(
        self,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        prompt: str | None = None,
        prompt_version: str | int | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if isinstance(tags, str):
            raise ValueError("tags= must be a list of strings, not one string")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise ValueError("metadata= must be a mapping of str keys to values")
        self._values = ContextValues(
            user_id=None if user_id is None else str(user_id),
            session_id=None if session_id is None else str(session_id),
            prompt=None if prompt is None else str(prompt),
            prompt_version=None if prompt_version is None else str(prompt_version),
            tags=tuple(str(t) for t in tags or ()),
            metadata=MappingProxyType({str(k): v for k, v in (metadata or {}).items()}),
        )
        self._tokens: list[contextvars.Token[ContextValues | None]] = []

    def __enter__(self) -> ContextValues:
        outer = _current.get()
        values = outer.merged(self._values) if outer is not None else self._values
        self._tokens.append(_current.set(values))
        return values

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _current.reset(self._tokens.pop())

    async def __aenter__(self) -> ContextValues:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with self:
                return fn(*args, **kwargs)

        return wrapper


def wrap_context(fn: Callable[P, R]) -> Callable[P, R]:
    """``fn`` bound to the caller's current context (llmtrace values *and* the active span).

    Threads do not inherit context variables, so spans made in a thread would otherwise become
    new root traces without user/session values (thread pool jobs need no wrapping while
    llmtrace is instrumented). Each call runs in a fresh copy, so one wrapped function may run
    in many threads at once:

        with llmtrace.context(user_id="u1"), llmtrace.span("fan-out"):
            workers = [threading.Thread(target=llmtrace.wrap_context(answer), args=(q,)) for q in questions]
    """
    captured = contextvars.copy_context()

    @functools.wraps(fn)
    def run_in_context(*args: P.args, **kwargs: P.kwargs) -> R:
        return captured.copy().run(fn, *args, **kwargs)

    return run_in_context
