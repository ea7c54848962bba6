"""``@llmtrace.trace`` and ``llmtrace.span``: spans of kind ``span`` around the user's own code.

The user's function always runs outside the guard: its result is returned and its exception
re-raised unchanged (bare ``raise``); only llmtrace's bookkeeping is guarded. Generators get one
span covering the whole iteration; the span is current only while the generator body runs (each
``next``/``send``), never while the generator is suspended in the caller's hands, so spans the
caller makes between items do not become its children by accident.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from types import TracebackType
from typing import Any, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace as trace_api
from opentelemetry.trace import Span, Status, StatusCode

from llmtrace._internal import semconv as sc
from llmtrace._internal.config import settings
from llmtrace._internal.content import capture_json, to_json, truncate
from llmtrace._internal.guard import guarded

F = TypeVar("F", bound=Callable[..., Any])
_MAX_CAPTURED_ITEMS = 100  # yielded items kept for a generator's captured output


def _attach(span: Span) -> object:
    return otel_context.attach(trace_api.set_span_in_context(span))


def _record_error(span: Span, exc: BaseException) -> None:
    with guarded("recording an exception"):
        span.record_exception(exc, escaped=True)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:1024]))
        span.set_attribute(sc.ERROR_TYPE, type(exc).__qualname__)


def _end(span: Span) -> None:
    with guarded("ending a span"):
        span.end()


def attribute_value(value: Any) -> Any:
    """A value OTel accepts as an attribute: primitives and lists of one primitive type, else JSON text."""
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple) and value:
        kinds = {type(v) for v in value}
        if len(kinds) == 1 and kinds <= {str, bool, int, float}:
            return tuple(value)
    return truncate(to_json(value), settings().max_content_chars)


class _Traced:
    """What one decorated function needs at call time (built once, at decoration)."""

    def __init__(
        self, fn: Callable[..., Any], name: str | None, capture_args: bool, capture_result: bool
    ) -> None:
        self.fn = fn
        # "Class.method" reads well; the "outer.<locals>." prefix of a nested function does not.
        qualname = getattr(fn, "__qualname__", None) or repr(fn)
        self.name = name or qualname.rpartition("<locals>.")[2]
        self.capture_args = capture_args
        self.capture_result = capture_result
        try:
            self.signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):
            self.signature = None

    def start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Span | None:
        span: Span | None = None
        with guarded("@trace span start"):
            tracer = settings().tracer()
            attributes = {sc.LLMTRACE_SPAN_KIND: sc.KIND_SPAN, sc.CODE_FUNCTION_NAME: self.name}
            span = tracer.start_span(self.name, attributes=attributes)
        if span is not None and self.capture_args and span.is_recording() and settings().capture_content:
            with guarded("@trace capturing arguments"):
                span.set_attribute(sc.LLMTRACE_INPUT, capture_json(self.arguments(args, kwargs)))
        return span

    def arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapping[str, Any]:
        if self.signature is None:
            return {"args": list(args), "kwargs": kwargs}
        try:
            bound = self.signature.bind_partial(*args, **kwargs)
        except TypeError:  # the call itself is wrong; the function will raise it
            return {"args": list(args), "kwargs": kwargs}
        values = dict(bound.arguments)
        first = next(iter(self.signature.parameters), None)
        if first in ("self", "cls"):
            values.pop(first, None)
        return values

    def finish(self, span: Span, result: Any) -> None:
        with guarded("@trace span end"):
            if self.capture_result and span.is_recording() and settings().capture_content:
                span.set_attribute(sc.LLMTRACE_OUTPUT, capture_json(result))
        _end(span)

    def fail(self, span: Span, exc: BaseException) -> None:
        _record_error(span, exc)
        _end(span)


def _sync(t: _Traced) -> Callable[..., Any]:
    fn = t.fn

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        span = t.start(args, kwargs)
        if span is None:
            return fn(*args, **kwargs)
        token = _attach(span)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            t.fail(span, exc)
            raise
        finally:
            otel_context.detach(token)  # type: ignore[arg-type]
        t.finish(span, result)
        return result

    return wrapper


def _async(t: _Traced) -> Callable[..., Any]:
    fn = t.fn

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        span = t.start(args, kwargs)
        if span is None:
            return await fn(*args, **kwargs)
        token = _attach(span)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            t.fail(span, exc)
            raise
        finally:
            otel_context.detach(token)  # type: ignore[arg-type]
        t.finish(span, result)
        return result

    return wrapper


def _generator(t: _Traced) -> Callable[..., Any]:
    fn = t.fn

    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        span = t.start(args, kwargs)
        if span is None:
            return (yield from fn(*args, **kwargs))
        items: list[Any] = []
        token = _attach(span)
        try:
            gen = fn(*args, **kwargs)
        except BaseException as exc:
            t.fail(span, exc)
            raise
        finally:
            otel_context.detach(token)  # type: ignore[arg-type]
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            token = _attach(span)
            try:
                if thrown is not None:
                    pending, thrown = thrown, None
                    item = gen.throw(pending)
                else:
                    item = gen.send(sent)
            except StopIteration as stop:
                t.finish(span, items if items else stop.value)
                return stop.value
            except BaseException as exc:
                t.fail(span, exc)
                raise
            finally:
                otel_context.detach(token)  # type: ignore[arg-type]
            if len(items) < _MAX_CAPTURED_ITEMS:
                items.append(item)
            try:
                sent = yield item
            except GeneratorExit:  # the consumer stopped early: close the body inside the span
                token = _attach(span)
                try:
                    gen.close()
                finally:
                    otel_context.detach(token)  # type: ignore[arg-type]
                    t.finish(span, items)
                raise
            except BaseException as exc:
                thrown = exc

    return wrapper


def _async_generator(t: _Traced) -> Callable[..., Any]:
    fn = t.fn

    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        span = t.start(args, kwargs)
        if span is None:
            async for item in fn(*args, **kwargs):
                yield item
            return
        items: list[Any] = []
        token = _attach(span)
        try:
            agen = fn(*args, **kwargs)
        except BaseException as exc:
            t.fail(span, exc)
            raise
        finally:
            otel_context.detach(token)  # type: ignore[arg-type]
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            token = _attach(span)
            try:
                if thrown is not None:
                    pending, thrown = thrown, None
                    item = await agen.athrow(pending)
                else:
                    item = await agen.asend(sent)
            except StopAsyncIteration:
                t.finish(span, items)
                return
            except BaseException as exc:
                t.fail(span, exc)
                raise
            finally:
                otel_context.detach(token)  # type: ignore[arg-type]
            if len(items) < _MAX_CAPTURED_ITEMS:
                items.append(item)
            try:
                sent = yield item
            except GeneratorExit:
                token = _attach(span)
                try:
                    await agen.aclose()
                finally:
                    otel_context.detach(token)  # type: ignore[arg-type]
                    t.finish(span, items)
                raise
            except BaseException as exc:
                thrown = exc

    return wrapper


def _decorate(fn: F, name: str | None, capture_args: bool, capture_result: bool) -> F:
    t = _Traced(fn, name, capture_args, capture_result)
    if inspect.isasyncgenfunction(fn):
        wrapper = _async_generator(t)
    elif inspect.iscoroutinefunction(fn):
        wrapper = _async(t)
    elif inspect.isgeneratorfunction(fn):
        wrapper = _generator(t)
    else:
        wrapper = _sync(t)
    return functools.wraps(fn)(wrapper)  # type: ignore[return-value]


@overload
def trace(fn: F, /) -> F: ...


@overload
def trace(
    fn: str | None = None,
    /,
    *,
    name: str | None = None,
    capture_args: bool = True,
    capture_result: bool = True,
) -> Callable[[F], F]: ...


def trace(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    capture_args: bool = True,
    capture_result: bool = True,
) -> Any:
    """Trace every call of a function: sync, async, generator or async generator, plain or method.

    The span is named after the function (or ``name=``), has ``llmtrace.span.kind = "span"``,
    records the arguments and the result as JSON (size-capped, redacted, only when content capture
    is on; turn off per function with ``capture_args=False`` / ``capture_result=False``) and any
    exception, which is re-raised unchanged.

        @llmtrace.trace
        def answer(question: str) -> str: ...

        @llmtrace.trace(name="retrieve", capture_result=False)
        async def retrieve(query: str) -> list[str]: ...
    """
    if isinstance(fn, str):  # @trace("name")
        name, fn = fn, None
    if fn is None:
        return lambda f: _decorate(f, name, capture_args, capture_result)
    if not callable(fn):
        raise TypeError(f"@llmtrace.trace decorates functions, got {fn!r}")
    return _decorate(fn, name, capture_args, capture_result)


class span:  # lowercase: used like a function: `with llmtrace.span("retrieve", top_k=5) as s:`
    """A span around a block of code, current inside it; ``**attributes`` are set on it.

    Yields the OpenTelemetry span (``s.set_attribute(...)``, ``s.record_exception(...)``). An
    exception leaving the block is recorded and propagates unchanged. Works with ``with`` and
    ``async with``.

        with llmtrace.span("retrieve", top_k=5) as s:
            docs = search(query)
            s.set_attribute("retrieve.count", len(docs))
    """

    __slots__ = ("_attributes", "_name", "_stack")

    def __init__(self, name: str, /, **attributes: Any) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a span needs a non-empty name, got {name!r}")
        self._name = name
        self._attributes = attributes
        self._stack: list[tuple[Span, object]] = []

    def __enter__(self) -> Span:
        current: Span = trace_api.INVALID_SPAN
        with guarded("span start"):
            attrs = {k: attribute_value(v) for k, v in self._attributes.items() if v is not None}
            attrs.setdefault(sc.LLMTRACE_SPAN_KIND, sc.KIND_SPAN)
            current = settings().tracer().start_span(self._name, attributes=attrs)
        self._stack.append((current, _attach(current)))
        return current

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        current, token = self._stack.pop()
        otel_context.detach(token)  # type: ignore[arg-type]
        if exc is not None:
            _record_error(current, exc)
        _end(current)

    async def __aenter__(self) -> Span:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)
