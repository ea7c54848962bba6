"""Webhook deliveries off the evaluation path: a few worker threads and a bounded backlog.

An evaluation saves its events (undelivered) and hands each notification here; it never waits for
a receiver, so one slow or dead webhook cannot delay the rules after it, in any project. The
outcome is written to the event row once known (``delivered``, ``attempts``, ``error``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llmtrace.store import Store
from llmtrace.store.queries import alerts as q
from llmtrace_server.alerts.notify import Delivery, post_webhook
from llmtrace_server.alerts.webhook_policy import WebhookPolicy

log = logging.getLogger("llmtrace.alerts")

# (webhook URL, payload, the event rows it notifies) -> None; must not raise.
Deliver = Callable[[str, Mapping[str, Any], list[dict[str, Any]]], None]


def record_delivery(store: Store, events: list[dict[str, Any]], delivery: Delivery) -> None:
    """Write the outcome of a notification into each event row it covered."""
    for event in events:
        event.update(delivered=int(delivery.delivered), attempts=delivery.attempts, error=delivery.error)
        q.save_event(store, event)
    if not delivery.delivered:
        log.warning(
            "alert webhook for rule %s failed after %d attempts: %s",
            events[0]["rule_id"] if events else "?",
            delivery.attempts,
            delivery.error,
        )


class WebhookDispatcher:
    """Sends notifications on ``workers`` threads; at most ``max_pending`` wait, later ones are
    recorded as ``error="backlog_full"`` instead of piling up without bound."""

    def __init__(
        self,
        store: Store,
        policy: WebhookPolicy,
        *,
        workers: int = 4,
        max_pending: int = 256,
        attempts: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        self._store = store
        self._policy = policy
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._max_pending = max_pending
        self._pending = 0
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="llmtrace-webhook")

    def submit(self, url: str, payload: Mapping[str, Any], events: list[dict[str, Any]]) -> None:
        """Queue one notification (a :data:`Deliver`); returns at once."""
        with self._lock:
            full = self._pending >= self._max_pending
            if not full:
                self._pending += 1
        if full:
            self._safely(record_delivery, self._store, events, Delivery(False, 0, "backlog_full"))
            return
        try:
            self._pool.submit(self._deliver, url, payload, events)
        except RuntimeError:  # shutting down
            self._done()

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until every queued notification was sent and recorded (tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout_s)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _deliver(self, url: str, payload: Mapping[str, Any], events: list[dict[str, Any]]) -> None:
        try:
            delivery = post_webhook(
                url, payload, policy=self._policy, attempts=self._attempts, backoff_s=self._backoff_s
            )
            self._safely(record_delivery, self._store, events, delivery)
        finally:
            self._done()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    @staticmethod
    def _safely(function: Callable[..., None], *args: Any) -> None:
        try:
            function(*args)
        except Exception as exc:  # e.g. the store went away: the next evaluation goes on
            log.warning("recording a webhook delivery failed: %s", exc)
