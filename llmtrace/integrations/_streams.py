"""Stream proxies: the caller gets a stream that behaves exactly like the SDK's, and the span ends once.

A proxy (``wrapt.ObjectProxy``, so every attribute and helper of the SDK stream still works) feeds
each chunk to a provider `StreamHandler` and ends the call's span exactly once: on exhaustion, on a
provider error mid-stream, on ``close()``/``__exit__`` before the end or when the caller drops the
stream (``__del__``) — the last two as ``cancelled`` with the partial output. The span is never
made current here: the stream sits in the caller's hands between reads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any, Protocol

import wrapt

from llmtrace._internal.guard import internal_error
from llmtrace.integrations._common import LLMCall, Outcome


class StreamHandler(Protocol):
    """Provider-specific accumulation of a stream's chunks into an `Outcome`.

    Two optional class attributes say how the stream's end is recorded: ``outcome_later`` (its
    `outcome` needs only what was accumulated: read on the export thread, `LLMCall.finish_later`;
    never for a cancelled stream, whose handler may still be fed) and ``leaves_answer`` (the
    handler of an adopted stream whose framework records the answer it delivered: its `outcome`
    has only what the provider alone knows, left to the framework, `LLMCall.leave_answer`).
    """

    def on_chunk(self, chunk: Any) -> bool:
        """Accumulate one chunk; return True to hide it from the caller (an injected usage chunk)."""
        ...

    def outcome(self) -> Outcome:
        """The outcome so far (complete after exhaustion, partial when cancelled)."""
        ...


def _handler_outcome(call: LLMCall, handler: StreamHandler) -> Outcome:
    return handler.outcome()


def index_order(index: Any) -> int:
    """Sort key of a streamed choice's or content block's index: a malformed stream may send
    ``null``, which sorts first instead of failing the stream's outcome."""
    return index if type(index) is int else -1


class _StreamBase(wrapt.ObjectProxy):  # type: ignore[misc]
    def __init__(self, wrapped: Any, call: LLMCall, handler: StreamHandler) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_handler = handler
        # Per-chunk hot path: the bound handler method, looked up once, and whether the first
        # chunk (time to first chunk) is still to come.
        self._self_on_chunk = handler.on_chunk
        self._self_waiting = True
        self._self_next: Any = None  # async: the SDK stream's own iterator, once iterated

    def _self_first_chunk(self) -> None:
        self._self_waiting = False
        call = self._self_call
        if not call.first_chunk_ns:
            call.first_chunk_ns = time.perf_counter_ns()

    def _self_end(self, cancelled: bool) -> None:
        call = self._self_call
        if call.ended:
            return
        handler = self._self_handler
        try:
            if getattr(handler, "leaves_answer", False):
                call.leave_answer(handler.outcome(), cancelled=cancelled)
            elif not cancelled and getattr(handler, "outcome_later", False):
                # Read on the export thread, as `Endpoint.outcome_later`; a cancelled stream's
                # handler may still be fed, so its outcome is read now.
                call.finish_later(_handler_outcome, handler, "stream.finish")
            else:
                call.finish(handler.outcome(), cancelled=cancelled)
        except Exception as exc:
            call.end_quietly()
            internal_error("stream.finish", exc)

    def _self_error(self, exc: BaseException) -> None:
        call = self._self_call
        if call.ended:
            return
        handler = self._self_handler
        try:
            if getattr(handler, "leaves_answer", False):  # the framework records the error it raises
                call.leave_answer(handler.outcome())
            else:
                call.fail(exc, handler.outcome())
        except Exception as internal:
            call.end_quietly()
            internal_error("stream.error", internal)

    def _self_response_closed(self) -> None:
        # A helper (openai's ChatCompletionStream) closes `stream.response` directly.
        self._self_end(cancelled=True)

    @property
    def response(self) -> Any:
        return _ResponseHook(self.__wrapped__.response, self._self_response_closed)

    def __del__(self) -> None:
        # Abandoned without close: record what we have as cancelled.
        if not self._self_call.ended:
            self._self_end(cancelled=True)


