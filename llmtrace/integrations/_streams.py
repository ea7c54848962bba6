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
from typing import Any, Protocol

import wrapt

from llmtrace._internal.guard import internal_error
from llmtrace.integrations._common import LLMCall, Outcome


class StreamHandler(Protocol):
    """Provider-specific accumulation of a stream's chunks into an `Outcome`."""

    def on_chunk(self, chunk: Any) -> bool:
        """Accumulate one chunk; return True to hide it from the caller (an injected usage chunk)."""
        ...

    def outcome(self) -> Outcome:
        """The outcome so far (complete after exhaustion, partial when cancelled)."""
        ...


class _StreamBase(wrapt.ObjectProxy):  # type: ignore[misc]
    def __init__(self, wrapped: Any, call: LLMCall, handler: StreamHandler) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_handler = handler

    def _self_on_chunk(self, chunk: Any) -> bool:
        call = self._self_call
        if not call.first_chunk_ns:
            call.first_chunk_ns = time.perf_counter_ns()
        try:
            return self._self_handler.on_chunk(chunk)
        except Exception as exc:
            internal_error("stream.chunk", exc)
            return False

    def _self_end(self, cancelled: bool) -> None:
        call = self._self_call
        if call.ended:
            return
        try:
            call.finish(self._self_handler.outcome(), cancelled=cancelled)
        except Exception as exc:
            call.end_quietly()
            internal_error("stream.finish", exc)

    def _self_error(self, exc: BaseException) -> None:
        call = self._self_call
        if call.ended:
            return
        try:
            call.fail(exc, self._self_handler.outcome())
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

    def __iter__(self) -> SyncStreamProxy:
        return self

    def __next__(self) -> Any:
        wrapped = self.__wrapped__
        while True:
            try:
                chunk = wrapped.__next__()
            except StopIteration:
                self._self_end(cancelled=False)
                raise
            except GeneratorExit:
                self._self_end(cancelled=True)
                raise
            except BaseException as exc:
                self._self_error(exc)
                raise
            if not self._self_on_chunk(chunk):
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
        return self

    async def __anext__(self) -> Any:
        wrapped = self.__wrapped__
        while True:
            try:
                chunk = await wrapped.__anext__()
            except StopAsyncIteration:
                self._self_end(cancelled=False)
                raise
            except (asyncio.CancelledError, GeneratorExit):
                self._self_end(cancelled=True)
                raise
            except BaseException as exc:
                self._self_error(exc)
                raise
            if not self._self_on_chunk(chunk):
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
