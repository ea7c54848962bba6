"""Bounded ingest concurrency: a few batches work at once, a few more wait, the rest are told to retry.

Rejecting early (503 + Retry-After, which every OTLP exporter honours) keeps memory bounded and
latency sane under overload instead of queueing without limit until the process falls over.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Overloaded(Exception):
    """Too many ingest requests are already working or waiting."""


class IngestGate:
    """``admit()`` bounds requests in the ingest path (reading, waiting, working);
    ``work()`` bounds those decoding and writing at the same time."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._limit = concurrency + queue
        self._admitted = 0

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Count this request in; raise :class:`Overloaded` when the gate is full."""
        if self._admitted >= self._limit:
            raise Overloaded
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    @asynccontextmanager
    async def work(self) -> AsyncIterator[None]:
        """Hold one of the ``concurrency`` work slots (waits for a free one)."""
        async with self._slots:
            yield
