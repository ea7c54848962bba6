"""Webhook deliveries off the evaluation path: a few worker threads, shared fairly by the projects.

An evaluation saves its events (undelivered) and hands each notification here; it never waits for
a receiver, so one slow or dead webhook cannot delay the rules after it, and the projects take
turns on the workers, so it cannot delay another project's notifications either. The
outcome is written to the event row once known (``delivered``, ``attempts``, ``error``).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
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
_Notification = tuple[str, Mapping[str, Any], list[dict[str, Any]]]


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
    """Sends notifications on ``workers`` threads, fairly across projects.

    Each project has its own backlog (at most ``max_pending`` waiting; later ones are recorded as
    ``error="backlog_full"``) and at most ``per_project`` deliveries in flight, taken in turn with
    the other projects'. A project whose webhooks hang (each up to 3 attempts of 5 s) holds
    ``per_project`` workers, never all of them: with one shared queue, four dead webhooks of one
    project held every worker and another project's notification waited behind them, and a
    project with hundreds of firing rules filled the backlog the others needed.
    """

    def __init__(
        self,
        store: Store,
        policy: WebhookPolicy,
        *,
        workers: int = 8,
        per_project: int = 2,
        max_pending: int = 256,
        attempts: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        self._store = store
        self._policy = policy
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._workers = workers
        self._per_project = per_project
        self._max_pending = max_pending
        self._waiting: dict[str, deque[_Notification]] = {}  # per project, in arrival order
        self._turns: deque[str] = deque()  # projects with notifications waiting, next turn first
        self._in_flight: Counter[str] = Counter()
        self._pending = 0  # waiting and in flight, all projects
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="llmtrace-webhook")

    def submit(self, url: str, payload: Mapping[str, Any], events: list[dict[str, Any]]) -> None:
        """Queue one notification (a :data:`Deliver`); returns at once."""
        project = str(events[0].get("project", "")) if events else ""
        with self._lock:
            waiting = self._waiting.setdefault(project, deque())
            full = len(waiting) + self._in_flight[project] >= self._max_pending
            if not full:
                waiting.append((url, payload, events))
                self._pending += 1
                if len(waiting) == 1:
                    self._turns.append(project)
                starting = self._take_turns()
        if full:
            self._safely(record_delivery, self._store, events, Delivery(False, 0, "backlog_full"))
            return
        self._start(starting)

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until every queued notification was sent and recorded (tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout_s)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _take_turns(self) -> list[tuple[str, _Notification]]:
        """Under the lock: the notifications that may start now, one project's turn at a time."""
        starting = []
        running = sum(self._in_flight.values())
        skipped = 0
        while self._turns and running < self._workers and skipped < len(self._turns):
            project = self._turns[0]
            if self._in_flight[project] >= self._per_project:
                self._turns.rotate(-1)
                skipped += 1
                continue
            waiting = self._waiting[project]
            starting.append((project, waiting.popleft()))
            self._in_flight[project] += 1
            running += 1
            skipped = 0
            self._turns.popleft()
            if waiting:
                self._turns.append(project)  # its next one waits for the other projects' turns
            else:
                del self._waiting[project]
        return starting

    def _start(self, starting: list[tuple[str, _Notification]]) -> None:
        for project, notification in starting:
            try:
                self._pool.submit(self._deliver, project, *notification)
            except RuntimeError:  # shutting down: nothing more starts
                self._done(project, more=False)

    def _deliver(
        self, project: str, url: str, payload: Mapping[str, Any], events: list[dict[str, Any]]
    ) -> None:
        try:
            delivery = post_webhook(
                url, payload, policy=self._policy, attempts=self._attempts, backoff_s=self._backoff_s
            )
            self._safely(record_delivery, self._store, events, delivery)
        finally:
            self._done(project)

    def _done(self, project: str, *, more: bool = True) -> None:
        with self._idle:
            self._pending -= 1
            self._in_flight[project] -= 1
            if not self._in_flight[project]:
                del self._in_flight[project]
            starting = self._take_turns() if more else []
            self._idle.notify_all()
        self._start(starting)

    @staticmethod
    def _safely(function: Callable[..., None], *args: Any) -> None:
        try:
            function(*args)
        except Exception as exc:  # e.g. the store went away: the next evaluation goes on
            log.warning("recording a webhook delivery failed: %s", exc)
