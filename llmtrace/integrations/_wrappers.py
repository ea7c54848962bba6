"""Generic sync/async method wrappers: one code path for every patched SDK method.

An `Endpoint` describes one SDK method (how to start its span from the kwargs, how to read its
response, how to accumulate its stream); `sync_wrapper`/`async_wrapper` turn it into a ``wrapt``
wrapper. The provider call itself runs outside any guard: its exception is recorded and re-raised
with a bare ``raise`` (the very same object); everything llmtrace does around it is guarded.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from typing import Any

import wrapt

from llmtrace._internal.finished_span import attach_span, detach
from llmtrace._internal.guard import internal_error
from llmtrace.integrations._common import _IN_CALL, STATE, LLMCall, Outcome, should_trace
from llmtrace.integrations._streams import AsyncStreamProxy, StreamHandler, SyncStreamProxy


class Endpoint:
    """One patched SDK method. Subclasses fill in the provider-specific parts."""

    where = "integration"  # names the place in internal-error logs
    # True when `outcome` may read the response later, on the export thread (`LLMCall.finish_later`):
    # it reads only the response and the call, nothing of the request that may change meanwhile.
    outcome_later = False

    def start(self, instance: Any, kwargs: dict[str, Any]) -> LLMCall | None:
        """Start the span; may adjust `kwargs` (e.g. ask for stream usage). None = do not trace."""
        raise NotImplementedError

    def is_stream(self, kwargs: dict[str, Any]) -> bool:
        return kwargs.get("stream") is True

    def outcome(self, call: LLMCall, result: Any) -> Outcome:
        """Read a complete (parsed) response."""
        raise NotImplementedError

    def outcome_from_json(self, call: LLMCall, body: Any) -> Outcome:
        """Read a raw JSON body (``with_raw_response``) without touching the caller's object."""
        raise NotImplementedError

    def stream_handler(self, call: LLMCall, kwargs: dict[str, Any]) -> StreamHandler:
        raise NotImplementedError


def _begin(endpoint: Endpoint, instance: Any, kwargs: dict[str, Any]) -> LLMCall | None:
    try:
        return endpoint.start(instance, kwargs)
    except Exception as exc:
        internal_error(endpoint.where + ".start", exc)
        return None


def _fail(call: LLMCall, exc: BaseException) -> None:
    try:
        if isinstance(exc, asyncio.CancelledError):  # the caller's task was cancelled, not an API error
            call.finish(Outcome(), cancelled=True)
        else:
            call.fail(exc)
    except Exception as internal:
        call.end_quietly()
        internal_error("call.error", internal)


def _is_raw(result: Any) -> bool:
    if hasattr(type(result), "__pydantic_validator__"):
        return False  # a parsed model, the common case: skip pydantic's slow failing ``__getattr__``
    return hasattr(result, "http_response") and hasattr(result, "parse")


def _handle(endpoint: Endpoint, call: LLMCall, result: Any, kwargs: dict[str, Any], is_async: bool) -> Any:
    """Record a result, or hand the span to a proxy that records it later. Never raises."""
    try:
        if _is_raw(result):
            return _handle_raw(endpoint, call, result, kwargs, is_async)
        if endpoint.is_stream(kwargs):
            proxy_type = AsyncStreamProxy if is_async else SyncStreamProxy
            return proxy_type(result, call, endpoint.stream_handler(call, kwargs))
        _finish(endpoint, call, result)
    except Exception as exc:
        call.end_quietly()
        internal_error(endpoint.where + ".result", exc)
    return result


def _finish(endpoint: Endpoint, call: LLMCall, result: Any) -> None:
    """End ``call`` with the parsed response ``result``: read now, or later (`Endpoint.outcome_later`)."""
    if endpoint.outcome_later:
        call.finish_later(endpoint.outcome, result, endpoint.where + ".result")
    else:
        call.finish(endpoint.outcome(call, result))


def _handle_raw(endpoint: Endpoint, call: LLMCall, raw: Any, kwargs: dict[str, Any], is_async: bool) -> Any:
    parse_is_async = _parse_is_async(raw)
    if not endpoint.is_stream(kwargs):
        content = _read_content(raw)
        if content is not None and not parse_is_async:
            # `with_raw_response`, body already read: parse it as the caller will (the SDK caches
            # the parsed object, so the caller's own ``parse()`` costs nothing more).
            _finish(endpoint, call, raw.parse())
            return raw
        if content is not None:
            call.finish(endpoint.outcome_from_json(call, json.loads(content)))
            return raw
    proxy_type = AsyncRawProxy if parse_is_async else SyncRawProxy
    return proxy_type(raw, endpoint, call, kwargs, is_async)


# Raw response type -> whether its ``parse()`` is a coroutine function (asked once per SDK class:
# ``inspect.iscoroutinefunction`` costs microseconds on every LangChain -> openai call).
_ASYNC_PARSE: dict[type, bool] = {}


def _parse_is_async(raw: Any) -> bool:
    kind = type(raw)
    known = _ASYNC_PARSE.get(kind)
    if known is None:
        known = _ASYNC_PARSE[kind] = inspect.iscoroutinefunction(getattr(raw, "parse", None))
    return known


def _read_content(raw: Any) -> bytes | None:
    """The HTTP body if the response has been read, else None (never reads it ourselves)."""
    try:
        content: bytes = raw.http_response.content
    except Exception:  # httpx2.ResponseNotRead: a `with_streaming_response` body not read yet
        return None
    return content