class SyncStreamProxy(_StreamBase):
    """Proxy of a sync SDK stream (openai/anthropic ``Stream``)."""

    def __iter__(self) -> Iterator[Any]:
        # A ``for`` loop gets a generator over the SDK stream's own iterator: per chunk, one
        # generator resume and the handler call, with everything else in locals (cheaper than a
        # ``__next__`` call on this proxy). Bare ``next(stream)`` calls still go to `__next__`.
        # A handler with its own generator (``chunks``: `_self_chunks` with its common chunk
        # written in) saves the call too.
        folded = getattr(self._self_handler, "chunks", None)
        if folded is not None:
            return folded(iter(self.__wrapped__), self)  # type: ignore[no-any-return]
        return self._self_chunks(iter(self.__wrapped__))

    def _self_chunks(self, source: Iterator[Any]) -> Iterator[Any]:
        on_chunk = self._self_on_chunk
        waiting = self._self_waiting
        try:
            for chunk in source:
                if waiting:
                    waiting = False
                    self._self_first_chunk()
                try:
                    hide = on_chunk(chunk)
                except Exception as exc:  # llmtrace's own failure: the caller still gets the chunk
                    internal_error("stream.chunk", exc)
                    hide = False
                if not hide:
                    yield chunk
        except GeneratorExit:
            # This generator was dropped or closed (the caller left a ``for`` loop); the stream
            # itself may still be read again, so the span stays open (`close`/`__del__` end it).
            raise
        except BaseException as exc:
            self._self_error(exc)
            raise
        self._self_end(cancelled=False)

    def __next__(self) -> Any:
        next_chunk = self.__wrapped__.__next__
        while True:
            try:
                chunk = next_chunk()
            except StopIteration:
                self._self_end(cancelled=False)
                raise
            except GeneratorExit:
                self._self_end(cancelled=True)
                raise
            except BaseException as exc:
                self._self_error(exc)
                raise
            if self._self_waiting:
                self._self_first_chunk()
            try:
                if not self._self_on_chunk(chunk):
                    return chunk
            except Exception as exc:  # llmtrace's own failure: the caller still gets the chunk
                internal_error("stream.chunk", exc)
                return chunk

    def __enter__(self) -> SyncStreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_end(cancelled=True)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_end(cancelled=True)


class AsyncStreamProxy(_StreamBase):
    """Proxy of an async SDK stream (``AsyncStream``)."""

    def __aiter__(self) -> AsyncStreamProxy:
        self._self_next = self.__wrapped__.__aiter__().__anext__  # as in `SyncStreamProxy.__iter__`
        return self

    async def __anext__(self) -> Any:
        next_chunk = self._self_next or self.__wrapped__.__anext__
        while True:
            try:
                chunk = await next_chunk()
            except StopAsyncIteration:
                self._self_end(cancelled=False)
                raise
            except (asyncio.CancelledError, GeneratorExit):
                self._self_end(cancelled=True)
                raise
            except BaseException as exc:
                self._self_error(exc)
                raise
            if self._self_waiting:
                self._self_first_chunk()
            try:
                if not self._self_on_chunk(chunk):
                    return chunk
            except Exception as exc:  # llmtrace's own failure: the caller still gets the chunk
                internal_error("stream.chunk", exc)
                return chunk

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_end(cancelled=True)

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_end(cancelled=True)

    async def aclose(self) -> None:
        await self.close()


class _ResponseHook(wrapt.ObjectProxy):  # type: ignore[misc]
    """The stream's HTTP response; closing it also ends the span (no-op if already ended)."""

    def __init__(self, response: Any, on_close: Any) -> None:
        super().__init__(response)
        self._self_on_close = on_close

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_on_close()

    async def aclose(self) -> None:
        try:
            await self.__wrapped__.aclose()
        finally:
            self._self_on_close()
