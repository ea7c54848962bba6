"""Bounded ingest concurrency: a few batches work at once, a few more wait, the rest are told to retry.

Rejecting early (503 + Retry-After, which every OTLP exporter honours) keeps memory bounded and
latency sane under overload instead of queueing without limit until the process falls over.

Fairness: a request is admitted only once its body has been read (a stalled upload holds no
slot), and one project may hold at most ``per_project`` of the admitted requests, so a single API
key sending faster than the server can take answers its own 503s while the other projects'
requests still get in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Overloaded(Exception):
    """Too many ingest requests (of all projects, or of this one) are already working or waiting."""


class IngestGate:
    """``admit(project)`` bounds requests in the ingest path (waiting, working, being written),
    in all and per project; ``work()`` bounds those decoding at the same time."""

    def __init__(self, concurrency: int, queue: int, per_project: int | None = None) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._limit = concurrency + queue
        self._per_project = max(1, min(per_project or self._limit, self._limit))
        self._admitted = 0
        self._by_project: dict[str, int] = {}

    @property
    def per_project(self) -> int:
        return self._per_project

    @asynccontextmanager
    async def admit(self, project: str) -> AsyncIterator[None]:
        """Count this request in; raise :class:`Overloaded` when the gate or the project's share is full."""
        held = self._by_project.get(project, 0)
        if self._admitted >= self._limit:
            raise Overloaded("ingest is overloaded; retry later")
        if held >= self._per_project:
            raise Overloaded(
                f"project {project!r} already has {held} ingest requests in flight (its share of the "
                "server's capacity); retry later"
            )
        self._admitted += 1
        self._by_project[project] = held + 1
        try:
            yield
        finally:
            self._admitted -= 1
            left = self._by_project[project] - 1
            if left:
                self._by_project[project] = left
            else:
                del self._by_project[project]

    @asynccontextmanager
    async def work(self) -> AsyncIterator[None]:
        """Hold one of the ``concurrency`` work slots (waits for a free one)."""
        async with self._slots:
            yield
