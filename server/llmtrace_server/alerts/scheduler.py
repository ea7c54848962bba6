"""Evaluate alert rules on an interval inside the server, on exactly one replica.

Mounted as the alerts router's lifespan, so it starts after the app has opened its store.
Configured by the app's settings: ``evaluate_alerts`` (``--no-alerts`` or
``LLMTRACE_EVALUATE_ALERTS=0`` turns the loop off on this replica) and ``alerts_interval_seconds``
(``--alerts-interval``, ``LLMTRACE_ALERTS_INTERVAL_SECONDS``, default 60). Replicas that leave it on
elect one evaluator through a lease in the store (see docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool

from llmtrace.store import Store
from llmtrace_server.alerts.delivery import Deliver
from llmtrace_server.alerts.engine import acquire_lease, evaluate

log = logging.getLogger("llmtrace.alerts")


def run_once(
    store: Store, holder: str, interval_s: float, deliver: Deliver | None = None
) -> dict[str, Any] | None:
    """One scheduled pass: evaluate if this replica holds (or wins) the lease."""
    if not acquire_lease(store, holder, timedelta(seconds=max(3 * interval_s, 30.0))):
        return None
    return evaluate(store, deliver=deliver)


async def _loop(app: Any, interval_s: float) -> None:
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    while True:
        await asyncio.sleep(interval_s)
        try:
            await run_in_threadpool(run_once, app.state.store, holder, interval_s, app.state.webhooks.submit)
        except Exception as exc:  # keep the loop alive; the next pass retries
            log.warning("alert evaluation failed: %s", exc)


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Start the evaluation loop (unless disabled) and stop it on shutdown."""
    settings = app.state.settings
    task = (
        asyncio.create_task(_loop(app, settings.alerts_interval_seconds))
        if settings.evaluate_alerts
        else None
    )
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