def _read_body(raw: Any) -> Any:
    """The JSON body if the HTTP response has been read, else None."""
    content = _read_content(raw)
    return None if content is None else json.loads(content)


class _RawProxyBase(wrapt.ObjectProxy):  # type: ignore[misc]
    """A raw response whose body is read later (streams, ``with_streaming_response``).

    ``parse()`` is intercepted (a stream it returns is wrapped once and memoized, a model is
    recorded); closing or dropping the response records whatever body was read.
    """

    def __init__(
        self, raw: Any, endpoint: Endpoint, call: LLMCall, kwargs: dict[str, Any], is_async: bool
    ) -> None:
        super().__init__(raw)
        self._self_endpoint = endpoint
        self._self_call = call
        self._self_kwargs = kwargs
        self._self_async = is_async
        self._self_stream: Any = None

    def _self_parsed(self, parsed: Any) -> Any:
        call = self._self_call
        if call.ended:
            return parsed
        endpoint = self._self_endpoint
        try:
            if endpoint.is_stream(self._self_kwargs) or self._self_stream is not None:
                if self._self_stream is None:
                    proxy_type = AsyncStreamProxy if self._self_async else SyncStreamProxy
                    self._self_stream = proxy_type(
                        parsed, call, endpoint.stream_handler(call, self._self_kwargs)
                    )
                return self._self_stream
            _finish(endpoint, call, parsed)
        except Exception as exc:
            call.end_quietly()
            internal_error(endpoint.where + ".raw", exc)
        return parsed

    def _self_closed(self) -> None:
        call = self._self_call
        if call.ended or self._self_stream is not None:
            return
        try:
            body = None if self._self_endpoint.is_stream(self._self_kwargs) else _read_body(self.__wrapped__)
            if body is not None:
                call.finish(self._self_endpoint.outcome_from_json(call, body))
            else:
                call.finish(Outcome(), cancelled=True)
        except Exception as exc:
            call.end_quietly()
            internal_error(self._self_endpoint.where + ".raw_close", exc)

    def __del__(self) -> None:
        if not self._self_call.ended and self._self_stream is None:
            self._self_closed()


class SyncRawProxy(_RawProxyBase):
    def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_parsed(self.__wrapped__.parse(*args, **kwargs))

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_closed()


class AsyncRawProxy(_RawProxyBase):
    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_parsed(await self.__wrapped__.parse(*args, **kwargs))

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_closed()


def _attach(call: LLMCall) -> tuple[object, object]:
    return _IN_CALL.set(True), attach_span(call.span)


def _detach(tokens: tuple[Any, Any]) -> None:
    detach(tokens[1])
    _IN_CALL.reset(tokens[0])


def run_sync(endpoint: Endpoint, instance: Any, kwargs: dict[str, Any], fn: Callable[[], Any]) -> Any:
    """Trace one sync SDK call ``fn()`` (which reads `kwargs` lazily, so adjustments apply)."""
    call = _begin(endpoint, instance, kwargs)
    if call is None:
        return fn()
    tokens = _attach(call)
    try:
        result = fn()
    except BaseException as exc:
        _fail(call, exc)
        raise
    finally:
        _detach(tokens)
    return _handle(endpoint, call, result, kwargs, False)


async def run_async(endpoint: Endpoint, instance: Any, kwargs: dict[str, Any], fn: Callable[[], Any]) -> Any:
    """Trace one async SDK call: ``await fn()``."""
    call = _begin(endpoint, instance, kwargs)
    if call is None:
        return await fn()
    tokens = _attach(call)
    try:
        result = await fn()
    except BaseException as exc:
        _fail(call, exc)
        raise
    finally:
        _detach(tokens)
    return _handle(endpoint, call, result, kwargs, True)


def sync_wrapper(endpoint: Endpoint) -> Callable[..., Any]:
    """A wrapt wrapper tracing a sync SDK method as described by `endpoint`."""
    start, outcome, is_stream, where = endpoint.start, endpoint.outcome, endpoint.is_stream, endpoint.where
    later, result_where = endpoint.outcome_later, where + ".result"

    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        # `run_sync` with `_begin`, `_attach`, `_detach` and `_handle`'s common case (a parsed,
        # whole response) written out: this is the per-call hot path, and each is a frame.
        if not STATE.active or _IN_CALL.get():
            return wrapped(*args, **kwargs)
        try:
            call = start(instance, kwargs)
        except Exception as exc:
            internal_error(where + ".start", exc)
            call = None
        if call is None:
            return wrapped(*args, **kwargs)
        in_call = _IN_CALL.set(True)
        token = attach_span(call.span)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _fail(call, exc)
            raise
        finally:
            detach(token)
            _IN_CALL.reset(in_call)
        if hasattr(type(result), "__pydantic_validator__") and not is_stream(kwargs):
            try:
                if later:
                    call.finish_later(outcome, result, result_where)
                else:
                    call.finish(outcome(call, result))
            except Exception as exc:
                call.end_quietly()
                internal_error(result_where, exc)
            return result
        return _handle(endpoint, call, result, kwargs, False)

    return wrapper


def async_wrapper(endpoint: Endpoint) -> Callable[..., Any]:
    """A wrapt wrapper tracing an async SDK method (a coroutine function)."""

    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not should_trace():
            return await wrapped(*args, **kwargs)
        return await run_async(endpoint, instance, kwargs, lambda: wrapped(*args, **kwargs))

    return wrapper
